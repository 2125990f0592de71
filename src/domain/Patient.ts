/** A patient as the registry knows them (seed 000): a name, an age and a sex. */
import { Schema } from "effect"
import { Int, NonEmptyBoundedString, OneOf, Uuid, atLeast, atMost } from "./Validation.ts"

export const PatientId = Uuid.pipe(Schema.brand("PatientId"))
export type PatientId = typeof PatientId.Type

export const FullName = NonEmptyBoundedString(255)
export const Age = Int.pipe(atLeast(0), atMost(150))
export const Sex = OneOf("M", "F", "Other")
export type Sex = typeof Sex.Type

export class Patient extends Schema.Class<Patient>("Patient")({
  id: PatientId,
  full_name: Schema.String,
  age: Schema.Number,
  sex: Sex,
  created_at: Schema.DateFromSelf,
  updated_at: Schema.DateFromSelf
}) {}

export class PatientCreate extends Schema.Class<PatientCreate>("PatientCreate")({
  full_name: FullName,
  age: Age,
  sex: Sex
}) {}
