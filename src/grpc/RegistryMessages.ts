/** Builds `registry.proto` responses from registry records, filled as seed 000's server fills them. */
import type { Device } from "../domain/Device.ts"
import { displayName, type Patient } from "../domain/Patient.ts"
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
    // Patients created by other views may have no age or sex: proto3's zero values say "unknown".
    age: patient.age ?? 0,
    gender: patient.sex === null ? "GENDER_UNSPECIFIED" : GENDERS[patient.sex],
    medical_conditions: [],
    medications: [],
    allergies: [],
    metadata: { full_name: displayName(patient) },
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

/** A bound of a VitalThreshold; proto3 has no null, so an unset limit is sent as 0 (seed 000's convention). */
const bound = (n: number | null | undefined) => n ?? 0

const vitalThreshold = (unit: string, lower: number | null, upper: number | null, criticalLower: number | null, criticalUpper: number | null) => ({
  lower_bound: bound(lower),
  upper_bound: bound(upper),
  unit,
  critical_lower: bound(criticalLower),
  critical_upper: bound(criticalUpper)
})

export const thresholdProfileFound = (profile: ThresholdProfile, deviceId: string) => ({
  ...envelope("STATUS_SUCCESS"),
  profile: {
    profile_id: profile.id,
    patient_id: profile.patient_id,
    device_id: deviceId,
    heart_rate: vitalThreshold("bpm", profile.hr_min, profile.hr_max, profile.hr_critical_min, profile.hr_critical_max),
    temperature: vitalThreshold("°C", profile.temp_min, profile.temp_max, profile.temp_critical_min, profile.temp_critical_max),
    oxygen_saturation: vitalThreshold("%", profile.spo2_min, 100, profile.spo2_critical_min, null),
    ...(profile.sbp_min !== null || profile.sbp_max !== null || profile.dbp_min !== null || profile.dbp_max !== null
      ? {
        blood_pressure: {
          systolic: vitalThreshold("mmHg", profile.sbp_min, profile.sbp_max, profile.sbp_critical_min, profile.sbp_critical_max),
          diastolic: vitalThreshold("mmHg", profile.dbp_min, profile.dbp_max, profile.dbp_critical_min, profile.dbp_critical_max),
          unit: "mmHg"
        }
      }
      : {}),
    ...(profile.rr_min !== null || profile.rr_max !== null
      ? { respiratory_rate: vitalThreshold("breaths/min", profile.rr_min, profile.rr_max, profile.rr_critical_min, profile.rr_critical_max) }
      : {}),
    created_at: profile.created_at.toISOString(),
    updated_at: profile.updated_at.toISOString()
  }
})
