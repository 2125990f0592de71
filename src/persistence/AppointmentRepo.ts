/**
 * SQL for booking seed 004's appointments and reading them with their task records. A booking is
 * one transaction: the appointment, its `schedule_appointment` task record (`queued`), and one
 * audit record and event, `appointment.created`, whose data holds the task record too. It is race-safe: the schedule's row is locked while its live
 * appointments are counted and the new one inserted, and a patient's second live appointment at
 * one time is refused by a unique index, whichever booking gets there second.
 * (What happens to an appointment afterwards is `AppointmentLifecycle`'s, the Appointment actor's SQL.)
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Effect, Option, Schema } from "effect"
import {
  Appointment,
  type AppointmentCreate,
  type AppointmentId,
  appointmentRecord,
  BackgroundTask,
  BackgroundTaskJson,
  SCHEDULE_APPOINTMENT,
  type TaskId,
  taskRecord
} from "../domain/Appointment.ts"
import { UserNotFound, WrongRole } from "../domain/CareErrors.ts"
import { BookingMessages, BookingRefused, bookingRefusal, DoctorSchedule, type ScheduleFacts } from "../domain/Scheduling.ts"
import type { Role, User, UserId } from "../domain/User.ts"
import { ChangeLog } from "./ChangeLog.ts"
import type { Page } from "./Page.ts"
import { classified, isViolation, UNIQUE_VIOLATION } from "./SqlErrors.ts"
import { UserRepo } from "./UserRepo.ts"

const decodeAppointments = Schema.decodeUnknown(Schema.Array(Appointment))
const decodeTasks = Schema.decodeUnknown(Schema.Array(BackgroundTask))
const decodeTaskJson = Schema.decodeUnknown(BackgroundTaskJson)
const decodeSchedules = Schema.decodeUnknown(Schema.Array(DoctorSchedule))

/** An appointment with the people and the schedule it names, as the seed's answers show it. */
export interface AppointmentParties {
  readonly appointment: Appointment
  readonly patient: User | null
  readonly doctor: User | null
  readonly schedule: DoctorSchedule | null
}

export interface Booked extends AppointmentParties {
  readonly task: BackgroundTask
}

export interface BookingOptions {
  /** Seed 004 v2's rule: every booking names a doctor's schedule. */
  readonly scheduleRequired: boolean
}

/** Whether `error` is the booking rule "a patient never holds two live appointments at one time". */
export const patientBusy = (error: SqlError) => isViolation(error, UNIQUE_VIOLATION, "appointments_patient_time_key")

export class AppointmentRepo extends Effect.Service<AppointmentRepo>()("vigil/AppointmentRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const changes = yield* ChangeLog
    const users = yield* UserRepo

    const schedulesById = (ids: ReadonlyArray<number>) =>
      ids.length === 0 ? Effect.succeed([]) : sql`
        SELECT s.*, (SELECT count(*)::int FROM appointments a WHERE a.schedule_id = s.id AND a.status <> 'cancelled') AS booked
        FROM doctor_schedules s WHERE s.id = ANY(${[...new Set(ids)]}::int[])`.pipe(Effect.flatMap(decodeSchedules))

    const party = (field: "patient_id" | "doctor_id", role: Role, found: Map<number, User>, id: UserId) => {
      const user = found.get(id)
      if (user === undefined) return Effect.fail(new UserNotFound({ userId: id, role: field === "patient_id" ? "patient" : "doctor" }))
      return user.role === role ? Effect.succeed(user) : Effect.fail(new WrongRole({ field, userId: id, expected: role, actual: user.role }))
    }

    /** The schedule as the booking rules see it, locked until the booking commits; `null` when it does not exist. */
    const lockSchedule = (scheduleId: number) =>
      Effect.gen(function*() {
        const [row] = yield* sql<Omit<ScheduleFacts, "booked"> & { readonly id: number }>`
          SELECT s.id, s.is_active, s.start_time, s.end_time, s.max_patients,
                 p.user_id AS doctor_user_id, u.role AS doctor_role, u.is_active AS doctor_active
          FROM doctor_schedules s JOIN doctor_profiles p ON p.id = s.doctor_id JOIN users u ON u.id = p.user_id
          WHERE s.id = ${scheduleId} FOR UPDATE OF s`
        if (row === undefined) return null
        // Counted after the lock is held, in a statement of its own: it sees every booking committed before.
        const [{ booked }] = (yield* sql<{ booked: number }>`
          SELECT count(*)::int AS booked FROM appointments WHERE schedule_id = ${scheduleId} AND status <> 'cancelled'`) as [{ booked: number }]
        return { ...row, booked } satisfies ScheduleFacts
      })

    const book = Effect.fn("AppointmentRepo.book")(function*(input: AppointmentCreate, options: BookingOptions) {
      return yield* changes.transaction(Effect.gen(function*() {
        const found = yield* users.findMany(input.doctor_id === null ? [input.patient_id] : [input.patient_id, input.doctor_id])
        const patient = yield* party("patient_id", "patient", found, input.patient_id)
        const namedDoctor = input.doctor_id === null ? null : yield* party("doctor_id", "doctor", found, input.doctor_id)
        const schedule = input.schedule_id === null ? null : yield* lockSchedule(input.schedule_id)
        const refusal = bookingRefusal({
          now: new Date(yield* Clock.currentTimeMillis),
          scheduledTime: input.scheduled_time,
          doctorId: input.doctor_id,
          scheduleRequested: input.schedule_id !== null,
          scheduleRequired: options.scheduleRequired,
          schedule
        })
        if (refusal !== undefined) return yield* new BookingRefused({ reason: refusal })
        // The appointment and its task record in one statement.
        const rows = yield* sql<{ readonly task: unknown }>`
          WITH booked AS (
            INSERT INTO appointments ${sql.insert({
              patient_id: input.patient_id,
              // A schedule's doctor is the appointment's doctor.
              doctor_id: schedule?.doctor_user_id ?? input.doctor_id,
              schedule_id: input.schedule_id,
              scheduled_time: input.scheduled_time,
              reason: input.reason,
              notes: input.notes
            })}
            RETURNING *
          ), queued AS (
            INSERT INTO background_tasks (task_name, appointment_id) SELECT ${SCHEDULE_APPOINTMENT}, id FROM booked RETURNING *
          )
          SELECT booked.*, to_jsonb(queued) AS task FROM booked, queued`.pipe(
          Effect.catchTag("SqlError", (error): Effect.Effect<never, BookingRefused | SqlError> =>
            patientBusy(error) ? Effect.fail(new BookingRefused({ reason: BookingMessages.patientBusy })) : Effect.fail(error))
        )
        const [appointment] = yield* decodeAppointments(rows)
        const task = yield* decodeTaskJson(rows[0]!.task)
        // One change, one event: the task record is part of the booking (`task` in its data).
        yield* changes.record({
          entityType: "appointment",
          entityId: String(appointment!.id),
          action: "created",
          before: null,
          after: { ...appointmentRecord(appointment!), task: taskRecord(task) }
        })
        const doctor = namedDoctor ?? (schedule === null ? null : (yield* users.findMany([schedule.doctor_user_id])).get(schedule.doctor_user_id) ?? null)
        const [bookedSchedule] = schedule === null ? [null] : yield* schedulesById([schedule.id])
        return { appointment: appointment!, task, patient, doctor, schedule: bookedSchedule ?? null } satisfies Booked
      }))
    }, classified)

    /** Each appointment with its patient, doctor and schedule (two lookups, however many appointments). */
    const withParties = Effect.fn("AppointmentRepo.withParties")(function*(appointments: ReadonlyArray<Appointment>) {
      const people = yield* users.findMany(appointments.flatMap((a) => (a.doctor_id === null ? [a.patient_id] : [a.patient_id, a.doctor_id])))
      const schedules = new Map((yield* schedulesById(appointments.flatMap((a) => (a.schedule_id === null ? [] : [a.schedule_id])))).map((s) => [s.id as number, s]))
      return appointments.map((appointment): AppointmentParties => ({
        appointment,
        patient: people.get(appointment.patient_id) ?? null,
        doctor: appointment.doctor_id === null ? null : people.get(appointment.doctor_id) ?? null,
        schedule: appointment.schedule_id === null ? null : schedules.get(appointment.schedule_id) ?? null
      }))
    }, classified)

    const findById = Effect.fn("AppointmentRepo.findById")(function*(id: AppointmentId) {
      const rows = yield* sql`SELECT * FROM appointments WHERE id = ${id}`.pipe(Effect.flatMap(decodeAppointments))
      return Option.fromNullable(rows[0])
    }, classified)

    /** The seed's lists: a patient's or a doctor's appointments, latest scheduled first. */
    const listBy = Effect.fn("AppointmentRepo.listBy")(function*(field: "patient_id" | "doctor_id", userId: UserId, page: Page) {
      return yield* sql`
        SELECT * FROM appointments WHERE ${sql(field)} = ${userId}
        ORDER BY scheduled_time DESC, id DESC OFFSET ${page.skip} LIMIT ${page.limit}`.pipe(Effect.flatMap(decodeAppointments))
    }, classified)

    const task = Effect.fn("AppointmentRepo.task")(function*(id: TaskId) {
      const rows = yield* sql`SELECT * FROM background_tasks WHERE id = ${id}`.pipe(Effect.flatMap(decodeTasks))
      return Option.fromNullable(rows[0])
    }, classified)

    /** The seed's list: an appointment's task records, newest first. */
    const tasksOf = Effect.fn("AppointmentRepo.tasksOf")(function*(appointmentId: AppointmentId, page: Page) {
      return yield* sql`
        SELECT * FROM background_tasks WHERE appointment_id = ${appointmentId}
        ORDER BY created_at DESC, id DESC OFFSET ${page.skip} LIMIT ${page.limit}`.pipe(Effect.flatMap(decodeTasks))
    }, classified)

    /** Confirmation tasks not final and untouched since `before`: their work may never have started. */
    const stalledTasks = Effect.fn("AppointmentRepo.stalledTasks")(function*(before: Date, limit: number) {
      return yield* sql<{ id: TaskId; appointment_id: AppointmentId }>`
        SELECT id, appointment_id FROM background_tasks
        WHERE status IN ('queued', 'running') AND task_name = ${SCHEDULE_APPOINTMENT} AND appointment_id IS NOT NULL AND updated_at < ${before}
        ORDER BY id LIMIT ${limit}`
    }, classified)

    /**
     * Confirmed appointments still to come, not reminded of, whose reminder is due before
     * `scheduledBefore` (reminder lead plus how long before the time it is sent) and that no
     * reminder is set for at the time they have.
     */
    const remindersDue = Effect.fn("AppointmentRepo.remindersDue")(function*(scheduledBefore: Date, limit: number) {
      return yield* sql<{ id: AppointmentId; scheduled_time: Date }>`
        SELECT id, scheduled_time FROM appointments
        WHERE status = 'confirmed' AND reminder_sent_at IS NULL AND scheduled_time > now() AND scheduled_time < ${scheduledBefore}
          AND reminder_for IS DISTINCT FROM scheduled_time
        ORDER BY scheduled_time LIMIT ${limit}`
    }, classified)

    return { book, withParties, findById, listBy, task, tasksOf, stalledTasks, remindersDue } as const
  }),
  dependencies: [ChangeLog.Default, UserRepo.Default]
}) {}
