/**
 * SQL for `vital_signs`: batch inserts (one statement per batch, columns as arrays through
 * `unnest`), idempotent by reading id, and the reads the PatientMonitor and the API need.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type { VitalSign } from "../domain/Alerting.ts"
import type { DeviceId } from "../domain/Device.ts"
import { encodeKeyset, type Keyset } from "../domain/Keyset.ts"
import type { PatientId } from "../domain/Patient.ts"
import { type ReadingId, type Source, type StoredReading, type VitalReading, vitalSigns } from "../domain/Vitals.ts"
import { ChangeLog } from "./ChangeLog.ts"

/** A row as the driver returns it: ids and `source` unbranded, `seq` (bigint) as text. */
type ReadingRow = Omit<VitalReading, "id" | "patient_id" | "device_id" | "source"> & {
  readonly id: string
  readonly seq: string
  readonly patient_id: string
  readonly device_id: string | null
  readonly source: string
}

const fromRow = (row: ReadingRow): StoredReading => ({
  ...row,
  id: row.id as ReadingId,
  patient_id: row.patient_id as PatientId,
  device_id: row.device_id as DeviceId | null,
  source: row.source as Source,
  seq: Number(row.seq)
})

/** The wire form of a reading (events, API): no store-internal `seq`. */
export const readingView = ({ seq: _seq, ...reading }: StoredReading) => reading

export interface LatestValue {
  readonly value: number
  readonly measured_at: Date
}
export type LatestValues = Partial<Record<VitalSign, LatestValue>>

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

const column = <K extends keyof VitalReading>(readings: ReadonlyArray<VitalReading>, key: K) => readings.map((r) => r[key])

export class VitalsRepo extends Effect.Service<VitalsRepo>()("vigil/VitalsRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const changes = yield* ChangeLog

    /**
     * Stores the readings not stored before (by id) and returns those, in store order, with one
     * `vitals.recorded` event per patient. Runs in the caller's transaction.
     */
    const insert = Effect.fn("VitalsRepo.insert")(function*(readings: ReadonlyArray<VitalReading>) {
      if (readings.length === 0) return []
      const rows = yield* sql<{ readonly id: string; readonly seq: string }>`
        INSERT INTO vital_signs (id, patient_id, device_id, source, visit_name, heart_rate, spo2, temperature,
          systolic_bp, diastolic_bp, respiratory_rate, weight_kg, height_cm, stroke, diabetes, measured_at)
        SELECT * FROM unnest(
          ${column(readings, "id")}::uuid[], ${column(readings, "patient_id")}::uuid[], ${column(readings, "device_id")}::uuid[],
          ${column(readings, "source")}::text[], ${column(readings, "visit_name")}::text[],
          ${column(readings, "heart_rate")}::float8[], ${column(readings, "spo2")}::float8[], ${column(readings, "temperature")}::float8[],
          ${column(readings, "systolic_bp")}::float8[], ${column(readings, "diastolic_bp")}::float8[],
          ${column(readings, "respiratory_rate")}::float8[], ${column(readings, "weight_kg")}::float8[],
          ${column(readings, "height_cm")}::float8[], ${column(readings, "stroke")}::bool[], ${column(readings, "diabetes")}::bool[],
          ${readings.map((r) => r.measured_at.toISOString())}::timestamptz[])
        ON CONFLICT (id) DO NOTHING
        RETURNING id, seq`
      // The rows as sent (the first of a repeated id is the one stored), with their place in the store.
      const sent = new Map<string, VitalReading>()
      for (const reading of readings) if (!sent.has(reading.id)) sent.set(reading.id, reading)
      const stored = rows.map((row): StoredReading => ({ ...sent.get(row.id)!, seq: Number(row.seq) })).sort((a, b) => a.seq - b.seq)
      const byPatient = new Map<string, Array<StoredReading>>()
      for (const reading of stored) {
        const list = byPatient.get(reading.patient_id)
        if (list === undefined) byPatient.set(reading.patient_id, [reading])
        else list.push(reading)
      }
      yield* changes.events([...byPatient].map(([patientId, list]) => ({
        aggregate: "vitals",
        event: "recorded",
        subject: patientId,
        data: { patient_id: patientId, readings: list.map(readingView) }
      })))
      return stored
    }, Effect.orDie)

    /** Readings stored after `seq` (a PatientMonitor catching up after a restart), oldest first. */
    const after = Effect.fn("VitalsRepo.after")(function*(patientId: PatientId, seq: number, limit: number) {
      const rows = yield* sql<ReadingRow>`
        SELECT * FROM vital_signs WHERE patient_id = ${patientId} AND seq > ${seq} ORDER BY seq LIMIT ${limit}`
      return rows.map(fromRow)
    }, Effect.orDie)

    /** The latest value of each vital sign (by measurement time). */
    const latest = Effect.fn("VitalsRepo.latest")(function*(patientId: PatientId) {
      const rows = yield* sql.unsafe<{ sign: VitalSign; value: number; measured_at: Date }>(latestQuery, [patientId])
      const values: LatestValues = {}
      for (const row of rows) values[row.sign] = { value: row.value, measured_at: row.measured_at }
      return values
    }, Effect.orDie)

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
      const items = rows.slice(0, filter.limit)
      return { items, next_cursor: rows.length > filter.limit ? encodeKeyset("measured_at", items[items.length - 1]!.measured_at, items[items.length - 1]!.id) : null }
    }, Effect.orDie)

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
    }, Effect.orDie)

    const findById = Effect.fn("VitalsRepo.findById")(function*(id: string) {
      const [row] = yield* sql<ReadingRow>`SELECT * FROM vital_signs WHERE id = ${id}`
      return row === undefined ? undefined : fromRow(row)
    }, Effect.orDie)

    /** Deletes one reading of `source` (seed 003 deletes measurements), audited; `false` if there is none. */
    const remove = Effect.fn("VitalsRepo.remove")(function*(id: string, source: Source) {
      return yield* sql.withTransaction(Effect.gen(function*() {
        const [row] = yield* sql<ReadingRow>`DELETE FROM vital_signs WHERE id = ${id} AND source = ${source} RETURNING *`
        if (row === undefined) return false
        const reading = readingView(fromRow(row))
        yield* changes.record({ entityType: "measurement", entityId: id, action: "deleted", before: reading, after: null })
        return true
      }))
    }, Effect.orDie)

    return { insert, after, latest, list, listBySource, findById, remove } as const
  }),
  dependencies: [ChangeLog.Default]
}) {}
