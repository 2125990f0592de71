/**
 * A patient's alarm limits (seed 000): heart rate, SpO2 and temperature bounds, and Vigil's
 * optional ones (blood pressure, respiratory rate, and critical bounds for each). One per patient.
 * A limit left out does not constrain. Patients without a profile are checked against the default
 * profile (`ALERT_DEFAULT_PROFILE`).
 */
import { Schema } from "effect"
import type { Bounds } from "./Alerting.ts"
import type { VitalSign } from "./VitalSign.ts"
import { PatientId } from "./Patient.ts"
import { ErrorType, FiniteNumber, Uuid, atLeast, atMost } from "./Validation.ts"

export const ThresholdProfileId = Uuid.pipe(Schema.brand("ThresholdProfileId"))
export type ThresholdProfileId = typeof ThresholdProfileId.Type

const NonNegative = FiniteNumber.pipe(atLeast(0))
const Percent = FiniteNumber.pipe(atLeast(0), atMost(100))

/** The optional limits, by column name; each is NULL (no limit) when left out. */
export const optionalLimits = [
  "hr_critical_min",
  "hr_critical_max",
  "spo2_critical_min",
  "temp_critical_min",
  "temp_critical_max",
  "sbp_min",
  "sbp_max",
  "sbp_critical_min",
  "sbp_critical_max",
  "dbp_min",
  "dbp_max",
  "dbp_critical_min",
  "dbp_critical_max",
  "rr_min",
  "rr_max",
  "rr_critical_min",
  "rr_critical_max"
] as const
export type OptionalLimit = typeof optionalLimits[number]

type LimitPair = readonly [lower: string, upper: string]

/** A cross-field rule reported on the upper field. */
const orderedPair = ([lower, upper]: LimitPair, message: (upper: string, lower: string) => string) =>
<A extends Record<string, unknown>, I, R>(self: Schema.Schema<A, I, R>) =>
  self.pipe(Schema.filter((limits) => {
    const l = limits[lower]
    const u = limits[upper]
    return typeof l !== "number" || typeof u !== "number" || u > l || { path: [upper], message: message(upper, lower) }
  }, { [ErrorType]: "value_error" }))

const seedMessage = (upper: string, lower: string) => `Value error, ${upper} must be greater than ${lower}`

/** Critical bounds lie outside the warning bounds: (critical_min <= min) and (max <= critical_max). */
const criticalOutside = (critical: string, warning: string, side: "lower" | "upper") =>
<A extends Record<string, unknown>, I, R>(self: Schema.Schema<A, I, R>) =>
  self.pipe(Schema.filter((limits) => {
    const c = limits[critical]
    const w = limits[warning]
    if (typeof c !== "number" || typeof w !== "number") return true
    return (side === "lower" ? c <= w : c >= w) ||
      { path: [critical], message: `Value error, ${critical} must be ${side === "lower" ? "at most" : "at least"} ${warning}` }
  }, { [ErrorType]: "value_error" }))

type LimitRule = <A extends Record<string, unknown>, I, R>(self: Schema.Schema<A, I, R>) => Schema.Schema<A, I, R>

const pairedSigns = ["hr", "temp", "sbp", "dbp", "rr"] as const

/** The cross-field rules of a profile's limits, in the order they are checked (the first broken one is reported). */
const limitRules: ReadonlyArray<LimitRule> = [
  // Each warning pair in order (the seed's rule for heart rate and temperature).
  ...pairedSigns.map((sign) => orderedPair([`${sign}_min`, `${sign}_max`], seedMessage)),
  // Each critical bound outside its own side's warning bound.
  ...(["hr", "spo2", "temp", "sbp", "dbp", "rr"] as const).flatMap((sign) => [
    criticalOutside(`${sign}_critical_min`, `${sign}_min`, "lower"),
    ...(sign === "spo2" ? [] : [criticalOutside(`${sign}_critical_max`, `${sign}_max`, "upper")])
  ]),
  // Each critical pair in order, and each critical bound on its own side of the other warning
  // bound (which matters when its own side's warning bound is not set).
  ...pairedSigns.flatMap((sign) => [
    orderedPair([`${sign}_critical_min`, `${sign}_critical_max`], seedMessage),
    criticalOutside(`${sign}_critical_min`, `${sign}_max`, "lower"),
    criticalOutside(`${sign}_critical_max`, `${sign}_min`, "upper")
  ])
]

const withLimitRules = <A extends Record<string, unknown>, I, R>(self: Schema.Schema<A, I, R>): Schema.Schema<A, I, R> =>
  limitRules.reduce((schema, rule) => rule(schema), self)

const optionalLimitFields = Object.fromEntries(
  optionalLimits.map((name) => [name, Schema.optionalWith(Schema.NullOr(name.startsWith("spo2") ? Percent : NonNegative), { default: () => null })])
) as { readonly [K in OptionalLimit]: Schema.optionalWith<Schema.NullOr<typeof NonNegative>, { default: () => null }> }

export class ThresholdProfile extends Schema.Class<ThresholdProfile>("ThresholdProfile")({
  id: ThresholdProfileId,
  patient_id: PatientId,
  hr_min: Schema.Number,
  hr_max: Schema.Number,
  spo2_min: Schema.Number,
  temp_min: Schema.Number,
  temp_max: Schema.Number,
  ...Object.fromEntries(optionalLimits.map((name) => [name, Schema.NullOr(Schema.Number)])) as {
    readonly [K in OptionalLimit]: Schema.NullOr<typeof Schema.Number>
  },
  created_at: Schema.DateFromSelf,
  updated_at: Schema.DateFromSelf
}) {}

/** A profile's limits: the seed's five, required, and the optional ones (null when not set). */
const limitFields = {
  hr_min: NonNegative,
  hr_max: NonNegative,
  spo2_min: Percent,
  temp_min: NonNegative,
  temp_max: NonNegative,
  ...optionalLimitFields
}

export const ThresholdProfileCreate = Schema.Struct({ patient_id: PatientId, ...limitFields }).pipe(
  withLimitRules,
  Schema.annotations({ identifier: "ThresholdProfileCreate" })
)
export type ThresholdProfileCreate = typeof ThresholdProfileCreate.Type

/** Alert bounds per vital sign: what the alert rules read. */
export type ProfileBounds = Readonly<Record<VitalSign, Bounds>>

/** The limits a profile (stored or default) sets, as columns. */
export type Limits = Pick<ThresholdProfileCreate, "hr_min" | "hr_max" | "spo2_min" | "temp_min" | "temp_max" | OptionalLimit>

const orUndefined = (n: number | null | undefined) => (n === null ? undefined : n)

export const boundsOf = (limits: Limits): ProfileBounds => ({
  heart_rate: { lower: limits.hr_min, upper: limits.hr_max, critical_lower: orUndefined(limits.hr_critical_min), critical_upper: orUndefined(limits.hr_critical_max) },
  spo2: { lower: limits.spo2_min, critical_lower: orUndefined(limits.spo2_critical_min) },
  temperature: { lower: limits.temp_min, upper: limits.temp_max, critical_lower: orUndefined(limits.temp_critical_min), critical_upper: orUndefined(limits.temp_critical_max) },
  systolic_bp: { lower: orUndefined(limits.sbp_min), upper: orUndefined(limits.sbp_max), critical_lower: orUndefined(limits.sbp_critical_min), critical_upper: orUndefined(limits.sbp_critical_max) },
  diastolic_bp: { lower: orUndefined(limits.dbp_min), upper: orUndefined(limits.dbp_max), critical_lower: orUndefined(limits.dbp_critical_min), critical_upper: orUndefined(limits.dbp_critical_max) },
  respiratory_rate: { lower: orUndefined(limits.rr_min), upper: orUndefined(limits.rr_max), critical_lower: orUndefined(limits.rr_critical_min), critical_upper: orUndefined(limits.rr_critical_max) }
})

/**
 * The default profile, for patients without one: common adult early-warning limits (in the
 * spirit of NEWS2). Override it whole or in part with `ALERT_DEFAULT_PROFILE` (JSON, the fields
 * of `ThresholdProfileCreate` without `patient_id`).
 */
export const defaultLimits: Limits = {
  hr_min: 50,
  hr_max: 110,
  hr_critical_min: 40,
  hr_critical_max: 130,
  spo2_min: 94,
  spo2_critical_min: 91,
  temp_min: 36.0,
  temp_max: 38.0,
  temp_critical_min: 35.0,
  temp_critical_max: 39.1,
  sbp_min: 100,
  sbp_max: 180,
  sbp_critical_min: 90,
  sbp_critical_max: 220,
  dbp_min: 50,
  dbp_max: 110,
  dbp_critical_min: 40,
  dbp_critical_max: 130,
  rr_min: 12,
  rr_max: 20,
  rr_critical_min: 8,
  rr_critical_max: 25
}

/** `ALERT_DEFAULT_PROFILE`'s schema: any subset of the limits, checked as a whole once merged. */
export const DefaultProfileOverride = Schema.parseJson(Schema.partial(Schema.Struct({
  hr_min: NonNegative,
  hr_max: NonNegative,
  spo2_min: Percent,
  temp_min: NonNegative,
  temp_max: NonNegative,
  ...Object.fromEntries(optionalLimits.map((name) => [name, Schema.NullOr(name.startsWith("spo2") ? Percent : NonNegative)])) as {
    readonly [K in OptionalLimit]: Schema.NullOr<typeof NonNegative>
  }
})))

/** The default profile's limits, under the same rules as a patient's (`omit` would drop the rules). */
export const DefaultProfileLimits = Schema.Struct(limitFields).pipe(withLimitRules)
