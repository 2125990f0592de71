/**
 * Demo data: 5 patients, 5 devices (`DEV001`…`DEV005`, each linked to one patient) and 5
 * threshold profiles, with fixed ids so that the seed document's examples work as written
 * (patient `550e8400-…-446655440000`, device `660e8400-…-446655440000`). Seeding is idempotent:
 * rows already present, by id or by serial, are left as they are.
 *
 * And seed 004's: a doctor (user 1) with a profile and a month of availability from the day
 * after seeding (schedule 1), two patients (users 2 and 3; user 2 is the registry's John Doe), a
 * confirmed appointment of user 2 with its task record, and a lab result. Their password is
 * `vigil-demo-password`. They are seeded only into a database with no user yet, so that they
 * can never attach themselves to someone else's records.
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

/** The PHC scrypt hash of `vigil-demo-password` (services/Passwords.ts, its default cost). */
const DEMO_PASSWORD_HASH = "$scrypt$ln=14,r=8,p=5$DtFJFL2nULDvfH4EgRW7Tg$gGcT2KePvGWAYYmbgZ1iumQO0PkaWaVJPYvEFtDAO1g"

export const users = [
  { id: 1, email: "maya.patel@example.org", full_name: "Dr. Maya Patel", role: "doctor", registry_patient_id: null },
  { id: 2, email: "john.doe@example.org", full_name: "John Doe", role: "patient", registry_patient_id: patients[0].id },
  { id: 3, email: "jane.smith@example.org", full_name: "Jane Smith", role: "patient", registry_patient_id: patients[1].id }
] as const

/** Seed 004's demo records, in one transaction, if no user exists yet; how many users it added. */
const seedCare = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [{ present }] = (yield* sql<{ present: boolean }>`SELECT EXISTS (SELECT 1 FROM users) AS present`) as [{ present: boolean }]
  if (present) return 0
  yield* sql`INSERT INTO users ${sql.insert(users.map((user) => ({ ...user, hashed_password: DEMO_PASSWORD_HASH })))}`
  yield* sql`
    INSERT INTO doctor_profiles (id, user_id, specialization, license_number, years_of_experience, bio)
    VALUES (1, 1, 'Cardiology', 'MD-100200', 12, 'Heart failure and rhythm disorders.')`
  // From 09:00 UTC tomorrow to 17:00 UTC thirty days later.
  yield* sql`
    INSERT INTO doctor_schedules (id, doctor_id, start_time, end_time, max_patients)
    VALUES (1, 1, date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 day 9 hours',
            date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '30 days 17 hours', 50)`
  yield* sql`
    INSERT INTO patient_profiles (user_id, date_of_birth, gender, blood_type, contact_number)
    VALUES (2, '1981-04-12', 'male', 'O+', '+1-555-0102')`
  yield* sql`
    INSERT INTO appointments (id, patient_id, doctor_id, schedule_id, scheduled_time, reason, status)
    SELECT 1, 2, 1, 1, start_time + interval '1 hour', 'Follow-up after discharge', 'confirmed' FROM doctor_schedules WHERE id = 1`
  yield* sql`
    INSERT INTO background_tasks (id, task_name, status, appointment_id, external_reference)
    VALUES (1, 'schedule_appointment', 'queued', 1, 'demo-data')`
  yield* sql`UPDATE background_tasks SET status = 'running' WHERE id = 1`
  yield* sql`UPDATE background_tasks SET status = 'succeeded' WHERE id = 1`
  yield* sql`
    INSERT INTO lab_results (id, patient_id, test_name, result_data, recorded_at)
    VALUES (1, 2, 'Complete blood count', '{"hemoglobin_g_dl": 13.8, "wbc_10e9_l": 6.2, "platelets_10e9_l": 250}', now() - interval '1 day')`
  // The rows above took their ids by hand: the next ones follow them.
  for (const table of ["users", "doctor_profiles", "doctor_schedules", "patient_profiles", "appointments", "background_tasks", "lab_results"]) {
    yield* sql`SELECT setval(pg_get_serial_sequence(${table}, 'id'), (SELECT max(id) FROM ${sql(table)}))`
  }
  return users.length
})

/** Inserts what is missing; returns how many rows of each kind it added. */
export const seed = Effect.fn("DemoData.seed")(function*() {
  const sql = yield* SqlClient.SqlClient
  return yield* sql.withTransaction(Effect.gen(function*() {
    const p = yield* sql`INSERT INTO patients ${sql.insert(patients.map((row) => ({ ...row })))} ON CONFLICT DO NOTHING RETURNING id`
    const d = yield* sql`INSERT INTO devices ${sql.insert(devices)} ON CONFLICT DO NOTHING RETURNING id`
    const t = yield* sql`INSERT INTO threshold_profiles ${sql.insert(thresholdProfiles)} ON CONFLICT DO NOTHING RETURNING id`
    return { patients: p.length, devices: d.length, thresholdProfiles: t.length, users: yield* seedCare }
  }))
})
