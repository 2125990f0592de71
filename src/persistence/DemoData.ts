/**
 * Demo data: 5 patients, 5 devices (`DEV001`…`DEV005`, each linked to one patient) and 5
 * threshold profiles, with fixed ids so that the seed document's examples work as written
 * (patient `550e8400-…-446655440000`, device `660e8400-…-446655440000`). Seeding is idempotent:
 * rows already present, by id or by serial, are left as they are.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

const id = (prefix: string, n: number) => `${prefix}-e29b-41d4-a716-44665544000${n}`

export const patients = [
  { id: id("550e8400", 0), full_name: "John Doe", age: 45, sex: "M" },
  { id: id("550e8400", 1), full_name: "Jane Smith", age: 32, sex: "F" },
  { id: id("550e8400", 2), full_name: "Robert Johnson", age: 67, sex: "M" },
  { id: id("550e8400", 3), full_name: "Maria Garcia", age: 54, sex: "F" },
  { id: id("550e8400", 4), full_name: "Alex Taylor", age: 29, sex: "Other" }
] as const

export const devices = patients.map((patient, n) => ({
  id: id("660e8400", n),
  serial: `DEV00${n + 1}`,
  firmware: `v1.${n + 1}.0`,
  patient_id: patient.id
}))

export const thresholdProfiles = [
  { hr_min: 60, hr_max: 100, spo2_min: 95, temp_min: 36.1, temp_max: 37.2 },
  { hr_min: 55, hr_max: 95, spo2_min: 96, temp_min: 36.0, temp_max: 37.5 },
  { hr_min: 50, hr_max: 90, spo2_min: 92, temp_min: 35.8, temp_max: 37.0 },
  { hr_min: 60, hr_max: 110, spo2_min: 94, temp_min: 36.2, temp_max: 37.4 },
  { hr_min: 65, hr_max: 105, spo2_min: 95, temp_min: 36.1, temp_max: 37.3 }
].map((limits, n) => ({ id: id("770e8400", n), patient_id: patients[n]!.id, ...limits }))

/** Inserts what is missing; returns how many rows of each kind it added. */
export const seed = Effect.fn("DemoData.seed")(function*() {
  const sql = yield* SqlClient.SqlClient
  return yield* sql.withTransaction(Effect.gen(function*() {
    const p = yield* sql`INSERT INTO patients ${sql.insert(patients.map((row) => ({ ...row })))} ON CONFLICT DO NOTHING RETURNING id`
    const d = yield* sql`INSERT INTO devices ${sql.insert(devices)} ON CONFLICT DO NOTHING RETURNING id`
    const t = yield* sql`INSERT INTO threshold_profiles ${sql.insert(thresholdProfiles)} ON CONFLICT DO NOTHING RETURNING id`
    return { patients: p.length, devices: d.length, thresholdProfiles: t.length }
  }))
})
