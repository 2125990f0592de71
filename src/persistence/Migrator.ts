/**
 * Applies the plain SQL files in `migrations/` (named `NNNN_name.sql`) once each, in order, and
 * records them in `vigil_migrations`. All pending files run in one transaction under an advisory
 * lock, so several processes starting at once against one database never race on DDL, and a
 * failing file leaves the schema as it was.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

export const defaultDirectory = fileURLToPath(new URL("../../migrations", import.meta.url))

const FILE_PATTERN = /^(\d{4})_([\w-]+)\.sql$/
/** Arbitrary, fixed: the key of the advisory lock that serialises migrators. */
const LOCK_KEY = 7_346_210_001

export interface MigrationFile {
  readonly id: number
  readonly name: string
  readonly path: string
}

export const listFiles = (directory: string): ReadonlyArray<MigrationFile> =>
  readdirSync(directory)
    .flatMap((file) => {
      const match = FILE_PATTERN.exec(file)
      return match ? [{ id: Number(match[1]), name: match[2]!, path: `${directory}/${file}` }] : []
    })
    .sort((a, b) => a.id - b.id)

/** Runs the pending migrations and returns the ones it applied. */
export const migrate = Effect.fn("Migrator.migrate")(function*(directory: string = defaultDirectory) {
  const sql = yield* SqlClient.SqlClient
  const files = listFiles(directory)
  return yield* sql.withTransaction(Effect.gen(function*() {
    yield* sql`SELECT pg_advisory_xact_lock(${LOCK_KEY})`
    yield* sql`CREATE TABLE IF NOT EXISTS vigil_migrations (
      id integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`
    const rows = yield* sql<{ id: number }>`SELECT id FROM vigil_migrations`
    const applied = new Set(rows.map((row) => row.id))
    const pending = files.filter((file) => !applied.has(file.id))
    for (const file of pending) {
      yield* sql.unsafe(readFileSync(file.path, "utf8")).pipe(
        Effect.withSpan("Migrator.apply", { attributes: { migration: file.name } })
      )
      yield* sql`INSERT INTO vigil_migrations (id, name) VALUES (${file.id}, ${file.name})`
    }
    return pending
  }))
})
