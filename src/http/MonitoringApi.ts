/**
 * The monitoring contract: vital signs in (seed 002's `POST /store-vitals`, device readings over
 * HTTP), vital signs and snapshots out, and the alerts they raise.
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Either, ParseResult, Schema } from "effect"
import { AlertResponse, AlertStatus } from "../domain/Alert.ts"
import { Severity } from "../domain/Alerting.ts"
import { VitalSign } from "../domain/VitalSign.ts"
import { DeviceId } from "../domain/Device.ts"
import { KeysetCursor, type KeysetKey } from "../domain/Keyset.ts"
import { PatientId } from "../domain/Patient.ts"
import { snapshotFields } from "../domain/Snapshot.ts"
import { BoundedText, ErrorType, Timestamp, Uuid } from "../domain/Validation.ts"
import { DeviceReading, StoreVitalsRequest, VitalReadingResponse } from "../domain/Vitals.ts"
import { Limit, UtcTime } from "./Params.ts"
import { ConflictResponse, NotFoundResponse } from "./Errors.ts"


export const StoreVitalsResponse = Schema.Struct({
  success: Schema.Literal(true),
  records_stored: Schema.Number,
  timestamp: UtcTime
}).annotations({ identifier: "StoreVitalsResponse" })

const AlertChangesResponse = Schema.Struct({
  raised: Schema.Array(AlertResponse),
  updated: Schema.Array(AlertResponse),
  resolved: Schema.Array(AlertResponse)
})

export const ReadingAccepted = Schema.Struct({
  status: Schema.Literal("stored", "duplicate"),
  reading_id: Schema.String,
  patient_id: Schema.NullOr(Schema.String),
  alerts: AlertChangesResponse
}).annotations({ identifier: "ReadingAccepted" })

/** A list's cursor: refused with one message whatever is wrong with it (it is opaque to clients). */
const cursorOf = (key: KeysetKey, list: string) => {
  const cursor = KeysetCursor[key]
  const decode = ParseResult.decodeUnknownEither(cursor)
  const encode = ParseResult.encodeUnknownEither(cursor)
  const message = `Value error, not a cursor of ${list}: pass next_cursor from the previous page of the same list`
  return BoundedText(512).pipe(
    Schema.transformOrFail(Schema.typeSchema(cursor), {
      strict: true,
      decode: (text, _, ast) => Either.mapLeft(decode(text), () => new ParseResult.Type(ast, text, message)),
      encode: (position, _, ast) => Either.mapLeft(encode(position), () => new ParseResult.Type(ast, position, "not a cursor position"))
    }),
    Schema.annotations({ [ErrorType]: "value_error", description: `next_cursor of the previous page of ${list}` })
  )
}

export const VitalsQuery = Schema.Struct({
  from: Schema.optional(Timestamp),
  to: Schema.optional(Timestamp),
  vital_sign: Schema.optional(VitalSign.annotations({ [ErrorType]: "literal_error", message: () => `Input should be one of ${VitalSign.literals.join(", ")}` })),
  cursor: Schema.optional(cursorOf("measured_at", "the patient's vitals")),
  limit: Limit
})

export const AlertsQuery = Schema.Struct({
  patient_id: Schema.optional(Uuid),
  status: Schema.optional(AlertStatus.annotations({ [ErrorType]: "literal_error", message: () => "Input should be 'open', 'acknowledged' or 'resolved'" })),
  severity: Schema.optional(Severity.annotations({ [ErrorType]: "literal_error", message: () => "Input should be 'warning' or 'critical'" })),
  vital_sign: Schema.optional(VitalSign.annotations({ [ErrorType]: "literal_error", message: () => `Input should be one of ${VitalSign.literals.join(", ")}` })),
  from: Schema.optional(Timestamp),
  to: Schema.optional(Timestamp),
  cursor: Schema.optional(cursorOf("created_at", "alerts")),
  limit: Limit
})

export const SnapshotResponse = Schema.Struct(snapshotFields(UtcTime, AlertResponse)).annotations({ identifier: "PatientSnapshot" })

/** The dashboard's view of the ward. */
const VitalSeries = Schema.Struct({
  minutes: Schema.Array(Schema.String).annotations({ description: "Each minute of the window with readings (ISO time)" }),
  values: Schema.partial(Schema.Record({ key: VitalSign, value: Schema.Array(Schema.NullOr(Schema.Number)) }))
    .annotations({ description: "Per vital sign, the minute's mean (null: no reading of that sign in that minute)" })
})
export const WardPatient = Schema.Struct({
  patient_id: Schema.String,
  name: Schema.String,
  latest: Schema.partial(Schema.Record({ key: VitalSign, value: Schema.Struct({ value: Schema.Number, measured_at: Schema.String }) })),
  series: VitalSeries,
  active_alerts: Schema.Array(AlertResponse)
}).annotations({ identifier: "WardPatient" })
export const WardResponse = Schema.Struct({
  generated_at: UtcTime,
  window_minutes: Schema.Number,
  patients: Schema.Array(WardPatient)
}).annotations({ identifier: "Ward" })
export const WardQuery = Schema.Struct({
  window_minutes: Schema.optionalWith(
    Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1440)).annotations({
      [ErrorType]: "value_error",
      message: () => "Value error, window_minutes must be a whole number from 1 to 1440"
    }),
    { default: () => 60 }
  )
})

const AlertPath = Schema.Struct({ alert_id: Uuid })
const PatientPath = Schema.Struct({ patient_id: PatientId })

export class MonitoringGroup extends HttpApiGroup.make("monitoring")
  .add(
    HttpApiEndpoint.post("storeVitals", "/store-vitals")
      .setPayload(StoreVitalsRequest)
      .addSuccess(StoreVitalsResponse)
      .annotate(OpenApi.Description, "Seed 002: stores a batch of trial vitals in one transaction, creating trial subjects by SubjectID")
  )
  .add(
    HttpApiEndpoint.post("recordReading", "/api/v1/devices/:device_id/readings")
      .setPath(Schema.Struct({ device_id: DeviceId }))
      .setPayload(DeviceReading)
      .addSuccess(ReadingAccepted, { status: 201 })
      .addError(NotFoundResponse)
      .addError(ConflictResponse)
      .annotate(OpenApi.Description, "A device's reading over HTTP, as over NATS; a repeated reading_id is stored once")
  )
  .add(
    HttpApiEndpoint.get("vitals", "/api/v1/patients/:patient_id/vitals")
      .setPath(PatientPath)
      .setUrlParams(VitalsQuery)
      .addSuccess(Schema.Struct({ items: Schema.Array(VitalReadingResponse), next_cursor: Schema.NullOr(Schema.String) }))
      .addError(NotFoundResponse)
  )
  .add(
    HttpApiEndpoint.get("snapshot", "/api/v1/patients/:patient_id/snapshot")
      .setPath(PatientPath)
      .addSuccess(SnapshotResponse)
      .addError(NotFoundResponse)
  )
  .add(
    HttpApiEndpoint.get("alerts", "/api/v1/alerts")
      .setUrlParams(AlertsQuery)
      .addSuccess(Schema.Struct({ items: Schema.Array(AlertResponse), next_cursor: Schema.NullOr(Schema.String) }))
  )
  .add(HttpApiEndpoint.get("alert", "/api/v1/alerts/:alert_id").setPath(AlertPath).addSuccess(AlertResponse).addError(NotFoundResponse))
  .add(
    HttpApiEndpoint.post("acknowledge", "/api/v1/alerts/:alert_id/acknowledge")
      .setPath(AlertPath)
      .addSuccess(AlertResponse)
      .addError(NotFoundResponse)
      .addError(ConflictResponse)
  )
  .add(
    HttpApiEndpoint.post("resolve", "/api/v1/alerts/:alert_id/resolve")
      .setPath(AlertPath)
      .addSuccess(AlertResponse)
      .addError(NotFoundResponse)
      .addError(ConflictResponse)
  )
  .add(
    HttpApiEndpoint.get("ward", "/api/v1/ward")
      .setUrlParams(WardQuery)
      .addSuccess(WardResponse)
      .annotate(OpenApi.Description, "Every monitored patient (a device linked, or a reading in the window): latest vitals, the window per minute, alerts not resolved. The dashboard's data")
  )
  .annotate(OpenApi.Description, "Vital signs in, alerts out")
{}
