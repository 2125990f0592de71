/**
 * A patient's alarm limits for heart rate, SpO2 and temperature (seed 000). One per patient.
 */
import { Schema } from "effect"
import { PatientId } from "./Patient.ts"
import { ErrorType, FiniteNumber, Uuid, atLeast, atMost } from "./Validation.ts"

export const ThresholdProfileId = Uuid.pipe(Schema.brand("ThresholdProfileId"))
export type ThresholdProfileId = typeof ThresholdProfileId.Type

const NonNegative = FiniteNumber.pipe(atLeast(0))
const Percent = FiniteNumber.pipe(atLeast(0), atMost(100))

/** A cross-field rule reported on the upper field, with the seed's message. */
const upperAboveLower = (upper: "hr_max" | "temp_max", lower: "hr_min" | "temp_min") =>
<A extends Record<typeof upper | typeof lower, number>, I, R>(self: Schema.Schema<A, I, R>) =>
  self.pipe(Schema.filter((limits) =>
    limits[upper] > limits[lower] || { path: [upper], message: `Value error, ${upper} must be greater than ${lower}` }, {
    [ErrorType]: "value_error"
  }))

export class ThresholdProfile extends Schema.Class<ThresholdProfile>("ThresholdProfile")({
  id: ThresholdProfileId,
  patient_id: PatientId,
  hr_min: Schema.Number,
  hr_max: Schema.Number,
  spo2_min: Schema.Number,
  temp_min: Schema.Number,
  temp_max: Schema.Number,
  created_at: Schema.DateFromSelf,
  updated_at: Schema.DateFromSelf
}) {}

export const ThresholdProfileCreate = Schema.Struct({
  patient_id: PatientId,
  hr_min: NonNegative,
  hr_max: NonNegative,
  spo2_min: Percent,
  temp_min: NonNegative,
  temp_max: NonNegative
}).pipe(
  upperAboveLower("hr_max", "hr_min"),
  upperAboveLower("temp_max", "temp_min"),
  Schema.annotations({ identifier: "ThresholdProfileCreate" })
)
export type ThresholdProfileCreate = typeof ThresholdProfileCreate.Type
