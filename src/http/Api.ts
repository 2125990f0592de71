/**
 * Vigil's REST contract. Handlers, the OpenAPI document and the docs pages all derive from it.
 * Paths, fields and status codes are seed 000's (see DESIGN.md section 8); where the original
 * answered 500 (duplicate serial, unknown patient), this contract answers 409 and 404.
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { DeviceCreate, DeviceId, DeviceLink, DeviceUpdate } from "../domain/Device.ts"
import { displayName, type Patient, PatientCreate, PatientId, Sex } from "../domain/Patient.ts"
import { type OptionalLimit, optionalLimits, type ThresholdProfile, ThresholdProfileCreate, ThresholdProfileId } from "../domain/ThresholdProfile.ts"
import { atLeast, BoundedText, IntFromString, Timestamp } from "../domain/Validation.ts"
import { ConflictResponse, DataRefusedResponse, NotFoundResponse, UnavailableResponse } from "./Errors.ts"
import type { ApiError, GroupHandlers } from "./Handlers.ts"
import { Limit, Pagination, UtcTime } from "./Params.ts"
import { MonitoringGroup } from "./MonitoringApi.ts"
import { PainkillerGroup } from "./PainkillerApi.ts"
import { AppointmentsGroup, CareRootGroup, LabResultsGroup, TasksGroup, UsersGroup } from "./CareApi.ts"
import { DoctorsGroup, PatientPortalGroup } from "./SchedulingApi.ts"

import { documentValidationErrors } from "./OpenApiDocument.ts"
import { MlServicesGroup } from "./MlRegistryApi.ts"
import { AuthGroup } from "./AuthApi.ts"


/**
 * Seed 000's view of a patient. A patient created through another seed's routes (a trial subject,
 * a painkiller patient) shows its name in `full_name` and null for what it lacks (`age`, `sex`).
 */
export const PatientResponse = Schema.Struct({
  id: PatientId,
  full_name: Schema.String,
  age: Schema.NullOr(Schema.Number),
  sex: Schema.NullOr(Sex),
  created_at: UtcTime
}).annotations({ identifier: "PatientResponse" })

export const patientView = (patient: Patient): typeof PatientResponse.Type => ({
  id: patient.id,
  full_name: displayName(patient),
  age: patient.age,
  sex: patient.sex,
  created_at: patient.created_at
})

export const DeviceResponse = Schema.Struct({
  id: DeviceId,
  serial: Schema.String,
  firmware: Schema.String,
  patient_id: Schema.NullOr(PatientId),
  created_at: UtcTime
}).annotations({ identifier: "DeviceResponse" })

export const ThresholdProfileResponse = Schema.Struct({
  id: ThresholdProfileId,
  patient_id: PatientId,
  hr_min: Schema.Number,
  hr_max: Schema.Number,
  spo2_min: Schema.Number,
  temp_min: Schema.Number,
  temp_max: Schema.Number,
  // Vigil's optional limits appear only when set, so a seed 000 profile reads exactly as the seed's.
  ...Object.fromEntries(optionalLimits.map((name) => [name, Schema.optional(Schema.Number)])) as {
    readonly [K in OptionalLimit]: Schema.optional<typeof Schema.Number>
  }
}).annotations({ identifier: "ThresholdProfileResponse" })

export const thresholdProfileView = (profile: ThresholdProfile): typeof ThresholdProfileResponse.Type => {
  const view: Record<string, unknown> = {
    id: profile.id,
    patient_id: profile.patient_id,
    hr_min: profile.hr_min,
    hr_max: profile.hr_max,
    spo2_min: profile.spo2_min,
    temp_min: profile.temp_min,
    temp_max: profile.temp_max
  }
  for (const name of optionalLimits) if (profile[name] !== null) view[name] = profile[name]
  return view as typeof ThresholdProfileResponse.Type
}

const Connection = Schema.Literal("connected", "disconnected")
const MessagingStatus = Schema.Struct({
  status: Schema.Literal("connected", "reconnecting", "disconnected", "in-process")
})

/**
 * Seed 000's fields (`status`, `timestamp`, `service`) and seed 002's (`database`, `cache`: the
 * strings its clients read), with Vigil's own details beside them under `details`.
 */
export const HealthResponse = Schema.Struct({
  status: Schema.Literal("healthy", "degraded"),
  timestamp: UtcTime,
  service: Schema.String,
  version: Schema.String,
  database: Connection,
  /** The registry's read cache: `connected` while it hears of every change (and so caches). */
  cache: Connection,
  messaging: MessagingStatus,
  details: Schema.Struct({
    database: Schema.Struct({ status: Connection, mode: Schema.Literal("embedded", "connected") }),
    cache: Schema.Struct({ status: Connection, entries: Schema.Number }),
    messaging: MessagingStatus
  })
}).annotations({ identifier: "HealthResponse" })

export const ReadinessResponse = Schema.Struct({
  ready: Schema.Boolean,
  database: Schema.Literal("connected", "unavailable")
}).annotations({ identifier: "ReadinessResponse" })

export class HealthGroup extends HttpApiGroup.make("health")
  .add(HttpApiEndpoint.get("health", "/health").addSuccess(HealthResponse))
  .add(
    HttpApiEndpoint.get("ready", "/ready")
      .addSuccess(ReadinessResponse)
      .addError(ReadinessResponse, { status: 503 })
  )
  .annotate(OpenApi.Description, "Liveness and readiness")
{}

export class PatientsGroup extends HttpApiGroup.make("patients")
  .add(HttpApiEndpoint.post("create", "/patients").setPayload(PatientCreate).addSuccess(PatientResponse, { status: 201 }))
  .add(HttpApiEndpoint.get("list", "/patients").setUrlParams(Pagination).addSuccess(Schema.Array(PatientResponse)))
  .add(
    HttpApiEndpoint.get("get", "/patients/:patient_id")
      .setPath(Schema.Struct({ patient_id: PatientId }))
      .addSuccess(PatientResponse)
      .addError(NotFoundResponse)
  )
  .annotate(OpenApi.Description, "Patients of the registry")
{}

export class DevicesGroup extends HttpApiGroup.make("devices")
  .add(
    HttpApiEndpoint.post("create", "/devices")
      .setPayload(DeviceCreate)
      .addSuccess(DeviceResponse, { status: 201 })
      .addError(NotFoundResponse)
      .addError(ConflictResponse)
  )
  .add(HttpApiEndpoint.get("list", "/devices").setUrlParams(Pagination).addSuccess(Schema.Array(DeviceResponse)))
  .add(
    HttpApiEndpoint.post("link", "/devices/link")
      .setPayload(DeviceLink)
      .addSuccess(DeviceResponse)
      .addError(NotFoundResponse)
  )
  .add(
    HttpApiEndpoint.get("get", "/devices/:device_id")
      .setPath(Schema.Struct({ device_id: DeviceId }))
      .addSuccess(DeviceResponse)
      .addError(NotFoundResponse)
  )
  .add(
    HttpApiEndpoint.patch("update", "/devices/:device_id")
      .setPath(Schema.Struct({ device_id: DeviceId }))
      .setPayload(DeviceUpdate)
      .addSuccess(DeviceResponse)
      .addError(NotFoundResponse)
  )
  .annotate(OpenApi.Description, "Monitoring devices and their links to patients")
{}

export class ThresholdsGroup extends HttpApiGroup.make("thresholds")
  .add(
    HttpApiEndpoint.post("create", "/thresholds")
      .setPayload(ThresholdProfileCreate)
      .addSuccess(ThresholdProfileResponse, { status: 201 })
      .addError(NotFoundResponse)
      .addError(ConflictResponse)
  )
  .add(
    HttpApiEndpoint.get("list", "/thresholds").setUrlParams(Pagination).addSuccess(Schema.Array(ThresholdProfileResponse))
  )
  .add(
    HttpApiEndpoint.get("get", "/thresholds/:patient_id")
      .setPath(Schema.Struct({ patient_id: PatientId }))
      .addSuccess(ThresholdProfileResponse)
      .addError(NotFoundResponse)
  )
  .annotate(OpenApi.Description, "Per-patient alarm thresholds")
{}

export const AuditEntry = Schema.Struct({
  seq: Schema.Number,
  id: Schema.UUID,
  occurred_at: Schema.String,
  actor: Schema.String,
  action: Schema.String,
  entity_type: Schema.String,
  entity_id: Schema.String,
  before: Schema.Unknown,
  after: Schema.Unknown,
  prev_hash: Schema.String,
  hash: Schema.String
}).annotations({ identifier: "AuditEntry" })

export const AuditQuery = Schema.Struct({
  entity_type: Schema.optional(BoundedText(64)),
  entity_id: Schema.optional(BoundedText(255)),
  action: Schema.optional(BoundedText(64)),
  from: Schema.optional(Timestamp),
  to: Schema.optional(Timestamp),
  cursor: Schema.optional(IntFromString.pipe(atLeast(0))),
  limit: Limit
})

export class AuditGroup extends HttpApiGroup.make("audit")
  .add(
    HttpApiEndpoint.get("list", "/api/v1/audit")
      .setUrlParams(AuditQuery)
      .addSuccess(Schema.Struct({ items: Schema.Array(AuditEntry), next_cursor: Schema.NullOr(Schema.String) }))
  )
  .add(
    HttpApiEndpoint.get("verify", "/api/v1/audit/verify").addSuccess(Schema.Struct({
      valid: Schema.Boolean,
      /** Chained rows checked: every row chained when the check began. */
      checked: Schema.Number.annotations({ description: "chained rows checked (every row chained when the check began)" }),
      waiting: Schema.Number.annotations({
        description: "committed rows not chained yet (chained by the outbox relay within about a second, or by the next reader)"
      }),
      first_broken: Schema.NullOr(Schema.Struct({ seq: Schema.Number, id: Schema.String, reason: Schema.String })),
      head_hash: Schema.NullOr(Schema.String)
    }))
  )
  .annotate(OpenApi.Description, "The append-only, hash-chained audit trail of every registry change")
{}

export class VigilApi extends HttpApi.make("vigil")
  .add(HealthGroup)
  .add(PatientsGroup)
  .add(DevicesGroup)
  .add(ThresholdsGroup)
  .add(AuditGroup)
  .add(MonitoringGroup)
  .add(PainkillerGroup)
  .add(CareRootGroup)
  .add(UsersGroup)
  .add(AppointmentsGroup)
  .add(LabResultsGroup)
  .add(TasksGroup)
  .add(DoctorsGroup)
  .add(PatientPortalGroup)
  .add(MlServicesGroup)
  .add(AuthGroup)
  // Every route may find the database unavailable, or have its data refused by it.
  .addError(UnavailableResponse)
  .addError(DataRefusedResponse)
  .annotateContext(OpenApi.annotations({
    title: "Vigil",
    version: "0.1.0",
    description: "Patient monitoring and care coordination: the registry of patients, devices and thresholds, vital signs and alerts, and seed 004's users, appointments, lab results and task records.",
    transform: documentValidationErrors
  }))
{}

/** The handlers of one of `VigilApi`'s groups: its endpoints' errors, its own, and the API's. */
export type Handlers<G extends HttpApiGroup.HttpApiGroup.Any> = GroupHandlers<G, never, ApiError<typeof VigilApi>>
