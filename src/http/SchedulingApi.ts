/**
 * Seed 004 v2's scheduling routes (`reference/seed-sources.md` 3.2): a doctor's profile,
 * availability schedules and appointments (`/doctors/me/...`), a patient's profile and
 * appointments (`/patients/me/...`), and the search for doctors with free schedules.
 *
 * "me" is the caller: the user of the bearer token. With authentication off (`VIGIL_AUTH=off`),
 * the caller names themself in the `X-User-Id` header instead: without it these routes answer
 * v2's 401 "Not authenticated". A caller of the wrong role gets v2's 403 "Not enough
 * permissions" (doctors' routes are a doctor's or a superadmin's, patients' a patient's or a
 * superadmin's).
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { DoctorProfileUpsert, DoctorScheduleCreate, DoctorScheduleUpdate, PatientProfileUpsert } from "../domain/Scheduling.ts"
import { BoundedText, IntFromString, Timestamp } from "../domain/Validation.ts"
import { AppointmentResponse, IdPath, ScheduleResponse, UserResponse } from "./CareApi.ts"
import { BadRequestResponse, ConflictResponse, ForbiddenResponse, InvalidFieldResponse, NotFoundResponse, UnauthorizedResponse } from "./Errors.ts"
import { Limit, Pagination, UtcTime } from "./Params.ts"

/** Who is calling when authentication is off: the user id in `X-User-Id` (ignored when it is on). */
export const Caller = Schema.Struct({ "x-user-id": Schema.optional(IntFromString) })

export const DoctorProfileResponse = Schema.Struct({
  id: Schema.Number,
  user_id: Schema.Number,
  specialization: Schema.String,
  license_number: Schema.NullOr(Schema.String),
  years_of_experience: Schema.NullOr(Schema.Number),
  contact_number: Schema.NullOr(Schema.String),
  bio: Schema.NullOr(Schema.String),
  created_at: UtcTime,
  updated_at: UtcTime,
  user: Schema.NullOr(UserResponse)
}).annotations({ identifier: "DoctorProfilePublic" })

export const PatientProfileResponse = Schema.Struct({
  id: Schema.Number,
  user_id: Schema.Number,
  date_of_birth: Schema.NullOr(Schema.String),
  gender: Schema.NullOr(Schema.String),
  blood_type: Schema.NullOr(Schema.String),
  contact_number: Schema.NullOr(Schema.String),
  emergency_contact: Schema.NullOr(Schema.String),
  created_at: UtcTime,
  updated_at: UtcTime
}).annotations({ identifier: "PatientProfilePublic" })

export const DoctorAvailability = Schema.Struct({
  doctor: DoctorProfileResponse,
  schedules: Schema.Array(ScheduleResponse)
}).annotations({ identifier: "DoctorAvailability" })

export const DoctorSearchQuery = Schema.Struct({
  specialization: Schema.optional(BoundedText(255)),
  /** From when (default: now). */
  earliest: Schema.optional(Timestamp),
  latest: Schema.optional(Timestamp),
  skip: Pagination.fields.skip,
  limit: Limit
})

export class DoctorsGroup extends HttpApiGroup.make("doctors")
  .add(
    HttpApiEndpoint.get("profile", "/api/v1/doctors/me/profile")
      .setHeaders(Caller)
      .addSuccess(DoctorProfileResponse)
      .addError(NotFoundResponse)
  )
  .add(
    HttpApiEndpoint.put("upsertProfile", "/api/v1/doctors/me/profile")
      .setHeaders(Caller)
      .setPayload(DoctorProfileUpsert)
      .addSuccess(DoctorProfileResponse)
      .addError(BadRequestResponse)
      .addError(ConflictResponse)
  )
  .add(
    HttpApiEndpoint.post("createSchedule", "/api/v1/doctors/me/schedules")
      .setHeaders(Caller)
      .setPayload(DoctorScheduleCreate)
      .addSuccess(ScheduleResponse, { status: 201 })
      .addError(BadRequestResponse)
  )
  .add(HttpApiEndpoint.get("schedules", "/api/v1/doctors/me/schedules").setHeaders(Caller).addSuccess(Schema.Array(ScheduleResponse)))
  .add(
    HttpApiEndpoint.patch("updateSchedule", "/api/v1/doctors/me/schedules/:schedule_id")
      .setHeaders(Caller)
      .setPath(IdPath("schedule_id"))
      .setPayload(DoctorScheduleUpdate)
      .addSuccess(ScheduleResponse)
      .addError(BadRequestResponse)
      .addError(NotFoundResponse)
      .addError(InvalidFieldResponse)
  )
  .add(
    HttpApiEndpoint.del("deleteSchedule", "/api/v1/doctors/me/schedules/:schedule_id")
      .setHeaders(Caller)
      .setPath(IdPath("schedule_id"))
      .addSuccess(Schema.Void, { status: 204 })
      .addError(NotFoundResponse)
      .addError(ConflictResponse)
  )
  .add(
    HttpApiEndpoint.get("appointments", "/api/v1/doctors/me/appointments")
      .setHeaders(Caller)
      .setUrlParams(Pagination)
      .addSuccess(Schema.Array(AppointmentResponse))
  )
  .addError(UnauthorizedResponse)
  .addError(ForbiddenResponse)
  .annotate(OpenApi.Description, "A doctor's own profile, availability schedules and appointments (seed 004 v2); the caller in `X-User-Id`")
{}

export class PatientPortalGroup extends HttpApiGroup.make("patientPortal")
  .add(
    HttpApiEndpoint.get("profile", "/api/v1/patients/me/profile")
      .setHeaders(Caller)
      .addSuccess(PatientProfileResponse)
      .addError(NotFoundResponse)
      .addError(UnauthorizedResponse)
      .addError(ForbiddenResponse)
  )
  .add(
    HttpApiEndpoint.put("upsertProfile", "/api/v1/patients/me/profile")
      .setHeaders(Caller)
      .setPayload(PatientProfileUpsert)
      .addSuccess(PatientProfileResponse)
      .addError(UnauthorizedResponse)
      .addError(ForbiddenResponse)
  )
  .add(
    HttpApiEndpoint.get("appointments", "/api/v1/patients/me/appointments")
      .setHeaders(Caller)
      .setUrlParams(Pagination)
      .addSuccess(Schema.Array(AppointmentResponse))
      .addError(UnauthorizedResponse)
      .addError(ForbiddenResponse)
  )
  .add(HttpApiEndpoint.get("searchDoctors", "/api/v1/patients/doctors").setUrlParams(DoctorSearchQuery).addSuccess(Schema.Array(DoctorAvailability)))
  .add(
    HttpApiEndpoint.get("doctorSchedules", "/api/v1/patients/doctors/:doctor_user_id/schedules")
      .setPath(IdPath("doctor_user_id"))
      .addSuccess(Schema.Array(ScheduleResponse))
      .addError(NotFoundResponse)
  )
  .annotate(OpenApi.Description, "A patient's own profile and appointments, and the doctors with free schedules (seed 004 v2)")
{}
