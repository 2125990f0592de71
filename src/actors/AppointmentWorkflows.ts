/**
 * The appointment workflows (`@effect/workflow` on the durable cluster): what seed 004 did with a
 * Celery task, made to survive crashes and to respect the status rules.
 *
 * - `ConfirmAppointment` (one per task record, started by the booking): waits
 *   `APPOINTMENT_CONFIRM_DELAY` (a durable sleep), then has the Appointment actor move the task
 *   record to `running` and confirm the appointment with the record `succeeded` (or `failed`,
 *   with why).
 * - `AppointmentReminder` (one per appointment and time, started by the recovery sweep shortly
 *   before the reminder is due, `CareSweeps.ts`): notes that it reminds of that time, sleeps
 *   (durably) until `APPOINTMENT_REMINDER_BEFORE` before it, and has the reminder sent, if the
 *   appointment is still confirmed for that time.
 *
 * A reminder's workflow starts shortly before it is due rather than at the confirmation: a booking
 * pays for its confirmation only (the reminder of an appointment months ahead is no sleeping
 * workflow, and no message every poll of the cluster's tables has to pass over), and a moved or
 * cancelled appointment needs nothing undone: the sweep sees its time as it is.
 *
 * The steps are not `Activity`s, on purpose: each is idempotent and keeps its own result in the
 * records it changes (the task record's final status and `error_message`; `reminder_for` and
 * `reminder_sent_at`; see `persistence/AppointmentLifecycle.ts`). A step run again (the workflow
 * resumed after a crash, or replayed after its sleep) reads that result and writes nothing. An
 * activity would persist the same result a second time, at a cost measured at a quarter of a
 * booking's CPU (`npm run bench:appointments`; docs/cluster.md). What the workflow engine gives
 * here is the durable start, the durable sleeps and the resumption of what a crash interrupted.
 *
 * Every sleep is a message to the workflow's durable clock, even a short one (the library would
 * sleep in memory under a minute): a process that dies sleeping wakes on time after its restart,
 * and the tests take the path production takes, replay included. A step that finds the database
 * unavailable retries, with a back-off, until it is back.
 */
import type * as Sharding from "@effect/cluster/Sharding"
import * as DurableClock from "@effect/workflow/DurableClock"
import * as Workflow from "@effect/workflow/Workflow"
import type { WorkflowEngine } from "@effect/workflow/WorkflowEngine"
import { Clock, Duration, Effect, Layer, Schedule, Schema } from "effect"
import { AppointmentId, TaskId } from "../domain/Appointment.ts"
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

    const confirmation = ConfirmAppointment.toLayer(Effect.fn(function*(payload, executionId) {
      yield* DurableClock.sleep({ name: "confirm-delay", duration: config.confirmDelay, inMemoryThreshold: Duration.zero })
      yield* untilAvailable(callActor(appointments(String(payload.appointment_id)).Confirm({
        task_id: payload.task_id,
        reference: `ConfirmAppointment/${executionId}`
      })))
    }))

    const reminder = AppointmentReminder.toLayer(Effect.fn(function*({ appointment_id, scheduled_time }) {
      const appointment = appointments(String(appointment_id))
      const armed = yield* untilAvailable(callActor(appointment.ArmReminder({ scheduled_time })))
      if (!armed) return
      const due = scheduled_time.getTime() - Duration.toMillis(config.reminderBefore)
      const now = yield* Clock.currentTimeMillis
      yield* DurableClock.sleep({ name: "reminder", duration: Duration.millis(Math.max(0, due - now)), inMemoryThreshold: Duration.zero })
      yield* untilAvailable(callActor(appointment.SendReminder({ scheduled_time })))
    }))

    return Layer.mergeAll(confirmation, reminder)
  })
)
