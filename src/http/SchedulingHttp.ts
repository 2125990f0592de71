/**
 * Handlers of seed 004 v2's scheduling groups (`SchedulingApi.ts`). "me" is the token's user
 * (with authentication off, the user named in `X-User-Id`): an active user of the route's roles,
 * or v2's 401/403.
 */
import { Clock, Effect, Option } from "effect"
import { CurrentCaller } from "../domain/Access.ts"
import { type DoctorProfile, type PatientProfile, ScheduleId } from "../domain/Scheduling.ts"
import { type Role, type User, UserId, userView } from "../domain/User.ts"
import { AppointmentRepo } from "../persistence/AppointmentRepo.ts"
import { SchedulingRepo } from "../persistence/SchedulingRepo.ts"
import { UserRepo } from "../persistence/UserRepo.ts"
import type { Handlers } from "./Api.ts"
import { appointmentResponse, idOf, scheduleResponse } from "./CareHttp.ts"
import { BadRequest, Conflict, Forbidden, InvalidField, NotFound, Unauthorized } from "./Errors.ts"
import type { DoctorsGroup, PatientPortalGroup } from "./SchedulingApi.ts"

const userId = idOf(UserId)
const scheduleId = idOf(ScheduleId)

const DOCTORS: ReadonlyArray<Role> = ["doctor", "superadmin"]
const PATIENTS: ReadonlyArray<Role> = ["patient", "superadmin"]

const doctorProfileResponse = (profile: DoctorProfile, user: User | undefined) => ({
  id: profile.id,
  user_id: profile.user_id,
  specialization: profile.specialization,
  license_number: profile.license_number,
  years_of_experience: profile.years_of_experience,
  contact_number: profile.contact_number,
  bio: profile.bio,
  created_at: profile.created_at,
  updated_at: profile.updated_at,
  user: user === undefined ? null : userView(user)
})

const patientProfileResponse = (profile: PatientProfile) => ({ ...profile })

const profileMissing = () => Effect.fail(new NotFound({ detail: "Profile not found" }))
const scheduleMissing = () => Effect.fail(new NotFound({ detail: "Schedule not found" }))

export const make = Effect.gen(function*() {
  const users = yield* UserRepo
  const scheduling = yield* SchedulingRepo
  const appointments = yield* AppointmentRepo

  /**
   * The caller, if they are an active user of one of `roles`: the token's user when the doors are
   * guarded; with authentication off, the user `X-User-Id` names.
   */
  const caller = (headers: { readonly "x-user-id"?: number | undefined }, roles: ReadonlyArray<Role>) =>
    Effect.gen(function*() {
      const current = yield* CurrentCaller
      if (current.kind === "user") {
        if (!roles.includes(current.user.role)) return yield* new Forbidden({ detail: "Not enough permissions" })
        return current.user
      }
      if (current.kind !== "open") return yield* new Forbidden({ detail: "Not enough permissions" })
      const named = headers["x-user-id"]
      if (named === undefined) return yield* new Unauthorized({ detail: "Not authenticated" })
      const found = yield* Option.match(userId(named), { onNone: () => Effect.succeedNone, onSome: users.findById })
      if (Option.isNone(found) || !found.value.is_active) return yield* new Unauthorized({ detail: "Inactive or missing user" })
      if (!roles.includes(found.value.role)) return yield* new Forbidden({ detail: "Not enough permissions" })
      return found.value
    })

  const appointmentsOf = (field: "patient_id" | "doctor_id", user: User, page: { readonly skip: number; readonly limit: number }) =>
    appointments.listBy(field, user.id, page).pipe(Effect.flatMap(appointments.withParties), Effect.map((all) => all.map(appointmentResponse)))

  const scheduleErrors = {
    ProfileIncomplete: (error: { readonly reason: string }) => Effect.fail(new BadRequest({ detail: error.reason })),
    ScheduleOverlaps: () => Effect.fail(new BadRequest({ detail: "Schedule overlaps with existing availability" }))
  }

  const doctors = {
    profile: ({ headers }) =>
      Effect.gen(function*() {
        const me = yield* caller(headers, DOCTORS)
        const profile = yield* scheduling.doctorProfile(me.id)
        return Option.isNone(profile) ? yield* profileMissing() : doctorProfileResponse(profile.value, me)
      }),
    upsertProfile: ({ headers, payload }) =>
      Effect.gen(function*() {
        const me = yield* caller(headers, DOCTORS)
        const profile = yield* scheduling.upsertDoctorProfile(me.id, payload).pipe(
          Effect.catchTags({
            ProfileIncomplete: (error) => Effect.fail(new BadRequest({ detail: error.reason })),
            LicenseTaken: () => Effect.fail(new Conflict({ detail: "License number already registered" }))
          })
        )
        return doctorProfileResponse(profile, me)
      }),
    createSchedule: ({ headers, payload }) =>
      Effect.gen(function*() {
        const me = yield* caller(headers, DOCTORS)
        return scheduleResponse(yield* scheduling.createSchedule(me.id, payload).pipe(Effect.catchTags(scheduleErrors)))
      }),
    schedules: ({ headers }) =>
      Effect.gen(function*() {
        const me = yield* caller(headers, DOCTORS)
        return (yield* scheduling.schedulesOf(me.id, { upcomingOnly: false, activeOnly: false })).map(scheduleResponse)
      }),
    updateSchedule: ({ headers, path, payload }) =>
      Effect.gen(function*() {
        const me = yield* caller(headers, DOCTORS)
        const id = scheduleId(path.schedule_id)
        if (Option.isNone(id)) return yield* scheduleMissing()
        const updated = yield* scheduling.updateSchedule(me.id, id.value, payload).pipe(
          Effect.catchTags({
            ScheduleOverlaps: scheduleErrors.ScheduleOverlaps,
            // Without a profile, a doctor has no schedule to change.
            ProfileIncomplete: scheduleMissing,
            ScheduleNotFound: scheduleMissing,
            ScheduleWindowInvalid: () =>
              Effect.fail(new InvalidField({ field: "end_time", message: "end_time must be after start_time", input: payload.end_time ?? null }))
          })
        )
        return scheduleResponse(updated)
      }),
    deleteSchedule: ({ headers, path }) =>
      Effect.gen(function*() {
        const me = yield* caller(headers, DOCTORS)
        const id = scheduleId(path.schedule_id)
        if (Option.isNone(id)) return yield* scheduleMissing()
        yield* scheduling.removeSchedule(me.id, id.value).pipe(
          Effect.catchTags({
            // Without a profile, a doctor has no schedule to remove.
            ProfileIncomplete: scheduleMissing,
            ScheduleNotFound: scheduleMissing,
            ScheduleInUse: (error) =>
              Effect.fail(new Conflict({ detail: `Schedule has ${error.appointments} active appointments: cancel them, or deactivate the schedule` }))
          })
        )
      }),
    appointments: ({ headers, urlParams }) => Effect.flatMap(caller(headers, DOCTORS), (me) => appointmentsOf("doctor_id", me, urlParams))
  } satisfies Handlers<typeof DoctorsGroup>

  const patientPortal = {
    profile: ({ headers }) =>
      Effect.gen(function*() {
        const me = yield* caller(headers, PATIENTS)
        const profile = yield* scheduling.patientProfile(me.id)
        return Option.isNone(profile) ? yield* profileMissing() : patientProfileResponse(profile.value)
      }),
    upsertProfile: ({ headers, payload }) =>
      Effect.gen(function*() {
        const me = yield* caller(headers, PATIENTS)
        return patientProfileResponse(yield* scheduling.upsertPatientProfile(me.id, payload))
      }),
    appointments: ({ headers, urlParams }) => Effect.flatMap(caller(headers, PATIENTS), (me) => appointmentsOf("patient_id", me, urlParams)),
    searchDoctors: ({ urlParams }) =>
      Effect.gen(function*() {
        const earliest = urlParams.earliest ?? new Date(yield* Clock.currentTimeMillis)
        const found = yield* scheduling.searchDoctors({ specialization: urlParams.specialization, earliest, latest: urlParams.latest }, urlParams)
        const people = yield* users.findMany(found.map((f) => f.profile.user_id))
        return found.map(({ profile, schedules }) => ({
          doctor: doctorProfileResponse(profile, people.get(profile.user_id)),
          schedules: schedules.map(scheduleResponse)
        }))
      }),
    doctorSchedules: ({ path }) =>
      Effect.gen(function*() {
        const doctor = yield* Option.match(userId(path.doctor_user_id), { onNone: () => Effect.succeedNone, onSome: users.findById })
        if (Option.isNone(doctor) || doctor.value.role !== "doctor") return yield* new NotFound({ detail: "Doctor not found" })
        return (yield* scheduling.schedulesOf(doctor.value.id, { upcomingOnly: true, activeOnly: true })).map(scheduleResponse)
      })
  } satisfies Handlers<typeof PatientPortalGroup>

  return { doctors, patientPortal }
})
