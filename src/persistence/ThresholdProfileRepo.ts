/** SQL for `threshold_profiles`: at most one profile per patient, enforced by the database. */
import { SqlClient } from "@effect/sql"
import { Effect, Option, Schema } from "effect"
import { PatientNotFound, ThresholdProfileExists, type DataRefused, type Unavailable } from "../domain/Errors.ts"
import type { PatientId } from "../domain/Patient.ts"
import { ThresholdProfile, type ThresholdProfileCreate } from "../domain/ThresholdProfile.ts"
import type { Page } from "./Page.ts"
import { classified, FOREIGN_KEY_VIOLATION, fromSqlError, isViolation, UNIQUE_VIOLATION } from "./SqlErrors.ts"
import { ChangeLog } from "./ChangeLog.ts"
import { RegistryCache } from "./RegistryCache.ts"

const decodeProfiles = Schema.decodeUnknown(Schema.Array(ThresholdProfile))

export class ThresholdProfileRepo extends Effect.Service<ThresholdProfileRepo>()("vigil/ThresholdProfileRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { thresholds: cache } = yield* RegistryCache
    const changes = yield* ChangeLog

    const insert = Effect.fn("ThresholdProfileRepo.insert")(function*(input: ThresholdProfileCreate) {
      return yield* changes.transaction(Effect.gen(function*() {
        const rows = yield* sql`INSERT INTO threshold_profiles ${sql.insert({ ...input })} RETURNING *`.pipe(
          Effect.catchTag("SqlError", (error): Effect.Effect<never, ThresholdProfileExists | PatientNotFound | Unavailable | DataRefused> =>
            isViolation(error, UNIQUE_VIOLATION, "threshold_profiles_patient_id_key")
              ? Effect.fail(new ThresholdProfileExists({ patientId: input.patient_id }))
              : isViolation(error, FOREIGN_KEY_VIOLATION)
              ? Effect.fail(new PatientNotFound({ patientId: input.patient_id }))
              : fromSqlError(error))
        )
        const [profile] = yield* decodeProfiles(rows)
        yield* changes.record({
          entityType: "threshold",
          entityId: profile!.id,
          action: "created",
          before: null,
          after: profile!
        })
        return profile!
      })).pipe(
        classified,
        // This process's own cache forgets "no profile" at once; the others on the notice.
        Effect.ensuring(Effect.sync(() => cache.invalidate(input.patient_id)))
      )
    })

    const load = (patientId: PatientId) =>
      sql`SELECT * FROM threshold_profiles WHERE patient_id = ${patientId}`.pipe(
        Effect.flatMap(decodeProfiles),
        Effect.map((rows) => Option.fromNullable(rows[0])),
        classified,
        Effect.withSpan("ThresholdProfileRepo.load")
      )

    const findByPatient = (patientId: PatientId): Effect.Effect<Option.Option<ThresholdProfile>, Unavailable | DataRefused> =>
      cache.getOrLoad(patientId, () => load(patientId))

    const list = Effect.fn("ThresholdProfileRepo.list")(function*(page: Page) {
      const rows = yield* sql`
        SELECT * FROM threshold_profiles ORDER BY created_at, id OFFSET ${page.skip} LIMIT ${page.limit}`
      return yield* decodeProfiles(rows)
    }, classified)

    return { insert, findByPatient, list } as const
  }),
  dependencies: [RegistryCache.Default, ChangeLog.Default]
}) {}
