/**
 * The ward at a glance (the dashboard's `GET /api/v1/ward`): every monitored patient (a device
 * linked, or a reading in the window), each vital sign's latest value, and the window's readings
 * averaged per minute for sparklines. Three statements whatever the number of patients: the
 * patients, the latest values (one index probe per patient and sign), the per-minute series.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { type VitalSign, vitalSigns } from "../domain/VitalSign.ts"
import { classified } from "./SqlErrors.ts"
import { isoMillis } from "./SqlJson.ts"

export interface WardPatientRow {
  readonly id: string
  readonly full_name: string | null
  readonly first_name: string | null
  readonly last_name: string | null
  readonly subject_number: string | null
}

export interface Latest {
  readonly value: number
  readonly measured_at: string
}

export interface MinuteRow {
  readonly patient_id: string
  /** The minute, ISO text. */
  readonly minute: string
  readonly values: { readonly [K in VitalSign]: number | null }
}

// Column names come from the closed list of vital signs, never from input.
const latestColumns = vitalSigns.map((sign) =>
  `(SELECT jsonb_build_object('value', ${sign}, 'measured_at', ${isoMillis("measured_at")}) FROM vital_signs
     WHERE patient_id = m.id AND ${sign} IS NOT NULL ORDER BY measured_at DESC, id DESC LIMIT 1) AS ${sign}`
).join(",\n")
const minuteColumns = vitalSigns.map((sign) => `avg(${sign})::float8 AS ${sign}`).join(", ")

export class WardRepo extends Effect.Service<WardRepo>()("vigil/WardRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const patients = Effect.fn("WardRepo.patients")(function*(since: Date, limit: number) {
      return yield* sql<WardPatientRow>`
        SELECT p.id, p.full_name, p.first_name, p.last_name, p.subject_number FROM patients p
        WHERE EXISTS (SELECT 1 FROM devices d WHERE d.patient_id = p.id)
           OR EXISTS (SELECT 1 FROM vital_signs v WHERE v.patient_id = p.id AND v.measured_at >= ${since})
        ORDER BY p.created_at, p.id LIMIT ${limit}`
    }, classified)

    const latest = Effect.fn("WardRepo.latest")(function*(ids: ReadonlyArray<string>) {
      if (ids.length === 0) return new Map<string, Partial<Record<VitalSign, Latest>>>()
      const rows = yield* sql<Record<string, unknown>>`
        SELECT m.id, ${sql.literal(latestColumns)} FROM unnest(${ids}::uuid[]) AS m(id)`
      return new Map(rows.map((row) => [
        String(row.id),
        Object.fromEntries(vitalSigns.flatMap((sign) => (row[sign] === null ? [] : [[sign, row[sign] as Latest]]))) as Partial<Record<VitalSign, Latest>>
      ]))
    }, classified)

    const minutes = Effect.fn("WardRepo.minutes")(function*(ids: ReadonlyArray<string>, since: Date) {
      if (ids.length === 0) return [] as ReadonlyArray<MinuteRow>
      const rows = yield* sql<Record<string, unknown>>`
        SELECT patient_id, ${sql.literal(isoMillis("date_trunc('minute', measured_at)"))} AS minute, ${sql.literal(minuteColumns)}
        FROM vital_signs WHERE patient_id = ANY(${ids}::uuid[]) AND measured_at >= ${since}
        GROUP BY patient_id, date_trunc('minute', measured_at) ORDER BY patient_id, 2`
      return rows.map((row): MinuteRow => ({
        patient_id: String(row.patient_id),
        minute: String(row.minute),
        values: Object.fromEntries(vitalSigns.map((sign) => [sign, row[sign] === null ? null : Number(row[sign])])) as MinuteRow["values"]
      }))
    }, classified)

    return { patients, latest, minutes } as const
  })
}) {}
