/**
 * The Appointment entity's contract: one actor per appointment (entity id = appointment id) on
 * the durable cluster, owning its status machine and its confirmation's task record. Its
 * messages are handled one at a time, so a doctor's update and the confirmation of the same
 * appointment never interleave.
 *
 * `Update` comes from the doors and is persisted: it reaches the actor from any process (through
 * the cluster's message table) and survives a crash. The other messages come from the
 * appointment workflows, which run where the actor lives, and are volatile: the workflow's
 * activity that sends one is what is persisted, and repeats it if the process dies.
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import * as Rpc from "@effect/rpc/Rpc"
import { Schema } from "effect"
import { AppointmentChanges, AppointmentData, ConfirmOutcome, ReminderOutcome, TaskId } from "../domain/Appointment.ts"
import { StatusChangeRefused } from "../domain/AppointmentStatus.ts"
import { AppointmentClosed, AppointmentNotFound } from "../domain/CareErrors.ts"
import { DataRefused, Unavailable } from "../domain/Errors.ts"
import { BookingRefused } from "../domain/Scheduling.ts"

export const Appointment = Entity.make("Appointment", [
  /** A change of status, time, notes or findings (PATCH). */
  Rpc.make("Update", {
    payload: { changes: AppointmentChanges },
    success: AppointmentData,
    error: Schema.Union(AppointmentNotFound, StatusChangeRefused, AppointmentClosed, BookingRefused, Unavailable, DataRefused)
  }).annotate(ClusterSchema.Persisted, true),
  /** The confirmation's work: its task record to `running`, then the appointment confirmed (or the record failed). */
  Rpc.make("Confirm", {
    payload: { task_id: TaskId, reference: Schema.String },
    success: ConfirmOutcome,
    error: Unavailable
  }),
  /** A reminder is being set up for the appointment at this time; false when it no longer is at that time, confirmed. */
  Rpc.make("ArmReminder", {
    payload: { scheduled_time: Schema.Date },
    success: Schema.Boolean,
    error: Unavailable
  }),
  /** The reminder for the appointment at this time is due. */
  Rpc.make("SendReminder", {
    payload: { scheduled_time: Schema.Date },
    success: ReminderOutcome,
    error: Unavailable
  })
]).annotate(ClusterSchema.ClientTracingEnabled, false)
