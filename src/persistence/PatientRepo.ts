/**
 * SQL for the `patients` table. Database failures become defects here; callers see domain results
 * only. Lookups by id go through the registry cache, whose hits carry no span: they are the hot
 * path, and a span (with its captured stack) costs more than the hit itself.
 */
import { SqlClient } from "@effect/sql"
import { classified } from "./SqlErrors.ts"
import { Effect, Option, Schema } from "effect"
import { type PainkillerPatientCreate, Patient, type PatientCreate, type PatientId, type TrialSubject } from "../domain/Patient.ts"
import type { DataRefused, Unavailable } from "../domain/Errors.ts"
import type { Page } from "./Page.ts"
import { ChangeLog } from "./ChangeLog.ts"
import { jsonView } from "./SqlJson.ts"
import { RegistryCache } from "./RegistryCache.ts"

const decodePatients = Schema.decodeUnknown(Schema.Array(Patient))
/** A patient row `created` as its audit row and events show it. */
const patientJson = jsonView(Patient.fields, "created")

export class PatientRepo extends Effect.Service<PatientRepo>()("vigil/PatientRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { patients: cache } = yield* RegistryCache
    const changes = yield* ChangeLog

    /** Inserts `columns` as a new patient and records its creation, in one statement. */
    const create = (columns: Record<string, string | number | null>) =>
      Effect.flatMap(
        changes.writeAndRecord(
          (actor) => sql`created AS (INSERT INTO patients ${sql.insert(columns)} RETURNING *),
            changed AS (SELECT 0 AS ord, ${actor} AS actor, 'patient' AS entity_type, id::text AS entity_id, 'created' AS action,
              NULL::jsonb AS before, ${sql.literal(patientJson)} AS after FROM created)`,
          sql`SELECT * FROM created`
        ),
        decodePatients
      ).pipe(Effect.map((rows) => rows[0]!))

    const insert = Effect.fn("PatientRepo.insert")(function*(input: PatientCreate) {
      return yield* create({ full_name: input.full_name, age: input.age, sex: input.sex })
    }, classified)

    const load = (id: PatientId) =>
      sql`SELECT * FROM patients WHERE id = ${id}`.pipe(
        Effect.flatMap(decodePatients),
        Effect.map((rows) => Option.fromNullable(rows[0])),
        classified,
        Effect.withSpan("PatientRepo.load")
      )

    const findById = (id: PatientId): Effect.Effect<Option.Option<Patient>, Unavailable | DataRefused> =>
      cache.getOrLoad(id, () => load(id))

    const exists = Effect.fn("PatientRepo.exists")(function*(id: PatientId) {
      return Option.isSome(yield* findById(id))
    })

    const list = Effect.fn("PatientRepo.list")(function*(page: Page) {
      const rows = yield* sql`
        SELECT * FROM patients ORDER BY created_at, id OFFSET ${page.skip} LIMIT ${page.limit}`
      return yield* decodePatients(rows)
    }, classified)

    /** Seed 003's create: a patient with first and last name, age and condition. */
    const insertNamed = Effect.fn("PatientRepo.insertNamed")(function*(input: PainkillerPatientCreate) {
      return yield* create({ first_name: input.first_name, last_name: input.last_name, age: input.age, condition: input.condition })
    }, classified)

    /** Removes the patient with everything that is theirs (readings, alerts, profile); `false` if unknown. */
    const remove = Effect.fn("PatientRepo.remove")(function*(id: PatientId) {
      const removed = yield* changes.transaction(Effect.gen(function*() {
        const [patient] = yield* decodePatients(yield* sql`DELETE FROM patients WHERE id = ${id} RETURNING *`)
        if (patient === undefined) return false
        yield* changes.record({ entityType: "patient", entityId: id, action: "deleted", before: patient, after: null })
        return true
      }))
      cache.invalidate(id)
      return removed
    }, classified)

    /**
     * Seed 002's trial subjects by subject number, each created (site `SITE001`, protocol
     * `PROTO-001`, its treatment arm, audited) unless it exists; answers every subject's patient
     * id. In the caller's transaction.
     */
    const ensureTrialSubjects = Effect.fn("PatientRepo.ensureTrialSubjects")(function*(subjects: ReadonlyArray<TrialSubject>) {
      const arms = new Map<string, string>()
      for (const subject of subjects) if (!arms.has(subject.subject_number)) arms.set(subject.subject_number, subject.treatment_arm)
      const numbers = [...arms.keys()]
      const created = yield* sql<Record<string, unknown> & { id: string }>`
        INSERT INTO patients (subject_number, treatment_arm, site_id, protocol_id)
        SELECT n, a, 'SITE001', 'PROTO-001' FROM unnest(${numbers}::text[], ${numbers.map((n) => arms.get(n)!)}::text[]) AS s(n, a)
        ON CONFLICT (subject_number) DO NOTHING
        RETURNING *`
      for (const patient of created) {
        yield* changes.record({ entityType: "patient", entityId: patient.id, action: "created", before: null, after: patient })
      }
      const rows = yield* sql<{ id: PatientId; subject_number: string }>`
        SELECT id, subject_number FROM patients WHERE subject_number = ANY(${numbers}::text[])`
      return new Map(rows.map((row) => [row.subject_number, row.id]))
    }, classified)

    return { insert, insertNamed, ensureTrialSubjects, remove, findById, exists, list } as const
  }),
  dependencies: [RegistryCache.Default, ChangeLog.Default]
}) {}
