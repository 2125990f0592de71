/** An alert as stored and shown: one vital sign of one patient outside its bounds, until resolved. */
import { Schema } from "effect"
import { Severity, VitalSign } from "./Alerting.ts"
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

export class Alert extends Schema.Class<Alert>("Alert")({
  id: AlertId,
  patient_id: PatientId,
  vital_sign: VitalSign,
  severity: Severity,
  status: AlertStatus,
  peak: Schema.Number,
  count: Schema.Number,
  bounds: AlertBounds,
  first_seen: Schema.DateFromSelf,
  last_seen: Schema.DateFromSelf,
  acknowledged_at: Schema.NullOr(Schema.DateFromSelf),
  acknowledged_by: Schema.NullOr(Schema.String),
  critical_since: Schema.NullOr(Schema.DateFromSelf),
  escalated_at: Schema.NullOr(Schema.DateFromSelf),
  resolved_at: Schema.NullOr(Schema.DateFromSelf),
  resolved_by: Schema.NullOr(Schema.String),
  created_at: Schema.DateFromSelf,
  updated_at: Schema.DateFromSelf
}) {}

/** The wire form (HTTP answers, events). */
export const AlertResponse = Schema.Struct({
  id: Schema.String,
  patient_id: Schema.String,
  vital_sign: VitalSign,
  severity: Severity,
  status: AlertStatus,
  peak: Schema.Number,
  count: Schema.Number,
  bounds: AlertBounds,
  first_seen: Schema.Date,
  last_seen: Schema.Date,
  acknowledged_at: Schema.NullOr(Schema.Date),
  acknowledged_by: Schema.NullOr(Schema.String),
  /** When the alert became critical; escalation is due `ALERT_ESCALATE_AFTER` later. */
  critical_since: Schema.NullOr(Schema.Date),
  escalated_at: Schema.NullOr(Schema.Date),
  resolved_at: Schema.NullOr(Schema.Date),
  resolved_by: Schema.NullOr(Schema.String),
  created_at: Schema.Date,
  updated_at: Schema.Date
}).annotations({ identifier: "Alert" })

export class AlertNotFound extends Schema.TaggedError<AlertNotFound>()("AlertNotFound", { alertId: Schema.String }) {}

/** A manual action on an alert that its status does not allow (acknowledging a resolved alert, ...). */
export class AlertStateConflict extends Schema.TaggedError<AlertStateConflict>()("AlertStateConflict", {
  alertId: Schema.String,
  status: AlertStatus
}) {}
