/**
 * Vital-sign readings: what a device, a trial batch or a measurement API may send, and the one
 * shape Vigil stores. The ranges here are physiological plausibility, not normality: a value
 * outside them cannot be a real measurement and is refused; a value inside them but abnormal is
 * stored and alerted on (the patient's threshold profile decides what is abnormal).
 */
import { Schema } from "effect"
import { DeviceId } from "./Device.ts"
import { PatientId } from "./Patient.ts"
import { BoundedText, ErrorType, FiniteNumber, Timestamp, Uuid, atLeast, atMost } from "./Validation.ts"
import { noVitalValues, perVitalSign, plausibleRanges, type VitalSign, vitalSigns, type VitalValues, vitalValueFields } from "./VitalSign.ts"

export const ReadingId = Uuid.pipe(Schema.brand("ReadingId"))
export type ReadingId = typeof ReadingId.Type

export const Plausible = (sign: VitalSign) => FiniteNumber.pipe(atLeast(plausibleRanges[sign][0]), atMost(plausibleRanges[sign][1]))
/** Seed 002's integer fields (pydantic `int`: 120.0 passes, 120.5 does not). */
const PlausibleInt = (sign: VitalSign) =>
  FiniteNumber.pipe(
    Schema.int({ [ErrorType]: "int_from_float", message: () => "Input should be a valid integer, got a number with a fractional part" }),
    atLeast(plausibleRanges[sign][0]),
    atMost(plausibleRanges[sign][1])
  )
export const WeightKg = FiniteNumber.pipe(Schema.greaterThan(0, { [ErrorType]: "greater_than", message: () => "Input should be greater than 0" }), atMost(700))
export const HeightCm = FiniteNumber.pipe(Schema.greaterThan(0, { [ErrorType]: "greater_than", message: () => "Input should be greater than 0" }), atMost(300))

/** A measurement's time: a timestamp, from 1900 on (earlier is a device's unset clock). */
export const MeasurementTime = Timestamp.pipe(
  Schema.filter((date) => date.getUTCFullYear() >= 1900, {
    [ErrorType]: "value_error",
    message: () => "Value error, a measurement time before 1900"
  })
)

/** How far in the future a reading's own time may lie (clock skew between a device and Vigil). */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000

/** The checks a reading makes as a whole, each reported on the field it concerns. */
const readingRules = (reading: { readonly measured_at?: Date | undefined } & { readonly [K in VitalSign]?: number | undefined }) => {
  if (!vitalSigns.some((sign) => reading[sign] !== undefined)) {
    return { path: [], message: `Value error, a reading needs at least one of ${vitalSigns.join(", ")}` }
  }
  if (reading.measured_at !== undefined && reading.measured_at.getTime() > Date.now() + MAX_CLOCK_SKEW_MS) {
    return { path: ["measured_at"], message: "Value error, measured_at lies in the future" }
  }
  return true
}

/**
 * A device's reading, over NATS (`vigil.ingest.vitals.<deviceId>`) or HTTP
 * (`POST /api/v1/devices/{id}/readings`). `reading_id` makes retries safe.
 */
export const DeviceReading = Schema.Struct({
  reading_id: ReadingId,
  measured_at: Schema.optional(MeasurementTime),
  ...perVitalSign((sign) => Schema.optional(Plausible(sign)))
}).pipe(Schema.filter(readingRules, { [ErrorType]: "value_error" }), Schema.annotations({ identifier: "DeviceReading" }))
export type DeviceReading = typeof DeviceReading.Type

/** One record of seed 002's `POST /store-vitals`. `ReadingID` (Vigil's addition) makes retries safe. */
export const TrialVitalsRecord = Schema.Struct({
  SubjectID: BoundedText(100).pipe(Schema.minLength(1, { [ErrorType]: "string_too_short", message: () => "String should have at least 1 character" })),
  VisitName: BoundedText(100),
  TreatmentArm: BoundedText(100),
  SystolicBP: PlausibleInt("systolic_bp"),
  DiastolicBP: PlausibleInt("diastolic_bp"),
  HeartRate: PlausibleInt("heart_rate"),
  Temperature: Plausible("temperature"),
  ReadingID: Schema.optional(ReadingId),
  MeasuredAt: Schema.optional(MeasurementTime)
}).pipe(
  Schema.filter((r) => r.MeasuredAt === undefined || r.MeasuredAt.getTime() <= Date.now() + MAX_CLOCK_SKEW_MS ||
    { path: ["MeasuredAt"], message: "Value error, MeasuredAt lies in the future" }, { [ErrorType]: "value_error" }),
  Schema.annotations({ identifier: "VitalsRecord" })
)
export type TrialVitalsRecord = typeof TrialVitalsRecord.Type

export const StoreVitalsRequest = Schema.Struct({
  records: Schema.Array(TrialVitalsRecord).pipe(Schema.maxItems(10_000, {
    [ErrorType]: "too_long",
    message: () => "List should have at most 10000 items"
  }))
}).annotations({ identifier: "StoreVitalsRequest" })

export type Source = "device" | "trial" | "measurement" | "api"

/** A reading as stored: one measurement set, any vital sign may be missing. */
export interface VitalReading extends VitalValues {
  readonly id: ReadingId
  readonly patient_id: PatientId
  readonly device_id: DeviceId | null
  readonly source: Source
  readonly visit_name: string | null
  readonly weight_kg: number | null
  readonly height_cm: number | null
  readonly stroke: boolean | null
  readonly diabetes: boolean | null
  readonly measured_at: Date
}

/** A stored reading with its place in the store's order. */
export interface StoredReading extends VitalReading {
  readonly seq: number
}

export const emptyValues = {
  ...noVitalValues,
  weight_kg: null,
  height_cm: null,
  stroke: null,
  diabetes: null
} as const

/** The wire form of a stored reading (`GET /api/v1/patients/{id}/vitals`, `vitals.recorded`). */
export const VitalReadingResponse = Schema.Struct({
  id: Schema.String,
  patient_id: PatientId,
  device_id: Schema.NullOr(Schema.String),
  source: Schema.String,
  visit_name: Schema.NullOr(Schema.String),
  ...vitalValueFields,
  weight_kg: Schema.NullOr(Schema.Number),
  height_cm: Schema.NullOr(Schema.Number),
  stroke: Schema.NullOr(Schema.Boolean),
  diabetes: Schema.NullOr(Schema.Boolean),
  measured_at: Schema.Date
}).annotations({ identifier: "VitalReading" })
