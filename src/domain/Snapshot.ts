/**
 * A patient's monitoring snapshot: the bounds in force, the latest value of each vital sign, the
 * active alerts, and how far the patient's readings have been evaluated. The PatientMonitor
 * answers it in process (dates as dates); the HTTP contract serves it (dates as ISO text).
 */
import { Schema } from "effect"
import { Alert, AlertBounds } from "./Alert.ts"
import { VitalSign } from "./VitalSign.ts"

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
