/** Builds `registry.proto` responses from registry records, filled as seed 000's server fills them. */
import type { Device } from "../domain/Device.ts"
import type { Patient } from "../domain/Patient.ts"
import type { ThresholdProfile } from "../domain/ThresholdProfile.ts"

export const VERSION = "1.0.0"

const envelope = (status: "STATUS_SUCCESS" | "STATUS_NOT_FOUND") => ({
  version: VERSION,
  status,
  timestamp: new Date().toISOString()
})

export const notFound = () => envelope("STATUS_NOT_FOUND")

const GENDERS = { M: "GENDER_MALE", F: "GENDER_FEMALE", Other: "GENDER_OTHER" } as const

export const patientFound = (patient: Patient) => ({
  ...envelope("STATUS_SUCCESS"),
  patient: {
    patient_id: patient.id,
    age: patient.age,
    gender: GENDERS[patient.sex],
    medical_conditions: [],
    medications: [],
    allergies: [],
    metadata: { full_name: patient.full_name },
    registered_at: patient.created_at.toISOString(),
    updated_at: patient.updated_at.toISOString()
  }
})

export const deviceFound = (device: Device) => ({
  ...envelope("STATUS_SUCCESS"),
  device: {
    device_id: device.id,
    // The registry does not type devices; the seed answers this constant.
    device_type: "medical_device",
    patient_id: device.patient_id ?? "",
    status: "DEVICE_STATUS_ACTIVE",
    metadata: { serial: device.serial, firmware: device.firmware },
    registered_at: device.created_at.toISOString(),
    updated_at: device.updated_at.toISOString()
  }
})

export const thresholdProfileFound = (profile: ThresholdProfile, deviceId: string) => ({
  ...envelope("STATUS_SUCCESS"),
  profile: {
    profile_id: profile.id,
    patient_id: profile.patient_id,
    device_id: deviceId,
    heart_rate: { lower_bound: profile.hr_min, upper_bound: profile.hr_max, unit: "bpm", critical_lower: 0, critical_upper: 0 },
    temperature: { lower_bound: profile.temp_min, upper_bound: profile.temp_max, unit: "°C", critical_lower: 0, critical_upper: 0 },
    oxygen_saturation: { lower_bound: profile.spo2_min, upper_bound: 100, unit: "%", critical_lower: 0, critical_upper: 0 },
    created_at: profile.created_at.toISOString(),
    updated_at: profile.updated_at.toISOString()
  }
})
