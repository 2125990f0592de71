/**
 * SQL for `vital_signs`: batch inserts (one statement per batch, columns as arrays through
 * `unnest`), idempotent by reading id, and the reads the PatientMonitor and the API need.
 */
import { SqlClient } from "@effect/sql"
import { classified } from "./SqlErrors.ts"
import { Effect } from "effect"
import type { VitalSign } from "../domain/VitalSign.ts"
import type { LatestValues } from "../domain/BatchEvaluation.ts"
import type { DeviceId } from "../domain/Device.ts"
import { type Keyset, pageOf } from "../domain/Keyset.ts"
import type { PatientId } from "../domain/Patient.ts"
import { type ReadingId, type Source, type StoredReading, type VitalReading } from "../domain/Vitals.ts"
import { vitalSigns } from "../domain/VitalSign.ts"
import { eventSubject } from "../domain/Events.ts"
import { cloudEvent, isoMillis } from "./SqlJson.ts"
import { ChangeLog } from "./ChangeLog.ts"
import { currentTraceparent, TracingEnabled } from "../observability/Tracing.ts"

/** A row as the driver returns it: ids and `source` unbranded, `seq` (bigint) as text. */
export type ReadingRow = Omit<VitalReading, "id" | "patient_id" | "device_id" | "source"> & {
  readonly id: string
  readonly seq: string
  readonly patient_id: string
  readonly device_id: string | null
  readonly source: string
}

export const fromRow = (row: ReadingRow): StoredReading => ({
  ...row,
  id: row.id as ReadingId,
  patient_id: row.patient_id as PatientId,
  device_id: row.device_id as DeviceId | null,
  source: row.source as Source,
  seq: Number(row.seq)
})

/** The wire form of a reading (events, API): no store-internal `seq`. */
export const readingView = ({ seq: _seq, ...reading }: StoredReading) => reading

export interface ReadingFilter {
  readonly from?: Date | undefined
  readonly to?: Date | undefined
  readonly vital_sign?: VitalSign | undefined
  /** (measured_at, id) of the last row of the previous page. */
  readonly after?: Keyset | undefined
  readonly limit: number
}


// Column names come from the closed list of vital signs, never from input.
const latestQuery = vitalSigns.map((sign) => `
  (SELECT '${sign}' AS sign, ${sign} AS value, measured_at FROM vital_signs
   WHERE patient_id = $1 AND ${sign} IS NOT NULL ORDER BY measured_at DESC, id DESC LIMIT 1)`).join(" UNION ALL ")

/**
 * The columns a batch writes besides `seq` and `measured_at`, in order, with the type of their
 * arrays in `unnest`; the vital signs' from their one definition. Names from this closed list
 * only, never from input.
 */
const batchColumns: ReadonlyArray<readonly [keyof VitalReading, string]> = [
  ["id", "uuid"],
  ["patient_id", "uuid"],
  ["device_id", "uuid"],
  ["source", "text"],
  ["visit_name", "text"],
  ...vitalSigns.map((sign) => [sign, "float8"] as const),
  ["weight_kg", "float8"],
  ["height_cm", "float8"],
  ["stroke", "bool"],
  ["diabetes", "bool"]
]
const columnList = batchColumns.map(([name]) => name).join(", ")
/** A stored reading as JSON, the wire form (`vitals.recorded`), built by PostgreSQL from the row. */
const readingJson = `jsonb_build_object(${batchColumns.map(([name]) => `'${name}', ${name}`).join(", ")},
  'measured_at', ${isoMillis("measured_at")})`

export class VitalsRepo extends Effect.Service<VitalsRepo>()("vigil/VitalsRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const changes = yield* ChangeLog
    const tracing = yield* TracingEnabled

    /**
     * One statement (atomic by itself, so it needs no transaction of its own): stores the readings
     * not stored before (by id), writes one `vitals.recorded` event per patient to the outbox
     * (built by PostgreSQL from the rows stored), and sets the `seen` devices' `last_seen_at` to now
     * (the database's clock, which the offline sweep of every process reads too).
     * Answers the stored readings in store order, and which of the devices are marked offline.
     */
    const store = (readings: ReadonlyArray<VitalReading>, seen: ReadonlyArray<DeviceId>, seqs?: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        if (readings.length === 0) return { stored: [] as Array<StoredReading>, offline: [] as Array<DeviceId> }
        const time = new Date().toISOString()
        const traceparent = yield* currentTraceparent(tracing)
        const touch = seen.length === 0 ? sql`` : sql`, touched AS (
            UPDATE devices SET last_seen_at = now() WHERE id = ANY(${seen}::uuid[])
            RETURNING id, offline_since)`
        const offline = seen.length === 0 ? sql`` :
          sql`UNION ALL SELECT 'offline', id::text, NULL FROM touched WHERE offline_since IS NOT NULL`
        const rows = yield* changes.signalled(sql<{ readonly kind: "reading" | "offline"; readonly id: string; readonly seq: string | null }>`
          WITH ins AS (
            INSERT INTO vital_signs (${seqs === undefined ? sql`` : sql`seq, `}${sql.literal(columnList)}, measured_at)
              ${seqs === undefined ? sql`` : sql`OVERRIDING SYSTEM VALUE`}
            SELECT * FROM unnest(
              ${seqs === undefined ? sql`` : sql`${seqs}::bigint[], `}${
          sql.csv(batchColumns.map(([name, type]) => sql`${readings.map((r) => r[name])}::${sql.literal(type)}[]`))
        },
              ${readings.map((r) => r.measured_at.toISOString())}::timestamptz[])
            ON CONFLICT (id) DO NOTHING
            RETURNING *
          ), recorded AS (
            SELECT gen_random_uuid() AS event_id, patient_id, jsonb_agg(${sql.literal(readingJson)} ORDER BY seq) AS readings
            FROM ins GROUP BY patient_id
          ), events AS (
            INSERT INTO outbox (event_id, subject, event, traceparent)
            SELECT event_id, ${eventSubject("vitals", "recorded")}, ${sql.literal(cloudEvent({
          id: "event_id",
          type: "'vigil.vitals.recorded'",
          time: "time",
          subject: "patient_id",
          data: "jsonb_build_object('patient_id', patient_id, 'readings', readings)"
        }))}, ${traceparent}::text
            FROM recorded, (SELECT ${time}::text AS time) AS at
          )${touch}
          SELECT 'reading' AS kind, id::text AS id, seq::text AS seq FROM ins
          ${offline}`)
        // The rows as sent (the first of a repeated id is the one stored), with their place in the store.
        const sent = new Map<string, VitalReading>()
        for (const reading of readings) if (!sent.has(reading.id)) sent.set(reading.id, reading)
        const stored = rows.filter((row) => row.kind === "reading")
          .map((row): StoredReading => ({ ...sent.get(row.id)!, seq: Number(row.seq) }))
          .sort((a, b) => a.seq - b.seq)
        return { stored, offline: rows.filter((row) => row.kind === "offline").map((row) => row.id as DeviceId) }
      })

    /** `store` without devices; in the caller's transaction when there is one. */
    const insert = Effect.fn("VitalsRepo.insert")(function*(readings: ReadonlyArray<VitalReading>) {
      return (yield* store(readings, [])).stored
    }, classified)

    /**
     * Device readings and their devices' last-seen times in one statement. `seqs` (from `drawSeqs`,
     * one per reading, ascending): the readings' places in the store, drawn before the statement
     * runs, so that batches stored concurrently still take their places in the order they were drawn.
     */
    const insertFromDevices = Effect.fn("VitalsRepo.insertFromDevices")(function*(
      readings: ReadonlyArray<VitalReading>,
      seen: ReadonlyArray<DeviceId>,
      seqs?: ReadonlyArray<string>
    ) {
      return yield* store(readings, seen, seqs)
    }, classified)

    /** `n` new places in the store (`seq` values, ascending; text, as bigint comes back), for `insertFromDevices`. */
    const drawSeqs = Effect.fn("VitalsRepo.drawSeqs")(function*(n: number) {
      if (n === 0) return [] as Array<string>
      const [row] = yield* sql<{ seqs: string }>`
        WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence('vital_signs', 'seq')::regclass AS id)
        SELECT string_agg(nextval(s.id)::text, ',' ORDER BY g) AS seqs FROM s, generate_series(1, ${n}::int) AS g`
      return row!.seqs.split(",")
    }, classified)

    /** Readings stored after `seq` (a PatientMonitor catching up after a restart), oldest first. */
    const after = Effect.fn("VitalsRepo.after")(function*(patientId: PatientId, seq: number, limit: number) {
      const rows = yield* sql<ReadingRow>`
        SELECT * FROM vital_signs WHERE patient_id = ${patientId} AND seq > ${seq} ORDER BY seq LIMIT ${limit}`
      return rows.map(fromRow)
    }, classified)

    /**
     * Patients with readings stored after their monitor's saved watermark: the ones whose latest
     * readings may not have been evaluated (or only by a process that stopped before saving).
     * One index probe per patient.
     */
    const patientsBehind = Effect.fn("VitalsRepo.patientsBehind")(function*() {
      const rows = yield* sql<{ id: PatientId }>`
        SELECT p.id FROM patients p LEFT JOIN patient_monitors m ON m.patient_id = p.id
        WHERE EXISTS (SELECT 1 FROM vital_signs v WHERE v.patient_id = p.id AND v.seq > coalesce(m.last_seq, 0))`
      return rows.map((row) => row.id)
    }, classified)

    /** The latest value of each vital sign (by measurement time). */
    const latest = Effect.fn("VitalsRepo.latest")(function*(patientId: PatientId) {
      const rows = yield* sql.unsafe<{ sign: VitalSign; value: number; measured_at: Date }>(latestQuery, [patientId])
      const values: LatestValues = {}
      for (const row of rows) values[row.sign] = { value: row.value, measured_at: row.measured_at }
      return values
    }, classified)

    const list = Effect.fn("VitalsRepo.list")(function*(patientId: PatientId, filter: ReadingFilter) {
      const conditions = [
        sql`patient_id = ${patientId}`,
        ...(filter.from !== undefined ? [sql`measured_at >= ${filter.from}`] : []),
        ...(filter.to !== undefined ? [sql`measured_at < ${filter.to}`] : []),
        ...(filter.vital_sign !== undefined ? [sql`${sql(filter.vital_sign)} IS NOT NULL`] : []),
        ...(filter.after !== undefined
          ? [sql`(measured_at, id) > (${filter.after.at}::timestamptz, ${filter.after.id}::uuid)`]
          : [])
      ]
      const rows = (yield* sql<ReadingRow>`
        SELECT * FROM vital_signs WHERE ${sql.and(conditions)} ORDER BY measured_at, id LIMIT ${filter.limit + 1}`).map(fromRow)
      return pageOf("measured_at", rows, filter.limit, filter.after, (row) => ({ at: row.measured_at, id: row.id }))
    }, classified)

    /** Readings of one source (seed 003's measurements), oldest first, offset pages. */
    const listBySource = Effect.fn("VitalsRepo.listBySource")(function*(
      source: Source,
      page: { readonly skip: number; readonly limit: number },
      patientId?: PatientId
    ) {
      const rows = yield* sql<ReadingRow>`
        SELECT * FROM vital_signs WHERE source = ${source} ${patientId === undefined ? sql`` : sql`AND patient_id = ${patientId}`}
        ORDER BY created_at, seq OFFSET ${page.skip} LIMIT ${page.limit}`
      return rows.map(fromRow)
    }, classified)

    const findById = Effect.fn("VitalsRepo.findById")(function*(id: string) {
      const [row] = yield* sql<ReadingRow>`SELECT * FROM vital_signs WHERE id = ${id}`
      return row === undefined ? undefined : fromRow(row)
    }, classified)

    /** Deletes one reading of `source` (seed 003 deletes measurements), audited; `false` if there is none. */
    const remove = Effect.fn("VitalsRepo.remove")(function*(id: string, source: Source) {
      return yield* changes.transaction(Effect.gen(function*() {
        const [row] = yield* sql<ReadingRow>`DELETE FROM vital_signs WHERE id = ${id} AND source = ${source} RETURNING *`
        if (row === undefined) return false
        const reading = readingView(fromRow(row))
        yield* changes.record({ entityType: "measurement", entityId: id, action: "deleted", before: reading, after: null })
        return true
      }))
    }, classified)

    return { insert, insertFromDevices, drawSeqs, after, patientsBehind, latest, list, listBySource, findById, remove } as const
  }),
  dependencies: [ChangeLog.Default]
}) {}
