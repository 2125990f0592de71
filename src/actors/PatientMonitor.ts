/**
 * The PatientMonitor entity's contract: one actor per patient (entity id = patient id), owning
 * the patient's latest vital signs, its active alerts and the alert rules' counters. Readings
 * reach it after they are committed (volatile messages: their durability is the commit).
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import * as Rpc from "@effect/rpc/Rpc"
import { Schema } from "effect"
import { Alert, AlertBounds, AlertNotFound, AlertStateConflict } from "../domain/Alert.ts"
import { VitalSign } from "../domain/Alerting.ts"

/** The actor could not load or save its state; the caller may retry. */
export class MonitorUnavailable extends Schema.TaggedError<MonitorUnavailable>()("MonitorUnavailable", {
  reason: Schema.String
}) {}

const Nullable = Schema.NullOr(Schema.Number)

/** A committed reading, as the monitor receives it (in-process, so dates stay dates). */
export const Reading = Schema.Struct({
  id: Schema.String,
  seq: Schema.Number,
  measured_at: Schema.DateFromSelf,
  heart_rate: Nullable,
  spo2: Nullable,
  temperature: Nullable,
  systolic_bp: Nullable,
  diastolic_bp: Nullable,
  respiratory_rate: Nullable
})

export const AlertChanges = Schema.Struct({
  raised: Schema.Array(Alert),
  updated: Schema.Array(Alert),
  resolved: Schema.Array(Alert)
})
export type AlertChanges = typeof AlertChanges.Type

/** A snapshot's fields, with dates as `date` and alerts as `alert` (in process, or on the wire). */
export const snapshotFields = <D extends Schema.Schema<Date, any>, A extends Schema.Schema.Any>(date: D, alert: A) => ({
  patient_id: Schema.String,
  profile: Schema.Literal("patient", "default"),
  bounds: Schema.Record({ key: VitalSign, value: AlertBounds }),
  latest: Schema.partial(Schema.Record({ key: VitalSign, value: Schema.Struct({ value: Schema.Number, measured_at: date }) })),
  active_alerts: Schema.Array(alert),
  /** `seq` of the last reading evaluated. */
  evaluated_through: Schema.Number
})

export const Snapshot = Schema.Struct(snapshotFields(Schema.DateFromSelf, Alert))
export type Snapshot = typeof Snapshot.Type

const AlertCommand = { alert_id: Schema.String, by: Schema.String }

export const PatientMonitor = Entity.make("PatientMonitor", [
  Rpc.make("RecordVitals", {
    payload: { readings: Schema.Array(Reading) },
    success: AlertChanges,
    error: MonitorUnavailable
  }),
  Rpc.make("GetSnapshot", { success: Snapshot, error: MonitorUnavailable }),
  Rpc.make("AcknowledgeAlert", {
    payload: AlertCommand,
    success: Alert,
    error: Schema.Union(MonitorUnavailable, AlertNotFound, AlertStateConflict)
  }),
  Rpc.make("ResolveAlert", {
    payload: AlertCommand,
    success: Alert,
    error: Schema.Union(MonitorUnavailable, AlertNotFound, AlertStateConflict)
  }),
  /** Marks an unacknowledged critical alert escalated; false when it no longer qualifies. */
  Rpc.make("EscalateAlert", {
    payload: { alert_id: Schema.String },
    success: Schema.Boolean,
    error: MonitorUnavailable
  })
  // A span per reading batch would cost more than the evaluation; the handlers log their failures.
]).annotate(ClusterSchema.ClientTracingEnabled, false)
