/**
 * Seed 004's users, for every door: passwords are hashed here, before anything is stored, and a
 * link to a registry patient is only for a patient user (checked here to name the field; the
 * database refuses it too).
 */
import { Config, ConfigError, Effect, Either, Layer, Option, Redacted, Schema } from "effect"
import { Email } from "../domain/Validation.ts"
import { UserNotFound, WrongRole } from "../domain/CareErrors.ts"
import type { Role, UserCreate, UserId, UserUpdate } from "../domain/User.ts"
import { UserRepo } from "../persistence/UserRepo.ts"
import { Passwords } from "./Passwords.ts"

const patientsOnly = (role: Role) =>
  role === "patient" ? Effect.void : Effect.fail(new WrongRole({ field: "registry_patient_id", expected: "patient", actual: role }))

export class Accounts extends Effect.Service<Accounts>()("vigil/Accounts", {
  effect: Effect.gen(function*() {
    const users = yield* UserRepo
    const passwords = yield* Passwords

    const create = Effect.fn("Accounts.create")(function*(input: UserCreate) {
      if (input.registry_patient_id !== null) yield* patientsOnly(input.role)
      return yield* users.insert(input, yield* passwords.hash(input.password))
    })

    /** `UserNotFound` when there is no such user. */
    const update = Effect.fn("Accounts.update")(function*(id: UserId, patch: UserUpdate) {
      if (patch.registry_patient_id) {
        const current = yield* users.findById(id)
        if (Option.isNone(current)) return yield* new UserNotFound({ userId: id })
        yield* patientsOnly(current.value.role)
      }
      const { password, ...fields } = patch
      const updated = yield* users.update(id, fields, password === undefined ? undefined : yield* passwords.hash(password))
      return yield* Option.match(updated, { onNone: () => Effect.fail(new UserNotFound({ userId: id })), onSome: Effect.succeed })
    })

    /**
     * Seed 004 v2's `init_db`: the superadmin of SUPERADMIN_EMAIL / SUPERADMIN_PASSWORD, created
     * when no user has that email (an existing one is left as it is, its password too).
     */
    const ensureSuperadmin = Effect.fn("Accounts.ensureSuperadmin")(function*(email: string, password: Redacted.Redacted<string>) {
      const existing = yield* users.findByEmail(email)
      if (Option.isSome(existing)) {
        if (existing.value.role !== "superadmin") yield* Effect.logWarning("SUPERADMIN_EMAIL names a user who is not a superadmin; left as they are").pipe(Effect.annotateLogs({ user: existing.value.id }))
        return existing.value
      }
      const user = yield* users.insert({ email, full_name: "Superadmin", role: "superadmin", registry_patient_id: null }, yield* passwords.hash(password))
      yield* Effect.logInfo("superadmin created").pipe(Effect.annotateLogs({ user: user.id, email }))
      return user
    })

    return { create, update, ensureSuperadmin } as const
  }),
  dependencies: [UserRepo.Default, Passwords.Default]
}) {}

/** SUPERADMIN_EMAIL and SUPERADMIN_PASSWORD (seed 004 v2's): both, or neither. */
export const SuperadminConfig = Config.all({
  email: Config.option(Config.string("SUPERADMIN_EMAIL")),
  password: Config.option(Config.redacted("SUPERADMIN_PASSWORD"))
}).pipe(Config.mapOrFail(({ email, password }) => {
  if (Option.isNone(email) && Option.isNone(password)) return Either.right(Option.none())
  if (Option.isNone(email) || Option.isNone(password)) {
    return Either.left(ConfigError.InvalidData([], "SUPERADMIN_EMAIL and SUPERADMIN_PASSWORD are set together, or not at all"))
  }
  const decoded = Schema.decodeUnknownEither(Email)(email.value)
  if (Either.isLeft(decoded)) return Either.left(ConfigError.InvalidData(["SUPERADMIN_EMAIL"], "SUPERADMIN_EMAIL is not a valid email address"))
  const length = Redacted.value(password.value).length
  if (length < 8 || length > 128) return Either.left(ConfigError.InvalidData(["SUPERADMIN_PASSWORD"], "SUPERADMIN_PASSWORD must be 8 to 128 characters"))
  return Either.right(Option.some({ email: decoded.right, password: password.value }))
}))

/** At start-up: the configured superadmin exists. */
export const superadmin = Layer.effectDiscard(Effect.gen(function*() {
  const configured = yield* SuperadminConfig
  if (Option.isNone(configured)) return
  yield* (yield* Accounts).ensureSuperadmin(configured.value.email, configured.value.password)
}))
