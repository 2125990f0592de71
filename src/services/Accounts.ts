/**
 * Seed 004's users, for every door: passwords are hashed here, before anything is stored, and a
 * link to a registry patient is only for a patient user (checked here to name the field; the
 * database refuses it too).
 */
import { Effect, Option } from "effect"
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

    return { create, update } as const
  }),
  dependencies: [UserRepo.Default, Passwords.Default]
}) {}
