/**
 * Seed 004's care-coordination routes, all under `/api/v1` as its README lists them, with the
 * original's fields, status codes and `detail` messages (`reference/seed-sources.md` 3.1), plus
 * `GET /` as the original answers it. Integer ids. Where the original answered 500 (an unknown
 * patient or doctor) Vigil answers 404, and 422 naming the field when the user is of another role.
 * Lists take `skip`/`limit` and keep the original's order, newest first, ties by id.
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { APPOINTMENT_STATUSES, TASK_STATUSES } from "../domain/AppointmentStatus.ts"
import { AppointmentCreate, AppointmentUpdate, LabResultCreate } from "../domain/Appointment.ts"
import { ROLES, UserCreate, UserUpdate } from "../domain/User.ts"
import { IntFromString } from "../domain/Validation.ts"
import {
  BadRequestResponse,
  ConflictResponse,
  InvalidFieldResponse,
  NotFoundResponse
} from "./Errors.ts"
import { Pagination, UtcTime } from "./Params.ts"

/** A path's integer id. Any integer is read; one that cannot be a record's id is simply not found, as in the original. */
export const IdPath = <const K extends string>(name: K) => Schema.Struct({ [name]: IntFromString } as { [P in K]: typeof IntFromString })

export const UserResponse = Schema.Struct({
  email: Schema.String,
  full_name: Schema.String,
  role: Schema.Literal(...ROLES),
  is_active: Schema.Boolean,
  registry_patient_id: Schema.NullOr(Schema.String),
  created_at: UtcTime,
  updated_at: UtcTime,
  id: Schema.Number
}).annotations({ identifier: "UserPublic" })

export const ScheduleResponse = Schema.Struct({
  id: Schema.Number,
  doctor_id: Schema.Number,
  start_time: UtcTime,
  end_time: UtcTime,
  max_patients: Schema.Number,
  is_active: Schema.Boolean,
  /** Live (not cancelled) appointments booked into it. */
  booked: Schema.Number,
  created_at: UtcTime,
  updated_at: UtcTime
}).annotations({ identifier: "DoctorSchedulePublic" })

export const AppointmentResponse = Schema.Struct({
  patient_id: Schema.Number,
  doctor_id: Schema.NullOr(Schema.Number),
  schedule_id: Schema.NullOr(Schema.Number),
  scheduled_time: UtcTime,
  reason: Schema.String,
  status: Schema.Literal(...APPOINTMENT_STATUSES),
  notes: Schema.NullOr(Schema.String),
  diagnosis: Schema.NullOr(Schema.String),
  prescription: Schema.NullOr(Schema.String),
  created_at: UtcTime,
  updated_at: UtcTime,
  id: Schema.Number,
  patient: Schema.NullOr(UserResponse),
  doctor: Schema.NullOr(UserResponse),
  schedule: Schema.NullOr(ScheduleResponse)
}).annotations({ identifier: "AppointmentPublic" })

export const LabResultResponse = Schema.Struct({
  patient_id: Schema.Number,
  test_name: Schema.String,
  result_data: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  recorded_at: UtcTime,
  created_at: UtcTime,
  id: Schema.Number
}).annotations({ identifier: "LabResultPublic" })

export const TaskResponse = Schema.Struct({
  task_name: Schema.String,
  status: Schema.Literal(...TASK_STATUSES),
  appointment_id: Schema.NullOr(Schema.Number),
  /** The workflow execution that does the task's work. */
  external_reference: Schema.NullOr(Schema.String),
  error_message: Schema.NullOr(Schema.String),
  created_at: UtcTime,
  updated_at: UtcTime,
  id: Schema.Number
}).annotations({ identifier: "BackgroundTaskPublic" })

export class CareRootGroup extends HttpApiGroup.make("careRoot")
  .add(HttpApiEndpoint.get("root", "/").addSuccess(Schema.Struct({ status: Schema.Literal("ok"), service: Schema.String })))
  .annotate(OpenApi.Description, "Seed 004's root: the service answers")
{}

export class UsersGroup extends HttpApiGroup.make("users")
  .add(
    HttpApiEndpoint.post("create", "/api/v1/users")
      .setPayload(UserCreate)
      .addSuccess(UserResponse, { status: 201 })
      .addError(BadRequestResponse)
      .addError(NotFoundResponse)
      .addError(ConflictResponse)
      .addError(InvalidFieldResponse)
  )
  .add(HttpApiEndpoint.get("get", "/api/v1/users/:user_id").setPath(IdPath("user_id")).addSuccess(UserResponse).addError(NotFoundResponse))
  .add(
    HttpApiEndpoint.patch("update", "/api/v1/users/:user_id")
      .setPath(IdPath("user_id"))
      .setPayload(UserUpdate)
      .addSuccess(UserResponse)
      .addError(NotFoundResponse)
      .addError(ConflictResponse)
      .addError(InvalidFieldResponse)
  )
  .annotate(OpenApi.Description, "Users of care coordination: patients, doctors, admins (seed 004). Passwords are stored as scrypt hashes only.")
{}

export class AppointmentsGroup extends HttpApiGroup.make("appointments")
  .add(
    HttpApiEndpoint.post("create", "/api/v1/appointments")
      .setPayload(AppointmentCreate)
      .addSuccess(AppointmentResponse, { status: 201 })
      .addError(BadRequestResponse)
      .addError(NotFoundResponse)
      .addError(InvalidFieldResponse)
  )
  .add(
    HttpApiEndpoint.get("get", "/api/v1/appointments/:appointment_id")
      .setPath(IdPath("appointment_id"))
      .addSuccess(AppointmentResponse)
      .addError(NotFoundResponse)
  )
  .add(
    HttpApiEndpoint.patch("update", "/api/v1/appointments/:appointment_id")
      .setPath(IdPath("appointment_id"))
      .setPayload(AppointmentUpdate)
      .addSuccess(AppointmentResponse)
      .addError(BadRequestResponse)
      .addError(NotFoundResponse)
      .addError(ConflictResponse)
  )
  .add(
    HttpApiEndpoint.get("listByPatient", "/api/v1/appointments/patients/:patient_id")
      .setPath(IdPath("patient_id"))
      .setUrlParams(Pagination)
      .addSuccess(Schema.Array(AppointmentResponse))
  )
  .add(
    HttpApiEndpoint.get("listByDoctor", "/api/v1/appointments/doctors/:doctor_id")
      .setPath(IdPath("doctor_id"))
      .setUrlParams(Pagination)
      .addSuccess(Schema.Array(AppointmentResponse))
  )
  .annotate(
    OpenApi.Description,
    "Appointments: booked `pending`, confirmed by a durable workflow (its progress in the task records); `pending -> confirmed | cancelled`, `confirmed -> completed | cancelled`"
  )
{}

export class LabResultsGroup extends HttpApiGroup.make("labResults")
  .add(
    HttpApiEndpoint.post("create", "/api/v1/lab-results")
      .setPayload(LabResultCreate)
      .addSuccess(LabResultResponse, { status: 201 })
      .addError(NotFoundResponse)
      .addError(InvalidFieldResponse)
  )
  .add(
    HttpApiEndpoint.get("listByPatient", "/api/v1/lab-results/patients/:patient_id")
      .setPath(IdPath("patient_id"))
      .setUrlParams(Pagination)
      .addSuccess(Schema.Array(LabResultResponse))
  )
  .annotate(OpenApi.Description, "Lab results of patient users")
{}

export class TasksGroup extends HttpApiGroup.make("tasks")
  .add(HttpApiEndpoint.get("get", "/api/v1/tasks/:task_id").setPath(IdPath("task_id")).addSuccess(TaskResponse).addError(NotFoundResponse))
  .add(
    HttpApiEndpoint.get("listByAppointment", "/api/v1/tasks/appointments/:appointment_id")
      .setPath(IdPath("appointment_id"))
      .setUrlParams(Pagination)
      .addSuccess(Schema.Array(TaskResponse))
  )
  .annotate(OpenApi.Description, "Background task records: `queued -> running -> succeeded | failed`")
{}
