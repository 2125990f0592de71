/** The SQL-file migrator and the demo data: each applied once, however often and concurrently asked. */
import { expect, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import * as DemoData from "../../src/persistence/DemoData.ts"
import type { SqlError } from "@effect/sql/SqlError"
import * as Migrator from "../../src/persistence/Migrator.ts"
import { sqlState } from "../../src/persistence/SqlErrors.ts"
import * as TestDatabase from "../support/test-database.ts"

/** A database with nothing in it: not even migrated. */
const EmptyDatabase = Layer.unwrapScoped(
  Effect.map(TestDatabase.scopedDatabase, (name) =>
    PgClient.layer({ url: Redacted.make(TestDatabase.databaseUrl(name)), maxConnections: 6 }))
)

layer(EmptyDatabase, { timeout: 60_000, excludeTestServices: true })("migrations", (it) => {
  it.effect("apply once even when several migrators start together", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const runs = yield* Effect.all(Array.from({ length: 4 }, () => Migrator.migrate()), { concurrency: "unbounded" })
      const files = Migrator.listFiles(Migrator.defaultDirectory)
      expect(runs.flat().map((file) => file.id).sort((a, b) => a - b)).toEqual(files.map((file) => file.id))
      expect(yield* Migrator.migrate()).toEqual([])
      const recorded = yield* sql<{ id: number }>`SELECT id FROM vigil_migrations ORDER BY id`
      expect(recorded.map((row) => row.id)).toEqual(files.map((file) => file.id))
    }))

  it.effect("seed the demo data once, whatever is run again", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Migrator.migrate()
      const first = yield* DemoData.seed()
      expect(first).toEqual({ patients: 5, devices: 5, thresholdProfiles: 5, users: 3 })
      expect(yield* DemoData.seed()).toEqual({ patients: 0, devices: 0, thresholdProfiles: 0, users: 0 })
      const serials = yield* sql<{ serial: string }>`SELECT serial FROM devices ORDER BY serial`
      expect(serials.map((row) => row.serial)).toEqual(["DEV001", "DEV002", "DEV003", "DEV004", "DEV005"])
    }))

  it.effect("the database itself refuses what the API refuses", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* Migrator.migrate()
      // The SQLSTATE a statement fails with (a typo would fail too, with another one).
      const refusal = (statement: Effect.Effect<unknown, SqlError>) =>
        statement.pipe(Effect.flip, Effect.map(sqlState), Effect.orElseSucceed(() => "accepted"))
      const CHECK_VIOLATION = "23514"
      expect(yield* refusal(sql`INSERT INTO patients (full_name, age, sex) VALUES ('A', 151, 'M')`)).toBe(CHECK_VIOLATION)
      expect(yield* refusal(sql`INSERT INTO patients (full_name, age, sex) VALUES ('', 1, 'M')`)).toBe(CHECK_VIOLATION)
      expect(yield* refusal(sql`INSERT INTO patients (full_name, age, sex) VALUES ('A', 1, 'X')`)).toBe(CHECK_VIOLATION)
      expect(yield* refusal(sql`INSERT INTO patients (full_name, age, sex) VALUES ('A', 1, 'M')`)).toBe("accepted")
      const [patient] = yield* sql<{ id: string }>`INSERT INTO patients (full_name, age, sex) VALUES ('A', 1, 'M') RETURNING id`
      expect(
        yield* refusal(sql`INSERT INTO threshold_profiles (patient_id, hr_min, hr_max, spo2_min, temp_min, temp_max)
          VALUES (${patient!.id}, 100, 90, 95, 36, 37)`)
      ).toBe(CHECK_VIOLATION)
    }))
})
