/** SQL for seed 004's lab results: recorded for a patient user, listed newest first. */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Schema } from "effect"
import { LabResult, type LabResultCreate, labResultRecord } from "../domain/Appointment.ts"
import { UserNotFound, WrongRole } from "../domain/CareErrors.ts"
import type { UserId } from "../domain/User.ts"
import { ChangeLog } from "./ChangeLog.ts"
import type { Page } from "./Page.ts"
import { classified } from "./SqlErrors.ts"
import { UserRepo } from "./UserRepo.ts"

const decodeResults = Schema.decodeUnknown(Schema.Array(LabResult))

export class LabResultRepo extends Effect.Service<LabResultRepo>()("vigil/LabResultRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const pg = yield* PgClient.PgClient
    const changes = yield* ChangeLog
    const users = yield* UserRepo

    const insert = Effect.fn("LabResultRepo.insert")(function*(input: LabResultCreate) {
      return yield* changes.transaction(Effect.gen(function*() {
        const patient = (yield* users.findMany([input.patient_id])).get(input.patient_id)
        if (patient === undefined) return yield* new UserNotFound({ userId: input.patient_id, role: "patient" })
        if (patient.role !== "patient") {
          return yield* new WrongRole({ field: "patient_id", userId: input.patient_id, expected: "patient", actual: patient.role })
        }
        const [result] = yield* sql`
          INSERT INTO lab_results ${sql.insert({
            patient_id: input.patient_id,
            test_name: input.test_name,
            result_data: pg.json(input.result_data),
            recorded_at: input.recorded_at
          })}
          RETURNING *`.pipe(Effect.flatMap(decodeResults))
        yield* changes.record({ entityType: "lab_result", entityId: String(result!.id), action: "created", before: null, after: labResultRecord(result!) })
        return result!
      }))
    }, classified)

    /** The seed's list: a patient's results, most recently recorded first. */
    const listByPatient = Effect.fn("LabResultRepo.listByPatient")(function*(patientId: UserId, page: Page) {
      return yield* sql`
        SELECT * FROM lab_results WHERE patient_id = ${patientId}
        ORDER BY recorded_at DESC, id DESC OFFSET ${page.skip} LIMIT ${page.limit}`.pipe(Effect.flatMap(decodeResults))
    }, classified)

    return { insert, listByPatient } as const
  }),
  dependencies: [ChangeLog.Default, UserRepo.Default]
}) {}
