/**
 * SQL for seed 004's `users`. Only hashes reach this module (the caller hashes), and only
 * `userRecord`s reach the audit trail and the events. A duplicate email (in any capitalisation)
 * is `EmailTaken`; a link to a registry patient that does not exist, or that another user holds,
 * is `PatientNotFound` / `RegistryPatientTaken`.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Option, Schema } from "effect"
import { EmailTaken, RegistryPatientTaken } from "../domain/CareErrors.ts"
import { type DataRefused, PatientNotFound, type Unavailable } from "../domain/Errors.ts"
import type { PatientId } from "../domain/Patient.ts"
import { type Role, User, type UserCreate, type UserId, userRecord, type UserUpdate } from "../domain/User.ts"
import { ChangeLog } from "./ChangeLog.ts"
import { classified, FOREIGN_KEY_VIOLATION, fromSqlError, isViolation, UNIQUE_VIOLATION } from "./SqlErrors.ts"

const decodeUsers = Schema.decodeUnknown(Schema.Array(User))

/** What a new user's row is made of (its password already hashed). */
export type NewUser = Pick<UserCreate, "email" | "full_name" | "registry_patient_id"> & { readonly role: Role }

type LinkFailure = RegistryPatientTaken | PatientNotFound | Unavailable | DataRefused

export class UserRepo extends Effect.Service<UserRepo>()("vigil/UserRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const changes = yield* ChangeLog

    const linkRefused = (patientId: PatientId | null | undefined) => (error: SqlError): Effect.Effect<never, LinkFailure> => {
      if (isViolation(error, UNIQUE_VIOLATION, "users_registry_patient_key") && patientId) {
        return Effect.fail(new RegistryPatientTaken({ patientId }))
      }
      if (isViolation(error, FOREIGN_KEY_VIOLATION) && patientId) return Effect.fail(new PatientNotFound({ patientId }))
      return fromSqlError(error)
    }

    /** A new user; `role` may be any (the superadmin comes from configuration, not from `UserCreate`). */
    const insert = Effect.fn("UserRepo.insert")(function*(input: NewUser, hashedPassword: string) {
      return yield* changes.transaction(Effect.gen(function*() {
        const rows = yield* sql`
          INSERT INTO users ${sql.insert({
            email: input.email,
            full_name: input.full_name,
            role: input.role,
            hashed_password: hashedPassword,
            registry_patient_id: input.registry_patient_id
          })}
          RETURNING *`.pipe(Effect.catchTag("SqlError", (error): Effect.Effect<never, EmailTaken | LinkFailure> =>
          isViolation(error, UNIQUE_VIOLATION, "users_email_key")
            ? Effect.fail(new EmailTaken({ email: input.email }))
            : linkRefused(input.registry_patient_id)(error)))
        const [user] = yield* decodeUsers(rows)
        yield* changes.record({ entityType: "user", entityId: String(user!.id), action: "created", before: null, after: userRecord(user!) })
        return user!
      }))
    }, classified)

    const findById = Effect.fn("UserRepo.findById")(function*(id: UserId) {
      const rows = yield* sql`SELECT * FROM users WHERE id = ${id}`.pipe(Effect.flatMap(decodeUsers))
      return Option.fromNullable(rows[0])
    }, classified)

    /** The user with this email, in any capitalisation (emails are unique so). */
    const findByEmail = Effect.fn("UserRepo.findByEmail")(function*(email: string) {
      const rows = yield* sql`SELECT * FROM users WHERE lower(email) = lower(${email})`.pipe(Effect.flatMap(decodeUsers))
      return Option.fromNullable(rows[0])
    }, classified)

    /** The users among `ids` that exist, by id. */
    const findMany = Effect.fn("UserRepo.findMany")(function*(ids: ReadonlyArray<number>) {
      const wanted = [...new Set(ids)]
      if (wanted.length === 0) return new Map<number, User>()
      const rows = yield* sql`SELECT * FROM users WHERE id = ANY(${wanted}::int[])`.pipe(Effect.flatMap(decodeUsers))
      return new Map(rows.map((user) => [user.id as number, user]))
    }, classified)

    /**
     * Applies the fields present (a new password as its hash); `None` when the user does not
     * exist. A patch that changes nothing records nothing.
     */
    const update = Effect.fn("UserRepo.update")(function*(id: UserId, patch: Omit<UserUpdate, "password">, hashedPassword: string | undefined) {
      return yield* changes.transaction(Effect.gen(function*() {
        const [current] = yield* sql`SELECT * FROM users WHERE id = ${id} FOR NO KEY UPDATE`.pipe(Effect.flatMap(decodeUsers))
        if (current === undefined) return Option.none<User>()
        const fields: Record<string, unknown> = {}
        if (patch.full_name !== undefined && patch.full_name !== current.full_name) fields.full_name = patch.full_name
        if (patch.is_active !== undefined && patch.is_active !== current.is_active) fields.is_active = patch.is_active
        if (patch.registry_patient_id !== undefined && patch.registry_patient_id !== current.registry_patient_id) {
          fields.registry_patient_id = patch.registry_patient_id
        }
        if (hashedPassword !== undefined) fields.hashed_password = hashedPassword
        if (Object.keys(fields).length === 0) return Option.some(current)
        const [user] = yield* sql`
          UPDATE users SET ${sql.update(fields)}, updated_at = now() WHERE id = ${id} RETURNING *`.pipe(
          Effect.catchTag("SqlError", linkRefused(patch.registry_patient_id)),
          Effect.flatMap(decodeUsers)
        )
        yield* changes.record({
          entityType: "user",
          entityId: String(id),
          action: "updated",
          before: userRecord(current),
          after: { ...userRecord(user!), ...(hashedPassword !== undefined ? { password_changed: true } : {}) }
        })
        return Option.some(user!)
      }))
    }, classified)

    return { insert, findById, findByEmail, findMany, update } as const
  }),
  dependencies: [ChangeLog.Default]
}) {}
