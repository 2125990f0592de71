/**
 * Seed 004's appointments, the background task record that tracks each one's confirmation, and
 * lab results. Integer ids, as the seed's clients send them; times are instants (an input without
 * an offset is UTC). v1 books with a patient, an optional doctor and a time; v2 adds the doctor's
 * schedule the appointment is booked into, and the doctor's diagnosis and prescription.
 */
import { Schema } from "effect"
import { APPOINTMENT_STATUSES, TASK_STATUSES } from "./AppointmentStatus.ts"
import { ScheduleId } from "./Scheduling.ts"
import { UserId } from "./User.ts"
import { BoundedText, Enum, ErrorType, IntId, Text, Timestamp } from "./Validation.ts"

export const AppointmentId = IntId.pipe(Schema.brand("AppointmentId"))
export type AppointmentId = typeof AppointmentId.Type

export const TaskId = IntId.pipe(Schema.brand("TaskId"))
export type TaskId = typeof TaskId.Type

export const LabResultId = IntId.pipe(Schema.brand("LabResultId"))
export type LabResultId = typeof LabResultId.Type

/** The task record every booking creates: its name in the seed. */
export const SCHEDULE_APPOINTMENT = "schedule_appointment"

export class Appointment extends Schema.Class<Appointment>("Appointment")({
  id: AppointmentId,
  patient_id: UserId,
  doctor_id: Schema.NullOr(UserId),
  schedule_id: Schema.NullOr(ScheduleId),
  scheduled_time: Schema.DateFromSelf,
  reason: Schema.String,
  status: Schema.Literal(...APPOINTMENT_STATUSES),
  notes: Schema.NullOr(Schema.String),
  diagnosis: Schema.NullOr(Schema.String),
  prescription: Schema.NullOr(Schema.String),
  reminder_for: Schema.NullOr(Schema.DateFromSelf),
  reminder_sent_at: Schema.NullOr(Schema.DateFromSelf),
  created_at: Schema.DateFromSelf,
  updated_at: Schema.DateFromSelf
}) {}

/** An appointment as actor messages and workflow results carry it (JSON: times as ISO text). */
export const AppointmentData = Schema.Struct({
  ...Appointment.fields,
  scheduled_time: Schema.Date,
  reminder_for: Schema.NullOr(Schema.Date),
  reminder_sent_at: Schema.NullOr(Schema.Date),
  created_at: Schema.Date,
  updated_at: Schema.Date
})
export type AppointmentData = typeof AppointmentData.Type

export class AppointmentCreate extends Schema.Class<AppointmentCreate>("AppointmentCreate")({
  patient_id: UserId,
  doctor_id: Schema.optionalWith(Schema.NullOr(UserId), { default: () => null }),
  schedule_id: Schema.optionalWith(Schema.NullOr(ScheduleId), { default: () => null }),
  scheduled_time: Timestamp,
  reason: BoundedText(255),
  notes: Schema.optionalWith(Schema.NullOr(Text), { default: () => null })
}) {}

/** Only the fields sent change (`null` clears a text). */
export class AppointmentUpdate extends Schema.Class<AppointmentUpdate>("AppointmentUpdate")({
  scheduled_time: Schema.optional(Timestamp),
  status: Schema.optional(Enum(...APPOINTMENT_STATUSES)),
  notes: Schema.optional(Schema.NullOr(Text)),
  diagnosis: Schema.optional(Schema.NullOr(Text)),
  prescription: Schema.optional(Schema.NullOr(Text))
}) {}

/** The fields an update names, as an actor message carries them (JSON: times as ISO text). */
export const AppointmentChanges = Schema.Struct({
  scheduled_time: Schema.optional(Schema.Date),
  status: Schema.optional(Schema.Literal(...APPOINTMENT_STATUSES)),
  notes: Schema.optional(Schema.NullOr(Schema.String)),
  diagnosis: Schema.optional(Schema.NullOr(Schema.String)),
  prescription: Schema.optional(Schema.NullOr(Schema.String))
})
export type AppointmentChanges = typeof AppointmentChanges.Type

export class BackgroundTask extends Schema.Class<BackgroundTask>("BackgroundTask")({
  id: TaskId,
  task_name: Schema.String,
  status: Schema.Literal(...TASK_STATUSES),
  appointment_id: Schema.NullOr(AppointmentId),
  external_reference: Schema.NullOr(Schema.String),
  error_message: Schema.NullOr(Schema.String),
  created_at: Schema.DateFromSelf,
  updated_at: Schema.DateFromSelf
}) {}

/** A task record as a JSON row (`to_jsonb`) carries it: times as ISO text. */
export const BackgroundTaskJson = Schema.Struct({ ...BackgroundTask.fields, created_at: Schema.Date, updated_at: Schema.Date })

export class LabResult extends Schema.Class<LabResult>("LabResult")({
  id: LabResultId,
  patient_id: UserId,
  test_name: Schema.String,
  result_data: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  recorded_at: Schema.DateFromSelf,
  created_at: Schema.DateFromSelf
}) {}

const ResultData = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  [ErrorType]: "dict_type",
  message: () => "Input should be a valid dictionary"
})

export class LabResultCreate extends Schema.Class<LabResultCreate>("LabResultCreate")({
  patient_id: UserId,
  test_name: BoundedText(255),
  result_data: ResultData,
  recorded_at: Timestamp
}) {}

/**
 * What confirming an appointment came to. `Confirmed` also when it was confirmed already (by
 * hand, or by an earlier run of the same work): then nothing was written again.
 */
export const ConfirmOutcome = Schema.Union(
  Schema.TaggedStruct("Confirmed", { scheduled_time: Schema.Date, already: Schema.Boolean }),
  Schema.TaggedStruct("Failed", { reason: Schema.String })
)
export type ConfirmOutcome = typeof ConfirmOutcome.Type

/** What a due reminder came to: sent, or not (the appointment is no longer confirmed for that time, or that time has passed). */
export const ReminderOutcome = Schema.Literal("sent", "already-sent", "not-confirmed", "rescheduled", "past")
export type ReminderOutcome = typeof ReminderOutcome.Type

/** Why a confirmation did not confirm: the task record's `error_message`. */
export const ConfirmationFailures = {
  missing: "Appointment not found",
  cancelled: "Appointment was cancelled before it could be confirmed",
  fullyBooked: "Selected schedule is fully booked"
} as const

/** An appointment's public fields: what every answer shows of it, in the seed's order. */
export const appointmentFields = (appointment: Appointment | AppointmentData) => ({
  patient_id: appointment.patient_id,
  doctor_id: appointment.doctor_id,
  schedule_id: appointment.schedule_id,
  scheduled_time: appointment.scheduled_time,
  reason: appointment.reason,
  status: appointment.status,
  notes: appointment.notes,
  diagnosis: appointment.diagnosis,
  prescription: appointment.prescription,
  created_at: appointment.created_at,
  updated_at: appointment.updated_at,
  id: appointment.id
})

/** What an appointment's events and audit records carry: its public fields, with the seed's `appointment_id` beside `id`. */
export const appointmentRecord = (appointment: Appointment | AppointmentData) => ({
  appointment_id: appointment.id,
  ...appointmentFields(appointment)
})

/** What a task record's events and audit records carry, with `task_id` beside `id`. */
export const taskRecord = (task: BackgroundTask) => ({ task_id: task.id, ...task })

/** What a lab result's events and audit records carry, with the seed's `lab_result_id` beside `id`. */
export const labResultRecord = (result: LabResult) => ({ lab_result_id: result.id, ...result })
