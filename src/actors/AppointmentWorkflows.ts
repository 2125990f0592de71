/**
 * The appointment workflows (`@effect/workflow` on the durable cluster): what seed 004 did with a
 * Celery task, made to survive crashes and to respect the status rules.
 *
 * - `ConfirmAppointment` (one per task record): waits `APPOINTMENT_CONFIRM_DELAY` (a durable
 *   sleep), then in one activity has the Appointment actor move the task record to `running` and
 *   confirm the appointment with the record `succeeded` (or `failed`, with why). If the appointment
 *   was confirmed, it then waits until `APPOINTMENT_REMINDER_BEFORE` before the appointment and
 *   has the reminder sent.
 * - `AppointmentReminder` (one per appointment and time): the reminder of an appointment moved to
 *   another time after it was confirmed.
 *
 * A process killed at any point resumes the workflow where it was: completed activities are not
 * run again, the one in flight is, and each actor step finds its work done when it was (see
 * `persistence/AppointmentLifecycle.ts`). A step that finds the database unavailable retries,
 * with a back-off, until it is back; it is never given up.
 */
import type * as Sharding from "@effect/cluster/Sharding"
import * as Activity from "@effect/workflow/Activity"
import * as DurableClock from "@effect/workflow/DurableClock"
import * as Workflow from "@effect/workflow/Workflow"
import type { WorkflowEngine } from "@effect/workflow/WorkflowEngine"
import { Clock, Duration, Effect, Layer, Schedule, Schema } from "effect"
import { AppointmentId, ConfirmOutcome, ReminderOutcome, TaskId } from "../domain/Appointment.ts"
import type { Unavailable } from "../domain/Errors.ts"
import { callActor } from "./ActorCalls.ts"
import { Appointment } from "./Appointment.ts"
import { CareConfig } from "./CareConfig.ts"

export const ConfirmAppointment = Workflow.make({
  name: "ConfirmAppointment",
  payload: { appointment_id: AppointmentId, task_id: TaskId },
  idempotencyKey: ({ task_id }) => String(task_id)
})

export const AppointmentReminder = Workflow.make({
  name: "AppointmentReminder",
  payload: { appointment_id: AppointmentId, scheduled_time: Schema.Date },
  idempotencyKey: ({ appointment_id, scheduled_time }) => `${appointment_id}@${scheduled_time.toISOString()}`
})

/** Until the database answers again: quickly at first, then every 30 seconds. */
const untilAvailable = <A, R>(step: Effect.Effect<A, Unavailable, R>): Effect.Effect<A, never, R> =>
  step.pipe(
    Effect.tapError((error) => Effect.logWarning("appointment workflow step deferred", error.reason)),
    Effect.retry(Schedule.exponential("200 millis", 2).pipe(Schedule.union(Schedule.spaced("30 seconds")))),
    Effect.orDie
  )

export const layer: Layer.Layer<never, never, WorkflowEngine | Sharding.Sharding> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* Effect.orDie(CareConfig)
    const appointments = yield* Appointment.client

    /** Sleeps (durably) until the reminder of the appointment at `time` is due, then has it sent. */
    const remind = (appointmentId: AppointmentId, time: Date) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const due = time.getTime() - Duration.toMillis(config.reminderBefore)
        const name = `reminder/${time.toISOString()}`
        yield* DurableClock.sleep({ name, duration: Duration.millis(Math.max(0, due - now)) })
        yield* Activity.make({
          name,
          success: ReminderOutcome,
          execute: untilAvailable(callActor(appointments(String(appointmentId)).SendReminder({ scheduled_time: time })))
        })
      })

    const confirmation = ConfirmAppointment.toLayer(Effect.fn(function*(payload, executionId) {
      yield* DurableClock.sleep({ name: "confirm-delay", duration: config.confirmDelay })
      const outcome = yield* Activity.make({
        name: "confirm",
        success: ConfirmOutcome,
        execute: untilAvailable(callActor(appointments(String(payload.appointment_id)).Confirm({
          task_id: payload.task_id,
          reference: `ConfirmAppointment/${executionId}`
        })))
      })
      if (outcome._tag === "Confirmed") yield* remind(payload.appointment_id, outcome.scheduled_time)
    }))

    const reminder = AppointmentReminder.toLayer(Effect.fn(function*(payload) {
      const armed = yield* Activity.make({
        name: "arm",
        success: Schema.Boolean,
        execute: untilAvailable(callActor(appointments(String(payload.appointment_id)).ArmReminder({ scheduled_time: payload.scheduled_time })))
      })
      if (armed) yield* remind(payload.appointment_id, payload.scheduled_time)
    }))

    return Layer.mergeAll(confirmation, reminder)
  })
)
