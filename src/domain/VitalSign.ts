/**
 * The vital signs Vigil stores and alerts on, defined once: each sign with its plausible range
 * (what a real measurement can be; the database checks the same ranges, migration 0004). Every
 * list of signs, every struct with a field per sign and the SQL that names their columns derive
 * from `plausibleRanges`.
 */
import { Schema } from "effect"

export const plausibleRanges = {
  heart_rate: [0, 350],
  spo2: [0, 100],
  temperature: [20, 46],
  systolic_bp: [0, 350],
  diastolic_bp: [0, 300],
  respiratory_rate: [0, 150]
} as const satisfies Record<string, readonly [number, number]>

export type VitalSign = keyof typeof plausibleRanges

export const vitalSigns = Object.keys(plausibleRanges) as unknown as readonly [VitalSign, ...Array<VitalSign>]

export const VitalSign = Schema.Literal(...vitalSigns)

/** A struct's fields (or any record), one per vital sign. */
export const perVitalSign = <A>(value: (sign: VitalSign) => A): { readonly [K in VitalSign]: A } =>
  Object.fromEntries(vitalSigns.map((sign) => [sign, value(sign)])) as { readonly [K in VitalSign]: A }

/** One measurement set's values: null where a sign was not measured. */
export type VitalValues = { readonly [K in VitalSign]: number | null }

export const noVitalValues: VitalValues = perVitalSign(() => null)

/** `VitalValues` as a schema's fields. */
export const vitalValueFields = perVitalSign(() => Schema.NullOr(Schema.Number))
