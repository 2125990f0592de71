/**
 * Seed 004's users: patients, doctors and admins (and the superadmin of its v2), with integer ids
 * as its clients send them. A patient user may be linked to the registry's patient record
 * (`registry_patient_id`), so that care coordination and monitoring speak of one person.
 * The password is only ever an input: what is stored is its hash, and no answer, event or audit
 * record carries either (`userView` is the one public shape).
 */
import { Schema } from "effect"
import { PatientId } from "./Patient.ts"
import { BoundedText, Email, Enum, IntId, TextBetween } from "./Validation.ts"

export const UserId = IntId.pipe(Schema.brand("UserId"))
export type UserId = typeof UserId.Type

export const ROLES = ["superadmin", "admin", "doctor", "patient"] as const
export type Role = typeof ROLES[number]

/** The roles a user may be created with (seed 004's v1 enum); a superadmin comes from configuration. */
export const CreatableRole = Enum("patient", "doctor", "admin")

/** 8 to 128 characters, kept `Redacted` from the moment it is decoded, so no log or error can show it. */
export const Password = Schema.Redacted(TextBetween(8, 128))

export class User extends Schema.Class<User>("User")({
  id: UserId,
  email: Schema.String,
  full_name: Schema.String,
  role: Schema.Literal(...ROLES),
  hashed_password: Schema.String,
  is_active: Schema.Boolean,
  registry_patient_id: Schema.NullOr(PatientId),
  created_at: Schema.DateFromSelf,
  updated_at: Schema.DateFromSelf
}) {}

export class UserCreate extends Schema.Class<UserCreate>("UserCreate")({
  email: Email,
  full_name: BoundedText(255),
  role: CreatableRole,
  password: Password,
  registry_patient_id: Schema.optionalWith(Schema.NullOr(PatientId), { default: () => null })
}) {}

/** Only the fields sent change; `registry_patient_id: null` unlinks. */
export class UserUpdate extends Schema.Class<UserUpdate>("UserUpdate")({
  full_name: Schema.optional(BoundedText(255)),
  password: Schema.optional(Password),
  is_active: Schema.optional(Schema.Boolean),
  registry_patient_id: Schema.optional(Schema.NullOr(PatientId))
}) {}

/** A user as every answer, event and audit record shows one: never the password or its hash. */
export const userView = (user: User) => ({
  id: user.id,
  email: user.email,
  full_name: user.full_name,
  role: user.role,
  is_active: user.is_active,
  registry_patient_id: user.registry_patient_id,
  created_at: user.created_at,
  updated_at: user.updated_at
})
export type UserView = ReturnType<typeof userView>

/** What a user's events and audit records carry: the public shape, with the seed's `user_id` beside `id`. */
export const userRecord = (user: User) => ({ user_id: user.id, ...userView(user) })
