/**
 * The two state machines of care coordination, as pure rules:
 * - an appointment: `pending -> confirmed | cancelled`, `confirmed -> completed | cancelled`;
 *   `completed` and `cancelled` are final. Its original let any status follow any other, and its
 *   worker confirmed appointments that had been cancelled in between.
 * - its background task record: `queued -> running | failed`, `running -> succeeded | failed`;
 *   `succeeded` and `failed` are final.
 * The database holds the same rules in triggers (migration 0007), so nothing can break them;
 * these are where Vigil checks first, to answer with both statuses named.
 */
import { Schema } from "effect"

export const APPOINTMENT_STATUSES = ["pending", "confirmed", "completed", "cancelled"] as const
export type AppointmentStatus = typeof APPOINTMENT_STATUSES[number]

export const TASK_STATUSES = ["queued", "running", "succeeded", "failed"] as const
export type TaskStatus = typeof TASK_STATUSES[number]

const appointmentMoves: Record<AppointmentStatus, ReadonlyArray<AppointmentStatus>> = {
  pending: ["confirmed", "cancelled"],
  confirmed: ["completed", "cancelled"],
  completed: [],
  cancelled: []
}

const taskMoves: Record<TaskStatus, ReadonlyArray<TaskStatus>> = {
  queued: ["running", "failed"],
  running: ["succeeded", "failed"],
  succeeded: [],
  failed: []
}

/** Whether an appointment in `from` may be given status `to`; keeping its status is always allowed. */
export const canMoveAppointment = (from: AppointmentStatus, to: AppointmentStatus): boolean =>
  from === to || appointmentMoves[from].includes(to)

export const isFinalAppointment = (status: AppointmentStatus): boolean => appointmentMoves[status].length === 0

export const canMoveTask = (from: TaskStatus, to: TaskStatus): boolean => from === to || taskMoves[from].includes(to)

export const isFinalTask = (status: TaskStatus): boolean => taskMoves[status].length === 0

/** A status change the rules forbid: the answer names both statuses. */
export class StatusChangeRefused extends Schema.TaggedError<StatusChangeRefused>()("StatusChangeRefused", {
  from: Schema.Literal(...APPOINTMENT_STATUSES),
  to: Schema.Literal(...APPOINTMENT_STATUSES)
}) {
  override get message() {
    return `Appointment status cannot change from ${this.from} to ${this.to}`
  }
}

/** The event an appointment's change is published as: named by what happened to its status. */
export const appointmentEventName = (from: AppointmentStatus, to: AppointmentStatus): "updated" | "confirmed" | "completed" | "cancelled" =>
  from === to ? "updated" : to === "pending" ? "updated" : to
