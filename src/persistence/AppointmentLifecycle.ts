/**
 * SQL for what happens to an appointment after it is booked, as the Appointment actor does it:
 * updates (status, time, notes, the doctor's findings), confirmation with its task record, and
 * reminders. Each is one transaction that reads the appointment under its row lock, applies the
 * pure rules (`domain/AppointmentStatus.ts`, `domain/Scheduling.ts`) to what it read, and writes
 * with the change's audit records and events. Every step may run twice (a workflow resumed
 * after a crash repeats the step it was in): a second run finds the work done and writes nothing.
 * Locks are taken appointment first, then its task records.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Effect, Schema } from "effect"
import {
  Appointment,
  type AppointmentChanges,
  type AppointmentId,
  appointmentRecord,
  BackgroundTask,
  BackgroundTaskJson,
  ConfirmationFailures,
  type ConfirmOutcome,
  type ReminderOutcome,
  type TaskId,
  taskRecord
} from "../domain/Appointment.ts"
import { appointmentEventName, canMoveAppointment, canMoveTask, isFinalAppointment, isFinalTask, StatusChangeRefused } from "../domain/AppointmentStatus.ts"
import { AppointmentClosed, AppointmentNotFound } from "../domain/CareErrors.ts"
import { BookingMessages, BookingRefused } from "../domain/Scheduling.ts"
import { patientBusy } from "./AppointmentRepo.ts"
import { type Change, ChangeLog } from "./ChangeLog.ts"
import { classified } from "./SqlErrors.ts"

const decodeAppointments = Schema.decodeUnknown(Schema.Array(Appointment))
const decodeTasks = Schema.decodeUnknown(Schema.Array(BackgroundTask))
const decodeTaskJson = Schema.decodeUnknown(BackgroundTaskJson)

const appointmentChange = (action: string, before: Appointment | null, after: Appointment, extra: object = {}): Change => ({
  entityType: "appointment",
  entityId: String(after.id),
  action,
  before: before === null ? null : appointmentRecord(before),
  after: { ...appointmentRecord(after), ...extra }
})

const taskChange = (before: BackgroundTask, after: BackgroundTask): Change => ({
  entityType: "task",
  entityId: String(after.id),
  action: "updated",
  before: taskRecord(before),
  after: taskRecord(after)
})

export class AppointmentLifecycle extends Effect.Service<AppointmentLifecycle>()("vigil/AppointmentLifecycle", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const changes = yield* ChangeLog

    const lockAppointment = (id: AppointmentId) =>
      sql`SELECT * FROM appointments WHERE id = ${id} FOR UPDATE`.pipe(Effect.flatMap(decodeAppointments), Effect.map((rows) => rows[0]))

    const lockTask = (id: TaskId) =>
      sql`SELECT * FROM background_tasks WHERE id = ${id} FOR UPDATE`.pipe(Effect.flatMap(decodeTasks), Effect.map((rows) => rows[0]))

    const setTask = (
      task: BackgroundTask,
      status: "running" | "succeeded" | "failed",
      fields: { readonly error_message?: string; readonly external_reference?: string } = {}
    ) =>
      canMoveTask(task.status, status)
        ? sql`UPDATE background_tasks SET ${sql.update({ status, ...fields })}, updated_at = now() WHERE id = ${task.id} RETURNING *`.pipe(
          Effect.flatMap(decodeTasks),
          Effect.map(([updated]) => updated!)
        )
        : Effect.dieMessage(`task ${task.id} cannot go from ${task.status} to ${status}`)

    /** The rules a new time must keep: not in the past, inside the schedule's window when there is one. */
    const checkMove = (appointment: Appointment, to: Date) =>
      Effect.gen(function*() {
        if (isFinalAppointment(appointment.status)) {
          return yield* new AppointmentClosed({ appointmentId: appointment.id, status: appointment.status })
        }
        if (to.getTime() < (yield* Clock.currentTimeMillis)) return yield* new BookingRefused({ reason: BookingMessages.inThePast })
        if (appointment.schedule_id === null) return
        const [window] = yield* sql<{ start_time: Date; end_time: Date }>`
          SELECT start_time, end_time FROM doctor_schedules WHERE id = ${appointment.schedule_id}`
        if (window !== undefined && (to < window.start_time || to > window.end_time)) {
          return yield* new BookingRefused({ reason: BookingMessages.outsideWindow })
        }
      })

    /**
     * Applies the fields present. A status change must follow the rules; a new time must keep the
     * booking rules and clears the reminder armed or sent for the old one (the sweep starts the new
     * time's); cancelling fails the confirmation still open. A patch that changes nothing records nothing.
     */
    const update = Effect.fn("AppointmentLifecycle.update")(function*(id: AppointmentId, patch: AppointmentChanges) {
      return yield* changes.transaction(Effect.gen(function*() {
        const current = yield* lockAppointment(id)
        if (current === undefined) return yield* new AppointmentNotFound({ appointmentId: id })
        const to = patch.status ?? current.status
        if (!canMoveAppointment(current.status, to)) return yield* new StatusChangeRefused({ from: current.status, to })
        const moved = patch.scheduled_time !== undefined && patch.scheduled_time.getTime() !== current.scheduled_time.getTime()
        if (moved) yield* checkMove(current, patch.scheduled_time!)
        const fields: Record<string, unknown> = {}
        if (to !== current.status) fields.status = to
        if (moved) Object.assign(fields, { scheduled_time: patch.scheduled_time, reminder_for: null, reminder_sent_at: null })
        for (const name of ["notes", "diagnosis", "prescription"] as const) {
          if (patch[name] !== undefined && patch[name] !== current[name]) fields[name] = patch[name]
        }
        if (Object.keys(fields).length === 0) return current
        const [updated] = yield* sql`UPDATE appointments SET ${sql.update(fields)}, updated_at = now() WHERE id = ${id} RETURNING *`.pipe(
          Effect.catchTag("SqlError", (error): Effect.Effect<never, BookingRefused | SqlError> =>
            patientBusy(error) ? Effect.fail(new BookingRefused({ reason: BookingMessages.patientBusy })) : Effect.fail(error)),
          Effect.flatMap(decodeAppointments)
        )
        const recorded: Array<Change> = [appointmentChange(appointmentEventName(current.status, to), current, updated!)]
        if (to === "cancelled" && current.status !== "cancelled") {
          const open = yield* sql`
            SELECT * FROM background_tasks WHERE appointment_id = ${id} AND status IN ('queued', 'running') FOR UPDATE`.pipe(Effect.flatMap(decodeTasks))
          for (const task of open) recorded.push(taskChange(task, yield* setTask(task, "failed", { error_message: ConfirmationFailures.cancelled })))
        }
        yield* changes.recordAll(recorded)
        return updated!
      }))
    }, classified)

    /** The task record `queued -> running`, if it is queued; what it was comes back beside what it is. */
    const start = (taskId: TaskId, reference: string) =>
      Effect.gen(function*() {
        const rows = yield* sql<{ readonly before_reference: string | null; readonly before_updated_at: Date }>`
          UPDATE background_tasks t SET status = 'running', external_reference = ${reference}, updated_at = now()
          FROM (SELECT id, external_reference, updated_at FROM background_tasks WHERE id = ${taskId} AND status = 'queued' FOR UPDATE) AS before
          WHERE t.id = before.id
          RETURNING t.*, before.external_reference AS before_reference, before.updated_at AS before_updated_at`
        if (rows.length === 0) return undefined
        const [running] = yield* decodeTasks(rows)
        const queued = { ...running!, status: "queued" as const, external_reference: rows[0]!.before_reference, updated_at: rows[0]!.before_updated_at }
        return { task: running!, change: taskChange(queued, running!) }
      })

    /**
     * The confirmation's work, in one transaction: its task record moves to `running`, then the
     * appointment is confirmed and the record marked `succeeded`, or the record is marked `failed`
     * with the reason: the appointment is gone, was cancelled, or its schedule's places are all
     * confirmed (its `max_patients` was lowered since the booking). A task record already final
     * answers what it records, and nothing is written again. (`reference`: the work's id.)
     */
    const confirm = Effect.fn("AppointmentLifecycle.confirm")(function*(appointmentId: AppointmentId, taskId: TaskId, reference: string) {
      return yield* changes.transaction(Effect.gen(function*() {
        const appointment = yield* lockAppointment(appointmentId)
        const started = yield* start(taskId, reference)
        const task = started === undefined ? yield* lockTask(taskId) : started.task
        if (task === undefined) return { _tag: "Failed", reason: "Task not found" } satisfies ConfirmOutcome
        if (isFinalTask(task.status)) {
          return task.status === "succeeded" && appointment !== undefined
            ? { _tag: "Confirmed", scheduled_time: appointment.scheduled_time, already: true } satisfies ConfirmOutcome
            : { _tag: "Failed", reason: task.error_message ?? ConfirmationFailures.missing } satisfies ConfirmOutcome
        }
        const recorded: Array<Change> = started === undefined ? [] : [started.change]
        const finish = (status: "succeeded" | "failed", reason?: string) =>
          Effect.gen(function*() {
            recorded.push(taskChange(task, yield* setTask(task, status, reason === undefined ? {} : { error_message: reason })))
            yield* changes.recordAll(recorded)
          })
        const fail = (reason: string) => Effect.as(finish("failed", reason), { _tag: "Failed", reason } satisfies ConfirmOutcome)
        if (appointment === undefined) return yield* fail(ConfirmationFailures.missing)
        if (appointment.status === "cancelled") return yield* fail(ConfirmationFailures.cancelled)
        if (appointment.status !== "pending") {
          yield* finish("succeeded")
          return { _tag: "Confirmed", scheduled_time: appointment.scheduled_time, already: true } satisfies ConfirmOutcome
        }
        if (appointment.schedule_id !== null) {
          // The schedule's row is locked first, and its confirmed places counted after, in a
          // statement of their own: two confirmations into its last place go one after the other.
          const [schedule] = yield* sql<{ max_patients: number }>`
            SELECT max_patients FROM doctor_schedules WHERE id = ${appointment.schedule_id} FOR UPDATE`
          if (schedule !== undefined) {
            const [{ confirmed }] = (yield* sql<{ confirmed: number }>`
              SELECT count(*)::int AS confirmed FROM appointments
              WHERE schedule_id = ${appointment.schedule_id} AND status IN ('confirmed', 'completed')`) as [{ confirmed: number }]
            if (confirmed >= schedule.max_patients) return yield* fail(ConfirmationFailures.fullyBooked)
          }
        }
        // Both in one statement: the appointment confirmed, its record succeeded.
        const rows = yield* sql<{ readonly task: unknown }>`
          WITH succeeded AS (UPDATE background_tasks SET status = 'succeeded', updated_at = now() WHERE id = ${taskId} RETURNING *)
          UPDATE appointments SET status = 'confirmed', updated_at = now() WHERE id = ${appointmentId}
          RETURNING appointments.*, (SELECT to_jsonb(succeeded) FROM succeeded) AS task`
        const [confirmed] = yield* decodeAppointments(rows)
        recorded.push(appointmentChange("confirmed", appointment, confirmed!), taskChange(task, yield* decodeTaskJson(rows[0]!.task)))
        yield* changes.recordAll(recorded)
        return { _tag: "Confirmed", scheduled_time: confirmed!.scheduled_time, already: false } satisfies ConfirmOutcome
      }))
    }, classified)

    /** Notes that a reminder is armed for `time`; false when the appointment is no longer confirmed for it. */
    const armReminder = Effect.fn("AppointmentLifecycle.armReminder")(function*(id: AppointmentId, time: Date) {
      const rows = yield* sql`
        UPDATE appointments SET reminder_for = ${time}
        WHERE id = ${id} AND status = 'confirmed' AND scheduled_time = ${time} AND reminder_sent_at IS NULL
        RETURNING id`
      return rows.length > 0
    }, classified)

    /**
     * The reminder for the appointment at `time`: `appointment.reminder_due`, once, if it is still
     * confirmed for that time and the time is still to come. Never for a cancelled appointment.
     */
    const sendReminder = Effect.fn("AppointmentLifecycle.sendReminder")(function*(id: AppointmentId, time: Date, remindBeforeSeconds: number) {
      return yield* changes.transaction(Effect.gen(function*() {
        const current = yield* lockAppointment(id)
        const outcome: ReminderOutcome = current === undefined || current.status !== "confirmed"
          ? "not-confirmed"
          : current.scheduled_time.getTime() !== time.getTime()
          ? "rescheduled"
          : current.reminder_sent_at !== null
          ? "already-sent"
          : time.getTime() <= (yield* Clock.currentTimeMillis)
          ? "past"
          : "sent"
        if (outcome !== "sent") return outcome
        const [reminded] = yield* sql`UPDATE appointments SET reminder_sent_at = now() WHERE id = ${id} RETURNING *`.pipe(Effect.flatMap(decodeAppointments))
        yield* changes.record(appointmentChange("reminder_due", current!, reminded!, { remind_before_seconds: remindBeforeSeconds }))
        return outcome
      }))
    }, classified)

    return { update, confirm, armReminder, sendReminder } as const
  }),
  dependencies: [ChangeLog.Default]
}) {}
