/**
 * The PatientMonitor entity's contract: one actor per patient (entity id = patient id), owning
 * the patient's latest vital signs, its active alerts and the alert rules' counters. Readings
 * reach it after they are committed (volatile messages: their durability is the commit).
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import * as Rpc from "@effect/rpc/Rpc"
import { Schema } from "effect"
import { Alert, AlertNotFound, AlertStateConflict } from "../domain/Alert.ts"
import { Unavailable } from "../domain/Errors.ts"
import { Snapshot } from "../domain/Snapshot.ts"
import { vitalValueFields } from "../domain/VitalSign.ts"

/** A committed reading, as the monitor receives it (in process, so dates stay dates). */
export const Reading = Schema.Struct({
  id: Schema.String,
  seq: Schema.Number,
  measured_at: Schema.DateFromSelf,
  ...vitalValueFields
})
export type Reading = typeof Reading.Type

export const AlertChanges = Schema.Struct({
  raised: Schema.Array(Alert),
  updated: Schema.Array(Alert),
  resolved: Schema.Array(Alert)
})
export type AlertChanges = typeof AlertChanges.Type

const AlertCommand = { alert_id: Schema.String, by: Schema.String }

export const PatientMonitor = Entity.make("PatientMonitor", [
  Rpc.make("RecordVitals", {
    payload: { readings: Schema.Array(Reading) },
    success: AlertChanges,
    error: Unavailable
  }),
  Rpc.make("GetSnapshot", { success: Snapshot, error: Unavailable }),
  /**
   * Evaluates, in `seq` order, every reading stored after what this monitor has evaluated: sent
   * when the NATS ingest moves to another process, before it evaluates anything new, for the
   * readings the process that stopped stored but did not get to evaluate.
   */
  Rpc.make("CatchUp", { success: AlertChanges, error: Unavailable }),
  Rpc.make("AcknowledgeAlert", {
    payload: AlertCommand,
    success: Alert,
    error: Schema.Union(Unavailable, AlertNotFound, AlertStateConflict)
  }),
  Rpc.make("ResolveAlert", {
    payload: AlertCommand,
    success: Alert,
    error: Schema.Union(Unavailable, AlertNotFound, AlertStateConflict)
  }),
  /** Marks an unacknowledged critical alert escalated; false when it no longer qualifies. */
  Rpc.make("EscalateAlert", {
    payload: { alert_id: Schema.String },
    success: Schema.Boolean,
    error: Unavailable
  })
  // A span per reading batch would cost more than the evaluation; the callers log their failures.
]).annotate(ClusterSchema.ClientTracingEnabled, false)
