/**
 * Who may use each REST endpoint: one policy per endpoint of `VigilApi` and `MlRegistryApi`,
 * typed against the contract, so an endpoint without a policy does not compile (and the server
 * refuses to start without one). Seed 004 v2's rules as its code has them; elsewhere registry and
 * threshold writes are for admins, clinical data for doctors and admins and for the patient it
 * belongs to, alerts are acknowledged and resolved by doctors, the audit trail is for admins, a
 * device submits its own readings and an ML service registers and beats for itself.
 *
 * "admin" means an admin or the superadmin; seed 004's own rules name the superadmin alone.
 * `reads` names whose data an answer carries, for the access audit.
 */
import { Effect, Option } from "effect"
import { SUPERADMIN_REQUIRED } from "../domain/Access.ts"
import type { AppointmentId } from "../domain/Appointment.ts"
import { AppointmentRepo } from "../persistence/AppointmentRepo.ts"
import {
  ADMINS,
  allow,
  answerOfOwnPatient,
  answerOfSelf,
  type ApiPolicies,
  type Check,
  type GroupPolicies,
  ownDevice,
  ownPatient,
  ownService,
  patientRead,
  publicRoute,
  self,
  STAFF,
  userRead,
  USERS
} from "./Access.ts"
import type { VigilApi } from "./Api.ts"
import type { MlRegistryApi, MlServicesGroup } from "./MlRegistryApi.ts"

const DOCTORS = { doctor: true, superadmin: true } as const
const PATIENTS = { patient: true, superadmin: true } as const

/** The user themself, changing anything but their link to a registry patient. */
const selfUnlinked: Check<{ readonly path: { readonly user_id: number }; readonly payload: { readonly registry_patient_id?: unknown } }> = self((r) =>
  r.payload.registry_patient_id === undefined ? r.path.user_id : undefined
)

const mlServices: GroupPolicies<typeof MlServicesGroup> = {
  register: allow({ ...ADMINS, service: ownService((r) => r.payload.service_id) }),
  list: allow({ ...STAFF, service: true }),
  search: allow({ ...STAFF, service: true }),
  get: allow({ ...STAFF, service: true }),
  unregister: allow({ ...ADMINS, service: ownService((r) => r.path.service_id) }),
  heartbeat: allow({ ...ADMINS, service: ownService((r) => r.path.service_id) }),
  healthAll: allow({ ...STAFF, service: true })
}

export const policies: ApiPolicies<typeof VigilApi, AppointmentRepo> = {
  health: { health: publicRoute, ready: publicRoute },
  careRoot: { root: publicRoute },
  auth: {
    login: publicRoute,
    jwks: publicRoute,
    me: allow(USERS),
    machineToken: allow(ADMINS)
  },
  patients: {
    create: allow(ADMINS),
    list: allow(STAFF),
    get: allow({ ...STAFF, patient: ownPatient((r) => r.path.patient_id) }, { reads: (r) => patientRead(r.path.patient_id) })
  },
  devices: {
    create: allow(ADMINS),
    list: allow(STAFF),
    link: allow(ADMINS),
    get: allow({ ...STAFF, device: ownDevice((r) => r.path.device_id) }),
    update: allow(ADMINS)
  },
  thresholds: {
    create: allow(ADMINS),
    list: allow(STAFF),
    get: allow({ ...STAFF, patient: ownPatient((r) => r.path.patient_id) }, { reads: (r) => patientRead(r.path.patient_id) })
  },
  audit: { list: allow(ADMINS), verify: allow(ADMINS) },
  monitoring: {
    storeVitals: allow(ADMINS),
    recordReading: allow({ ...ADMINS, device: ownDevice((r) => r.path.device_id) }),
    vitals: allow({ ...STAFF, patient: ownPatient((r) => r.path.patient_id) }, { reads: (r) => patientRead(r.path.patient_id) }),
    snapshot: allow({ ...STAFF, patient: ownPatient((r) => r.path.patient_id) }, { reads: (r) => patientRead(r.path.patient_id) }),
    alerts: allow({ ...STAFF, patient: ownPatient((r) => r.urlParams.patient_id) }, { reads: (r) => patientRead(r.urlParams.patient_id) }),
    alert: allow({ ...STAFF, patient: answerOfOwnPatient((alert) => alert.patient_id) }, { reads: (_, alert) => patientRead(alert.patient_id) }),
    acknowledge: allow(DOCTORS),
    resolve: allow(DOCTORS),
    ward: allow(STAFF)
  },
  painkiller: {
    createPatient: allow(ADMINS),
    listPatients: allow(STAFF),
    listPatientsReadme: allow(STAFF),
    getPatient: allow({ ...STAFF, patient: ownPatient((r) => r.path.patient_id) }, { reads: (r) => patientRead(r.path.patient_id) }),
    deletePatient: allow(ADMINS),
    deletePatientReadme: allow(ADMINS),
    addPatientMeasurement: allow(STAFF),
    listPatientMeasurements: allow({ ...STAFF, patient: ownPatient((r) => r.path.patient_id) }, { reads: (r) => patientRead(r.path.patient_id) }),
    addMeasurement: allow(STAFF),
    listMeasures: allow(STAFF),
    listMeasurements: allow(STAFF),
    listMeasurementsReadme: allow(STAFF),
    getMeasure: allow({ ...STAFF, patient: answerOfOwnPatient((m) => m?.patient_id ?? null) }, { reads: (_, m) => patientRead(m?.patient_id) }),
    listMeasuresOfPatient: allow({ ...STAFF, patient: ownPatient((r) => r.path.patient_id) }, { reads: (r) => patientRead(r.path.patient_id) }),
    deleteMeasure: allow(STAFF),
    deleteMeasurementReadme: allow(STAFF)
  },
  // Seed 004 v2.
  users: {
    create: allow({ superadmin: true }, { denied: SUPERADMIN_REQUIRED }),
    get: allow({ superadmin: true, admin: self((r) => r.path.user_id), doctor: self((r) => r.path.user_id), patient: self((r) => r.path.user_id) }, {
      reads: (_, user) => (user.role === "patient" ? userRead(user.id) : undefined)
    }),
    // Yourself, but only the superadmin links a user to a registry patient.
    update: allow({ superadmin: true, admin: selfUnlinked, doctor: selfUnlinked, patient: selfUnlinked })
  },
  appointments: {
    create: allow({ patient: self((r) => r.payload.patient_id), superadmin: true }),
    get: allow({ superadmin: true, patient: answerOfSelf((a) => a.patient_id), doctor: answerOfSelf((a) => a.doctor_id) }, {
      reads: (_, a) => userRead(a.patient_id)
    }),
    // The assigned doctor, who may not move it: only the superadmin changes `scheduled_time`.
    update: allow({
      superadmin: true,
      doctor: (caller, r) =>
        caller.kind !== "user" || r.payload.scheduled_time !== undefined
          ? Effect.succeed(false)
          : Effect.map(
            Effect.flatMap(AppointmentRepo, (repo) => repo.findById(r.path.appointment_id as AppointmentId)),
            Option.match({ onNone: () => true, onSome: (a) => a.doctor_id === caller.user.id })
          )
    }),
    listByPatient: allow({ superadmin: true, patient: self((r) => r.path.patient_id) }, { reads: (r) => userRead(r.path.patient_id) }),
    listByDoctor: allow({ superadmin: true, doctor: self((r) => r.path.doctor_id) })
  },
  // v2 left these open; Vigil treats lab results as clinical data and task records as staff's.
  labResults: {
    create: allow(STAFF),
    listByPatient: allow({ ...STAFF, patient: self((r) => r.path.patient_id) }, { reads: (r) => userRead(r.path.patient_id) })
  },
  tasks: { get: allow(STAFF), listByAppointment: allow(STAFF) },
  doctors: {
    profile: allow(DOCTORS),
    upsertProfile: allow(DOCTORS),
    createSchedule: allow(DOCTORS),
    schedules: allow(DOCTORS),
    updateSchedule: allow(DOCTORS),
    deleteSchedule: allow(DOCTORS),
    appointments: allow(DOCTORS)
  },
  patientPortal: {
    profile: allow(PATIENTS, { reads: (_, __, caller) => (caller.kind === "user" ? userRead(caller.user.id) : undefined) }),
    upsertProfile: allow(PATIENTS),
    appointments: allow(PATIENTS, { reads: (_, __, caller) => (caller.kind === "user" ? userRead(caller.user.id) : undefined) }),
    searchDoctors: allow(PATIENTS),
    doctorSchedules: allow(PATIENTS)
  },
  mlServices
}

export const mlRegistryPolicies: ApiPolicies<typeof MlRegistryApi> = {
  mlRegistryRoot: { root: publicRoute, health: publicRoute },
  mlServices
}

/** The event stream (`/api/v1/events/stream`): every patient's events, so staff only. */
export const eventStreamPolicy = allow(STAFF)
