/** An alert as stored and shown: one vital sign of one patient outside its bounds, until resolved. */
import { Schema } from "effect"
import { Severity } from "./Alerting.ts"
import { VitalSign } from "./VitalSign.ts"
import { PatientId } from "./Patient.ts"
import { Uuid } from "./Validation.ts"

export const AlertId = Uuid.pipe(Schema.brand("AlertId"))
export type AlertId = typeof AlertId.Type

export const AlertStatus = Schema.Literal("open", "acknowledged", "resolved")
export type AlertStatus = typeof AlertStatus.Type

export const AlertBounds = Schema.Struct({
  lower: Schema.optional(Schema.Number),
  upper: Schema.optional(Schema.Number),
  critical_lower: Schema.optional(Schema.Number),
  critical_upper: Schema.optional(Schema.Number)
})

/** An alert's fields, with dates as `date` (dates in process, ISO text on the wire). */
const alertFields = <D extends Schema.Schema<Date, any>>(date: D) => ({
  id: AlertId,
  patient_id: PatientId,
  vital_sign: VitalSign,
  severity: Severity,
  status: AlertStatus,
  peak: Schema.Number,
  count: Schema.Number,
  bounds: AlertBounds,
  first_seen: date,
  last_seen: date,
  acknowledged_at: Schema.NullOr(date),
  acknowledged_by: Schema.NullOr(Schema.String),
  /** When the alert became critical; escalation is due `ALERT_ESCALATE_AFTER` later. */
  critical_since: Schema.NullOr(date),
  escalated_at: Schema.NullOr(date),
  resolved_at: Schema.NullOr(date),
  resolved_by: Schema.NullOr(Schema.String),
  created_at: date,
  updated_at: date
})

export class Alert extends Schema.Class<Alert>("Alert")(alertFields(Schema.DateFromSelf)) {}

/** The wire form (HTTP answers, events). */
export const AlertResponse = Schema.Struct(alertFields(Schema.Date)).annotations({ identifier: "Alert" })

export class AlertNotFound extends Schema.TaggedError<AlertNotFound>()("AlertNotFound", { alertId: Schema.String }) {}

/** A manual action on an alert that its status does not allow (acknowledging a resolved alert, ...). */
export class AlertStateConflict extends Schema.TaggedError<AlertStateConflict>()("AlertStateConflict", {
  alertId: Schema.String,
  status: AlertStatus
}) {}

/**
 * An alert write found the alert no longer as its writer's state had it (another process's monitor
 * of the same patient changed it): that state is stale and must be reloaded.
 */
export class StaleAlertState extends Schema.TaggedError<StaleAlertState>()("StaleAlertState", { alertId: Schema.String }) {}
