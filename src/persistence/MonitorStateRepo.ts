/**
 * `patient_monitors`: what a PatientMonitor keeps between activations besides its alerts, namely
 * the sustained-rule and hysteresis counters per vital sign and the last reading it evaluated.
 */
import { SqlClient, type Statement } from "@effect/sql"
import { classified } from "./SqlErrors.ts"
import { PgClient } from "@effect/sql-pg"
import { Effect } from "effect"
import type { OpenAlert } from "../domain/Alerting.ts"
import type { Counters } from "../domain/BatchEvaluation.ts"
import type { PatientId } from "../domain/Patient.ts"

interface CounterJson {
  readonly pending: (Omit<OpenAlert, "first_seen" | "last_seen"> & { first_seen: string; last_seen: string }) | null
  readonly inRange: number
}

const revive = (json: Record<string, CounterJson>): Counters =>
  Object.fromEntries(Object.entries(json).map(([sign, counter]) => [sign, {
    inRange: counter.inRange,
    pending: counter.pending === null ? null : {
      ...counter.pending,
      first_seen: new Date(counter.pending.first_seen),
      last_seen: new Date(counter.pending.last_seen)
    }
  }]))

export class MonitorStateRepo extends Effect.Service<MonitorStateRepo>()("vigil/MonitorStateRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const pg = yield* PgClient.PgClient

    const load = Effect.fn("MonitorStateRepo.load")(function*(patientId: PatientId) {
      const [row] = yield* sql<{ last_seq: string; counters: Record<string, CounterJson> }>`
        SELECT last_seq, counters FROM patient_monitors WHERE patient_id = ${patientId}`
      return row === undefined ? { lastSeq: 0, counters: {} } : { lastSeq: Number(row.last_seq), counters: revive(row.counters) }
    }, classified)

    /** The statement that saves the state when `when` holds. `lastSeq` only moves forward. */
    const saving = (patientId: PatientId, lastSeq: number, counters: Counters, when: Statement.Fragment = sql`true`) =>
      sql`
        INSERT INTO patient_monitors (patient_id, last_seq, counters)
        SELECT ${patientId}::uuid, ${lastSeq}::bigint, ${pg.json(counters)}::jsonb WHERE ${when}
        ON CONFLICT (patient_id) DO UPDATE SET last_seq = GREATEST(patient_monitors.last_seq, EXCLUDED.last_seq),
          counters = EXCLUDED.counters, updated_at = now()`

    /** In the caller's transaction, or on its own. */
    const save = Effect.fn("MonitorStateRepo.save")(function*(patientId: PatientId, lastSeq: number, counters: Counters) {
      yield* saving(patientId, lastSeq, counters)
    }, classified)

    return { load, save, saving } as const
  })
}) {}
