/**
 * A patient. One record serves every seed's view of a patient (DESIGN.md section 7): the
 * registry's (full name, age, sex), the painkiller service's (first and last name, age,
 * condition) and the clinical trial's (subject number, site, protocol, arm). Each view fills its
 * own fields; the others stay null.
 */
import { Schema } from "effect"
import { BoundedText, Int, NonEmptyBoundedString, OneOf, Uuid, atLeast, atMost } from "./Validation.ts"

export const PatientId = Uuid.pipe(Schema.brand("PatientId"))
export type PatientId = typeof PatientId.Type

export const FullName = NonEmptyBoundedString(255)
export const Age = Int.pipe(atLeast(0), atMost(150))
export const Sex = OneOf("M", "F", "Other")
export type Sex = typeof Sex.Type

export class Patient extends Schema.Class<Patient>("Patient")({
  id: PatientId,
  full_name: Schema.NullOr(Schema.String),
  age: Schema.NullOr(Schema.Number),
  sex: Schema.NullOr(Sex),
  first_name: Schema.NullOr(Schema.String),
  last_name: Schema.NullOr(Schema.String),
  condition: Schema.NullOr(Schema.String),
  subject_number: Schema.NullOr(Schema.String),
  site_id: Schema.NullOr(Schema.String),
  protocol_id: Schema.NullOr(Schema.String),
  treatment_arm: Schema.NullOr(Schema.String),
  created_at: Schema.DateFromSelf,
  updated_at: Schema.DateFromSelf
}) {}

/** The name to show whichever view created the patient. */
export const displayName = (patient: Pick<Patient, "full_name" | "first_name" | "last_name" | "subject_number">): string =>
  patient.full_name ??
    ([patient.first_name, patient.last_name].filter((part) => part !== null && part.length > 0).join(" ") ||
      patient.subject_number ||
      "")

/** Seed 000's create. */
export class PatientCreate extends Schema.Class<PatientCreate>("PatientCreate")({
  full_name: FullName,
  age: Age,
  sex: Sex
}) {}

/** Seed 003's create: any names (the original's pattern is `.*`), an age in 0–149, a condition. */
export class PainkillerPatientCreate extends Schema.Class<PainkillerPatientCreate>("PainkillerPatientCreate")({
  first_name: BoundedText(255),
  last_name: BoundedText(255),
  age: Int.pipe(atLeast(0), atMost(149)),
  condition: Schema.NullOr(BoundedText(10_000))
}) {}

/** A trial subject as seed 002's `/store-vitals` creates one: a subject number and an arm. */
export interface TrialSubject {
  readonly subject_number: string
  readonly treatment_arm: string
}
