/**
 * Seed 004 v2's scheduling: doctors' profiles and availability schedules, patients' profiles, and
 * the booking rules, each with the message its clients know (`reference/seed-sources.md` 3.2).
 * The rules are pure here; what makes them race-safe (a schedule's row lock, the unique index on
 * a patient's live appointments) is the repository's.
 */
import { Schema } from "effect"
import type { Role } from "./User.ts"
import { BoundedText, CalendarDate, Int, IntId, NonEmptyBoundedString, Text, Timestamp, atLeast } from "./Validation.ts"

export const ScheduleId = IntId.pipe(Schema.brand("ScheduleId"))
export type ScheduleId = typeof ScheduleId.Type

export const DoctorProfileId = IntId.pipe(Schema.brand("DoctorProfileId"))
export type DoctorProfileId = typeof DoctorProfileId.Type

export class DoctorProfile extends Schema.Class<DoctorProfile>("DoctorProfile")({
  id: DoctorProfileId,
  user_id: Schema.Number,
  specialization: Schema.String,
  license_number: Schema.NullOr(Schema.String),
  years_of_experience: Schema.NullOr(Schema.Number),
  contact_number: Schema.NullOr(Schema.String),
  bio: Schema.NullOr(Schema.String),
  created_at: Schema.DateFromSelf,
  updated_at: Schema.DateFromSelf
}) {}

/** `PUT /doctors/me/profile`: an upsert; only the fields sent change, and a new profile needs `specialization`. */
export class DoctorProfileUpsert extends Schema.Class<DoctorProfileUpsert>("DoctorProfileUpsert")({
  specialization: Schema.optional(NonEmptyBoundedString(255)),
  license_number: Schema.optional(Schema.NullOr(NonEmptyBoundedString(100))),
  years_of_experience: Schema.optional(Schema.NullOr(Int.pipe(atLeast(0)))),
  contact_number: Schema.optional(Schema.NullOr(BoundedText(50))),
  bio: Schema.optional(Schema.NullOr(Text))
}) {}

export class DoctorSchedule extends Schema.Class<DoctorSchedule>("DoctorSchedule")({
  id: ScheduleId,
  doctor_id: DoctorProfileId,
  start_time: Schema.DateFromSelf,
  end_time: Schema.DateFromSelf,
  max_patients: Schema.Number,
  is_active: Schema.Boolean,
  /** Live (not cancelled) appointments booked into it. */
  booked: Schema.Number,
  created_at: Schema.DateFromSelf,
  updated_at: Schema.DateFromSelf
}) {}

const MaxPatients = Int.pipe(atLeast(1))

const endsAfterStart = <S extends Schema.Schema.Any>(self: S) =>
  self.pipe(Schema.filter((window: { readonly start_time?: Date | undefined; readonly end_time?: Date | undefined }) =>
    window.start_time === undefined || window.end_time === undefined || window.end_time > window.start_time ||
    { path: ["end_time"], message: "Value error, end_time must be after start_time" }))

export const DoctorScheduleCreate = endsAfterStart(Schema.Struct({
  start_time: Timestamp,
  end_time: Timestamp,
  max_patients: Schema.optionalWith(MaxPatients, { default: () => 1 }),
  is_active: Schema.optionalWith(Schema.Boolean, { default: () => true })
})).annotations({ identifier: "DoctorScheduleCreate" })
export type DoctorScheduleCreate = typeof DoctorScheduleCreate.Type

export const DoctorScheduleUpdate = endsAfterStart(Schema.Struct({
  start_time: Schema.optional(Timestamp),
  end_time: Schema.optional(Timestamp),
  max_patients: Schema.optional(MaxPatients),
  is_active: Schema.optional(Schema.Boolean)
})).annotations({ identifier: "DoctorScheduleUpdate" })
export type DoctorScheduleUpdate = typeof DoctorScheduleUpdate.Type

export class PatientProfile extends Schema.Class<PatientProfile>("PatientProfile")({
  id: Schema.Number,
  user_id: Schema.Number,
  date_of_birth: Schema.NullOr(Schema.String),
  gender: Schema.NullOr(Schema.String),
  blood_type: Schema.NullOr(Schema.String),
  contact_number: Schema.NullOr(Schema.String),
  emergency_contact: Schema.NullOr(Schema.String),
  created_at: Schema.DateFromSelf,
  updated_at: Schema.DateFromSelf
}) {}

export class PatientProfileUpsert extends Schema.Class<PatientProfileUpsert>("PatientProfileUpsert")({
  date_of_birth: Schema.optional(Schema.NullOr(CalendarDate)),
  gender: Schema.optional(Schema.NullOr(BoundedText(20))),
  blood_type: Schema.optional(Schema.NullOr(BoundedText(5))),
  contact_number: Schema.optional(Schema.NullOr(BoundedText(50))),
  emergency_contact: Schema.optional(Schema.NullOr(BoundedText(255)))
}) {}

/** The seed's 400 messages for a booking (or a move) the rules refuse. */
export const BookingMessages = {
  scheduleRequired: "A doctor schedule must be supplied",
  scheduleUnavailable: "Selected schedule is unavailable",
  doctorInactive: "Doctor schedule is not linked to an active doctor",
  otherDoctor: "Schedule does not belong to the specified doctor",
  inThePast: "Cannot book appointments in the past",
  outsideWindow: "Scheduled time is outside the doctor's availability window",
  fullyBooked: "Selected schedule is fully booked",
  patientBusy: "You already have an appointment at this time"
} as const

export class BookingRefused extends Schema.TaggedError<BookingRefused>()("BookingRefused", {
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

/** A schedule as the booking rules see it, with its doctor. */
export interface ScheduleFacts {
  readonly is_active: boolean
  readonly start_time: Date
  readonly end_time: Date
  readonly max_patients: number
  /** Live appointments already in it, the one being booked or moved left out. */
  readonly booked: number
  readonly doctor_user_id: number
  readonly doctor_role: Role
  readonly doctor_active: boolean
}

export interface BookingFacts {
  readonly now: Date
  readonly scheduledTime: Date
  /** The doctor the request names, if it names one. */
  readonly doctorId: number | null
  readonly scheduleRequested: boolean
  readonly scheduleRequired: boolean
  /** The requested schedule; `null` when it was requested and does not exist. */
  readonly schedule: ScheduleFacts | null
}

/**
 * The first booking rule `facts` break, in the order seed 004 v2 checks them; `undefined` when
 * the booking may go ahead (the patient's own clash is the unique index's to decide).
 */
export const bookingRefusal = (facts: BookingFacts): string | undefined => {
  if (!facts.scheduleRequested) {
    if (facts.scheduleRequired) return BookingMessages.scheduleRequired
    return facts.scheduledTime < facts.now ? BookingMessages.inThePast : undefined
  }
  const schedule = facts.schedule
  if (schedule === null || !schedule.is_active) return BookingMessages.scheduleUnavailable
  if (schedule.doctor_role !== "doctor" || !schedule.doctor_active) return BookingMessages.doctorInactive
  if (facts.doctorId !== null && facts.doctorId !== schedule.doctor_user_id) return BookingMessages.otherDoctor
  if (facts.scheduledTime < facts.now) return BookingMessages.inThePast
  if (facts.scheduledTime < schedule.start_time || facts.scheduledTime > schedule.end_time) return BookingMessages.outsideWindow
  if (schedule.booked >= schedule.max_patients) return BookingMessages.fullyBooked
  return undefined
}
