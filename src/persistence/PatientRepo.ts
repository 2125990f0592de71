/**
 * SQL for the `patients` table. Database failures become defects here; callers see domain results
 * only. Lookups by id go through the registry cache, whose hits carry no span: they are the hot
 * path, and a span (with its captured stack) costs more than the hit itself.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Option, Schema } from "effect"
import { type PainkillerPatientCreate, Patient, type PatientCreate, type PatientId } from "../domain/Patient.ts"
import type { Page } from "./Page.ts"
import { ChangeLog } from "./ChangeLog.ts"
import { RegistryCache } from "./RegistryCache.ts"

const decodePatients = Schema.decodeUnknown(Schema.Array(Patient))

export class PatientRepo extends Effect.Service<PatientRepo>()("vigil/PatientRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { patients: cache } = yield* RegistryCache
    const changes = yield* ChangeLog

    const insert = Effect.fn("PatientRepo.insert")(function*(input: PatientCreate) {
      return yield* sql.withTransaction(Effect.gen(function*() {
        const rows = yield* sql`
          INSERT INTO patients ${sql.insert({ full_name: input.full_name, age: input.age, sex: input.sex })}
          RETURNING *`
        const [patient] = yield* decodePatients(rows)
        yield* changes.record({
          entityType: "patient",
          entityId: patient!.id,
          action: "created",
          before: null,
          after: patient!
        })
        return patient!
      }))
    }, Effect.orDie)

    const load = (id: PatientId) =>
      sql`SELECT * FROM patients WHERE id = ${id}`.pipe(
        Effect.flatMap(decodePatients),
        Effect.map((rows) => Option.fromNullable(rows[0])),
        Effect.orDie,
        Effect.withSpan("PatientRepo.load")
      )

    const findById = (id: PatientId): Effect.Effect<Option.Option<Patient>> =>
      cache.getOrLoad(id, () => load(id))

    const exists = Effect.fn("PatientRepo.exists")(function*(id: PatientId) {
      return Option.isSome(yield* findById(id))
    })

    const list = Effect.fn("PatientRepo.list")(function*(page: Page) {
      const rows = yield* sql`
        SELECT * FROM patients ORDER BY created_at, id OFFSET ${page.skip} LIMIT ${page.limit}`
      return yield* decodePatients(rows)
    }, Effect.orDie)

    /** Seed 003's create: a patient with first and last name, age and condition. */
    const insertNamed = Effect.fn("PatientRepo.insertNamed")(function*(input: PainkillerPatientCreate) {
      return yield* sql.withTransaction(Effect.gen(function*() {
        const rows = yield* sql`
          INSERT INTO patients ${sql.insert({ first_name: input.first_name, last_name: input.last_name, age: input.age, condition: input.condition })}
          RETURNING *`
        const [patient] = yield* decodePatients(rows)
        yield* changes.record({ entityType: "patient", entityId: patient!.id, action: "created", before: null, after: patient! })
        return patient!
      }))
    }, Effect.orDie)

    /** Removes the patient with everything that is theirs (readings, alerts, profile); `false` if unknown. */
    const remove = Effect.fn("PatientRepo.remove")(function*(id: PatientId) {
      const removed = yield* sql.withTransaction(Effect.gen(function*() {
        const [patient] = yield* decodePatients(yield* sql`DELETE FROM patients WHERE id = ${id} RETURNING *`)
        if (patient === undefined) return false
        yield* changes.record({ entityType: "patient", entityId: id, action: "deleted", before: patient, after: null })
        return true
      }))
      cache.invalidate(id)
      return removed
    }, Effect.orDie)

    return { insert, insertNamed, remove, findById, exists, list } as const
  }),
  dependencies: [RegistryCache.Default, ChangeLog.Default]
}) {}
