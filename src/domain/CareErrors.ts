/** Failures of care coordination's rules (seed 004), independent of how they reach a client. */
import { Schema } from "effect"

/** The user does not exist, or is not of the role its place needs (`role`: a patient's place, a doctor's). */
export class UserNotFound extends Schema.TaggedError<UserNotFound>()("UserNotFound", {
  userId: Schema.Number,
  role: Schema.optional(Schema.Literal("patient", "doctor"))
}) {}

/** A user's role does not fit where it is named (a doctor as an appointment's patient, ...). */
export class WrongRole extends Schema.TaggedError<WrongRole>()("WrongRole", {
  field: Schema.String,
  /** The user named by `field`; absent when `field` is the user's own link (a new user's). */
  userId: Schema.optional(Schema.Number),
  expected: Schema.String,
  actual: Schema.String
}) {}

export class EmailTaken extends Schema.TaggedError<EmailTaken>()("EmailTaken", { email: Schema.String }) {}

/** Another user is already linked to this registry patient. */
export class RegistryPatientTaken extends Schema.TaggedError<RegistryPatientTaken>()("RegistryPatientTaken", {
  patientId: Schema.String
}) {}

export class AppointmentNotFound extends Schema.TaggedError<AppointmentNotFound>()("AppointmentNotFound", {
  appointmentId: Schema.Number
}) {}

/** A final appointment (completed, cancelled) cannot be moved to another time. */
export class AppointmentClosed extends Schema.TaggedError<AppointmentClosed>()("AppointmentClosed", {
  appointmentId: Schema.Number,
  status: Schema.String
}) {}

export class ScheduleNotFound extends Schema.TaggedError<ScheduleNotFound>()("ScheduleNotFound", {
  scheduleId: Schema.Number
}) {}

/** A doctor's schedule would overlap another of their active schedules. */
export class ScheduleOverlaps extends Schema.TaggedError<ScheduleOverlaps>()("ScheduleOverlaps", {}) {}

/** A schedule with live appointments cannot be removed. */
export class ScheduleInUse extends Schema.TaggedError<ScheduleInUse>()("ScheduleInUse", {
  scheduleId: Schema.Number,
  appointments: Schema.Number
}) {}

export class ProfileNotFound extends Schema.TaggedError<ProfileNotFound>()("ProfileNotFound", {}) {}

/** A new doctor profile needs a specialization; schedules need a profile first. */
export class ProfileIncomplete extends Schema.TaggedError<ProfileIncomplete>()("ProfileIncomplete", {
  reason: Schema.String
}) {}

export class LicenseTaken extends Schema.TaggedError<LicenseTaken>()("LicenseTaken", { licenseNumber: Schema.String }) {}

/** A schedule whose end would not come after its start (once a patch is applied). */
export class ScheduleWindowInvalid extends Schema.TaggedError<ScheduleWindowInvalid>()("ScheduleWindowInvalid", {}) {}
