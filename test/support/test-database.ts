/**
 * A fresh, migrated database per test file, created on the run's PostgreSQL server and dropped
 * when the layer is released.
 */
import { Effect, Layer, Redacted } from "effect"
import pg from "pg"
import { inject } from "vitest"
import * as Database from "../../src/persistence/Database.ts"

const withAdmin = async <A>(f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: inject("postgresAdminUrl") })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

export const databaseUrl = (name: string): string => {
  const url = new URL(inject("postgresAdminUrl"))
  url.pathname = `/${name}`
  return url.toString()
}

/** Creates an empty database of a new name, on the run's server; answers the name. */
export const createDatabase = async (): Promise<string> => {
  const name = `vigil_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`))
  return name
}

/** Drops the database, closing its connections. */
export const dropDatabase = (name: string): Promise<unknown> =>
  withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))

/** Creates an empty database and drops it (with its connections) when the scope closes. */
export const scopedDatabase = Effect.acquireRelease(
  Effect.promise(createDatabase),
  (name) => Effect.promise(() => dropDatabase(name)).pipe(Effect.ignore)
)

/** The migrated Database layer on a new database of its own. */
export const layer = Layer.unwrapScoped(
  Effect.map(scopedDatabase, (name) =>
    Database.layerFromUrl(Redacted.make(databaseUrl(name)), { mode: "connected", created: true, poolSize: 5 }))
)
