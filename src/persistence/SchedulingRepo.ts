/**
 * SQL for seed 004 v2's scheduling: doctors' profiles and availability schedules, patients'
 * profiles, and the search for doctors with free time. A doctor's schedule writes hold the
 * doctor's profile row, so two writes of one doctor cannot both pass the overlap check.
 * Every answered schedule carries `booked`: its live (not cancelled) appointments.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import type { Fragment } from "@effect/sql/Statement"
import { Effect, Option, Schema } from "effect"
import { LicenseTaken, ProfileIncomplete, ScheduleInUse, ScheduleNotFound, ScheduleOverlaps, ScheduleWindowInvalid } from "../domain/CareErrors.ts"
import type { DataRefused, Unavailable } from "../domain/Errors.ts"
import {
  DoctorProfile,
  type DoctorProfileUpsert,
  DoctorSchedule,
  type DoctorScheduleCreate,
  type DoctorScheduleUpdate,
  PatientProfile,
  type PatientProfileUpsert,
  type ScheduleId
} from "../domain/Scheduling.ts"
import type { UserId } from "../domain/User.ts"
import type { Page } from "./Page.ts"
import { ChangeLog } from "./ChangeLog.ts"
import { classified, fromSqlError, isViolation, UNIQUE_VIOLATION } from "./SqlErrors.ts"

const decodeProfiles = Schema.decodeUnknown(Schema.Array(DoctorProfile))
const decodeSchedules = Schema.decodeUnknown(Schema.Array(DoctorSchedule))
const decodePatientProfiles = Schema.decodeUnknown(Schema.Array(PatientProfile))

export const MESSAGES = {
  specializationRequired: "Specialization is required to create a doctor profile",
  profileRequired: "Create your doctor profile before adding schedules"
} as const

/** `LIKE` pattern for text containing `s` literally. */
const containing = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`

/** Only the fields present in `patch`. */
const present = (patch: object): Record<string, unknown> =>
  Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined))

export interface DoctorSearch {
  readonly specialization?: string | undefined
  readonly earliest: Date
  readonly latest?: Date | undefined
}

export class SchedulingRepo extends Effect.Service<SchedulingRepo>()("vigil/SchedulingRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const changes = yield* ChangeLog

    const licenseTaken = (license: string | null | undefined) => (error: SqlError): Effect.Effect<never, LicenseTaken | Unavailable | DataRefused> =>
      isViolation(error, UNIQUE_VIOLATION, "doctor_profiles_license_number_key") && license
        ? Effect.fail(new LicenseTaken({ licenseNumber: license }))
        : fromSqlError(error)

    const schedulesWhere = (condition: Fragment) =>
      sql`
        SELECT s.*, (SELECT count(*)::int FROM appointments a WHERE a.schedule_id = s.id AND a.status <> 'cancelled') AS booked
        FROM doctor_schedules s WHERE ${condition} ORDER BY s.start_time, s.id`.pipe(Effect.flatMap(decodeSchedules))

    const doctorProfile = Effect.fn("SchedulingRepo.doctorProfile")(function*(userId: UserId) {
      const rows = yield* sql`SELECT * FROM doctor_profiles WHERE user_id = ${userId}`.pipe(Effect.flatMap(decodeProfiles))
      return Option.fromNullable(rows[0])
    }, classified)

    /** Creates the doctor's profile (which needs a specialization) or changes the fields sent. */
    const upsertDoctorProfile = Effect.fn("SchedulingRepo.upsertDoctorProfile")(function*(userId: UserId, input: DoctorProfileUpsert) {
      return yield* changes.transaction(Effect.gen(function*() {
        const [current] = yield* sql`SELECT * FROM doctor_profiles WHERE user_id = ${userId} FOR UPDATE`.pipe(Effect.flatMap(decodeProfiles))
        const fields = present(input)
        if (current === undefined) {
          if (input.specialization === undefined) return yield* new ProfileIncomplete({ reason: MESSAGES.specializationRequired })
          const [created] = yield* sql`INSERT INTO doctor_profiles ${sql.insert({ ...fields, user_id: userId })} RETURNING *`.pipe(
            Effect.catchTag("SqlError", licenseTaken(input.license_number)),
            Effect.flatMap(decodeProfiles)
          )
          yield* changes.record({ entityType: "doctor_profile", entityId: String(created!.id), action: "created", before: null, after: created! })
          return created!
        }
        if (Object.keys(fields).length === 0) return current
        const [updated] = yield* sql`
          UPDATE doctor_profiles SET ${sql.update(fields)}, updated_at = now() WHERE id = ${current.id} RETURNING *`.pipe(
          Effect.catchTag("SqlError", licenseTaken(input.license_number)),
          Effect.flatMap(decodeProfiles)
        )
        yield* changes.record({ entityType: "doctor_profile", entityId: String(current.id), action: "updated", before: current, after: updated! })
        return updated!
      }))
    }, classified)

    /** The doctor's profile, locked for this transaction: schedule writes of one doctor go one at a time. */
    const lockProfile = (userId: UserId) =>
      sql`SELECT * FROM doctor_profiles WHERE user_id = ${userId} FOR UPDATE`.pipe(
        Effect.flatMap(decodeProfiles),
        Effect.flatMap(([profile]) => profile === undefined ? new ProfileIncomplete({ reason: MESSAGES.profileRequired }) : Effect.succeed(profile))
      )

    const overlaps = (profileId: number, start: Date, end: Date, except: number | null) =>
      sql<{ id: number }>`
        SELECT id FROM doctor_schedules
        WHERE doctor_id = ${profileId} AND is_active AND start_time < ${end} AND end_time > ${start}
          AND id IS DISTINCT FROM ${except} LIMIT 1`.pipe(Effect.map((rows) => rows.length > 0))

    const createSchedule = Effect.fn("SchedulingRepo.createSchedule")(function*(userId: UserId, input: DoctorScheduleCreate) {
      return yield* changes.transaction(Effect.gen(function*() {
        const profile = yield* lockProfile(userId)
        if (input.is_active && (yield* overlaps(profile.id, input.start_time, input.end_time, null))) return yield* new ScheduleOverlaps()
        const [row] = yield* sql<{ id: number }>`INSERT INTO doctor_schedules ${sql.insert({ ...input, doctor_id: profile.id })} RETURNING id`
        const [schedule] = yield* schedulesWhere(sql`s.id = ${row!.id}`)
        yield* changes.record({ entityType: "doctor_schedule", entityId: String(schedule!.id), action: "created", before: null, after: schedule! })
        return schedule!
      }))
    }, classified)

    const schedulesOf = Effect.fn("SchedulingRepo.schedulesOf")(function*(userId: UserId, options: { readonly upcomingOnly: boolean; readonly activeOnly: boolean }) {
      return yield* schedulesWhere(sql.and([
        sql`s.doctor_id = (SELECT id FROM doctor_profiles WHERE user_id = ${userId})`,
        ...(options.upcomingOnly ? [sql`s.end_time > now()`] : []),
        ...(options.activeOnly ? [sql`s.is_active`] : [])
      ]))
    }, classified)

    const updateSchedule = Effect.fn("SchedulingRepo.updateSchedule")(function*(userId: UserId, scheduleId: ScheduleId, patch: DoctorScheduleUpdate) {
      return yield* changes.transaction(Effect.gen(function*() {
        const profile = yield* lockProfile(userId)
        const [current] = yield* schedulesWhere(sql`s.id = ${scheduleId} AND s.doctor_id = ${profile.id}`)
        if (current === undefined) return yield* new ScheduleNotFound({ scheduleId })
        const fields = present(patch)
        if (Object.keys(fields).length === 0) return current
        const next = { ...current, ...fields } as DoctorSchedule
        if (next.end_time <= next.start_time) return yield* new ScheduleWindowInvalid()
        if (next.is_active && (yield* overlaps(profile.id, next.start_time, next.end_time, current.id))) return yield* new ScheduleOverlaps()
        yield* sql`UPDATE doctor_schedules SET ${sql.update(fields)}, updated_at = now() WHERE id = ${scheduleId}`
        const [updated] = yield* schedulesWhere(sql`s.id = ${scheduleId}`)
        yield* changes.record({ entityType: "doctor_schedule", entityId: String(scheduleId), action: "updated", before: current, after: updated! })
        return updated!
      }))
    }, classified)

    /** Removes a schedule nobody is booked into (its cancelled appointments keep their history, without it). */
    const removeSchedule = Effect.fn("SchedulingRepo.removeSchedule")(function*(userId: UserId, scheduleId: ScheduleId) {
      return yield* changes.transaction(Effect.gen(function*() {
        const profile = yield* lockProfile(userId)
        const [current] = yield* schedulesWhere(sql`s.id = ${scheduleId} AND s.doctor_id = ${profile.id}`)
        if (current === undefined) return yield* new ScheduleNotFound({ scheduleId })
        const [{ live }] = (yield* sql<{ live: number }>`
          SELECT count(*)::int AS live FROM appointments WHERE schedule_id = ${scheduleId} AND status IN ('pending', 'confirmed')`) as [{ live: number }]
        if (live > 0) return yield* new ScheduleInUse({ scheduleId, appointments: live })
        yield* sql`DELETE FROM doctor_schedules WHERE id = ${scheduleId}`
        yield* changes.record({ entityType: "doctor_schedule", entityId: String(scheduleId), action: "deleted", before: current, after: null })
      }))
    }, classified)

    /**
     * Doctors (active, with a profile) having at least one active schedule with a free place that
     * ends after `earliest` and starts before `latest`, matching the specialization (any case,
     * anywhere in it), in profile order; each with those schedules.
     */
    const searchDoctors = Effect.fn("SchedulingRepo.searchDoctors")(function*(search: DoctorSearch, page: Page) {
      const free = sql.and([
        sql`s.is_active`,
        sql`s.end_time > ${search.earliest}`,
        ...(search.latest !== undefined ? [sql`s.start_time < ${search.latest}`] : []),
        sql`s.max_patients > (SELECT count(*) FROM appointments a WHERE a.schedule_id = s.id AND a.status <> 'cancelled')`
      ])
      const profiles = yield* sql`
        SELECT p.* FROM doctor_profiles p JOIN users u ON u.id = p.user_id
        WHERE u.role = 'doctor' AND u.is_active
          ${search.specialization !== undefined ? sql`AND p.specialization ILIKE ${containing(search.specialization)}` : sql``}
          AND EXISTS (SELECT 1 FROM doctor_schedules s WHERE s.doctor_id = p.id AND ${free})
        ORDER BY p.id OFFSET ${page.skip} LIMIT ${page.limit}`.pipe(Effect.flatMap(decodeProfiles))
      if (profiles.length === 0) return []
      const schedules = yield* schedulesWhere(sql`s.doctor_id = ANY(${profiles.map((p) => p.id)}::int[]) AND ${free}`)
      return profiles.map((profile) => ({ profile, schedules: schedules.filter((s) => s.doctor_id === profile.id) }))
    }, classified)

    const patientProfile = Effect.fn("SchedulingRepo.patientProfile")(function*(userId: UserId) {
      const rows = yield* sql`
        SELECT id, user_id, to_char(date_of_birth, 'YYYY-MM-DD') AS date_of_birth, gender, blood_type, contact_number,
               emergency_contact, created_at, updated_at
        FROM patient_profiles WHERE user_id = ${userId}`.pipe(Effect.flatMap(decodePatientProfiles))
      return Option.fromNullable(rows[0])
    }, classified)

    const upsertPatientProfile = Effect.fn("SchedulingRepo.upsertPatientProfile")(function*(userId: UserId, input: PatientProfileUpsert) {
      return yield* changes.transaction(Effect.gen(function*() {
        const before = yield* patientProfile(userId)
        const fields = present(input)
        if (Option.isSome(before) && Object.keys(fields).length === 0) return before.value
        yield* sql`
          INSERT INTO patient_profiles ${sql.insert({ ...fields, user_id: userId })}
          ON CONFLICT (user_id) DO UPDATE SET ${Object.keys(fields).length > 0 ? sql.update(fields) : sql`user_id = EXCLUDED.user_id`}, updated_at = now()`
        const after = Option.getOrThrow(yield* patientProfile(userId))
        yield* changes.record({
          entityType: "patient_profile",
          entityId: String(after.id),
          action: Option.isSome(before) ? "updated" : "created",
          before: Option.getOrNull(before),
          after
        })
        return after
      }))
    }, classified)

    return {
      doctorProfile,
      upsertDoctorProfile,
      createSchedule,
      schedulesOf,
      updateSchedule,
      removeSchedule,
      searchDoctors,
      patientProfile,
      upsertPatientProfile
    } as const
  }),
  dependencies: [ChangeLog.Default]
}) {}
