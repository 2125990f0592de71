/**
 * The system of record. With `DATABASE_URL` Vigil connects to that PostgreSQL; without it, it
 * starts an embedded one under `VIGIL_PG_DIR` (default `.vigil/pg`). Either way the schema is
 * migrated before the layer is built, so nothing can query a database that is not migrated.
 */
import { SqlClient, SqlError } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Config, Context, Duration, Effect, Layer, Option, Redacted } from "effect"
import Pg from "pg"
import * as EmbeddedPostgres from "./EmbeddedPostgres.ts"
import * as Migrator from "./Migrator.ts"

export interface DatabaseInfo {
  readonly mode: "embedded" | "connected"
  /** Where the database is, with any password removed: safe to log. */
  readonly location: string
  /** True when this start created the database (embedded mode only). */
  readonly created: boolean
  readonly migrationsApplied: ReadonlyArray<string>
}

export class Database extends Context.Tag("vigil/Database")<Database, DatabaseInfo>() {}

export const DatabaseConfig = Config.all({
  url: Config.option(Config.redacted("DATABASE_URL")),
  embeddedDir: Config.string("VIGIL_PG_DIR").pipe(Config.withDefault(".vigil/pg")),
  embeddedPort: Config.port("VIGIL_PG_PORT").pipe(Config.withDefault(54329)),
  poolSize: Config.integer("DATABASE_POOL_SIZE").pipe(Config.withDefault(10), Config.validate({
    message: "DATABASE_POOL_SIZE must be between 1 and 200",
    validation: (n) => n >= 1 && n <= 200
  }))
})

export const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = "***"
    return parsed.toString()
  } catch {
    return "<unparseable DATABASE_URL>"
  }
}

/** How long opening a connection may take before the database counts as unavailable (pg waits for ever otherwise). */
const CONNECT_TIMEOUT = Duration.seconds(5)

/** The connection pool's use at this moment (`/metrics`). */
export interface PoolUse {
  /** Connections open, in use or idle. */
  readonly total: number
  readonly idle: number
  /** Queries waiting for a connection. */
  readonly waiting: number
  readonly max: number
}

export class DatabasePool extends Context.Tag("vigil/DatabasePool")<DatabasePool, { readonly use: () => PoolUse }>() {}

/**
 * A PgClient for `url`, on a pool of Vigil's own so that its use can be reported; configured as
 * `PgClient.layer` would (a connection check bounded by CONNECT_TIMEOUT, idle-client errors
 * swallowed: the query that next uses the pool reports the failure). Column names stay
 * snake_case, as in the API, so no name transforms are configured (they would also rewrite keys
 * inside jsonb values).
 */
export const clientLayer = (url: Redacted.Redacted, poolSize: number) =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const pool = new Pg.Pool({
          connectionString: Redacted.value(url),
          connectionTimeoutMillis: Duration.toMillis(CONNECT_TIMEOUT),
          max: poolSize,
          // With the process id: which process holds a connection (and its locks), for an operator or a test.
          application_name: `vigil-${process.pid}`
        })
        pool.on("error", () => {})
        return pool
      }),
      (pool) => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption(1000))
    )
    yield* Effect.tryPromise({
      try: () => pool.query("SELECT 1"),
      catch: (cause) => new SqlError.SqlError({ cause, message: "PgClient: Failed to connect" })
    }).pipe(Effect.timeoutFail({
      duration: CONNECT_TIMEOUT,
      onTimeout: () => new SqlError.SqlError({ cause: new Error("Connection timed out"), message: "PgClient: Connection timed out" })
    }))
    const use = (): PoolUse => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: poolSize })
    return Layer.merge(
      PgClient.layerFromPool({ acquire: Effect.succeed(pool), applicationName: "vigil", transformJson: false }),
      Layer.succeed(DatabasePool, { use })
    )
  }))

/** PgClient + SqlClient + Database on `url`, migrated before the layer is built. */
export const layerFromUrl = (
  url: Redacted.Redacted,
  options: { readonly mode: DatabaseInfo["mode"]; readonly created: boolean; readonly poolSize: number }
) => {
  const migrated = Layer.effect(
    Database,
    Migrator.migrate().pipe(Effect.map((applied): DatabaseInfo => ({
      mode: options.mode,
      location: redactUrl(Redacted.value(url)),
      created: options.created,
      migrationsApplied: applied.map((file) => `${file.id}_${file.name}`)
    })))
  )
  return Layer.provideMerge(migrated, clientLayer(url, options.poolSize))
}

/** The database from configuration: `DATABASE_URL`, or an embedded server started here. */
export const layer = Layer.unwrapScoped(Effect.gen(function*() {
  const config = yield* DatabaseConfig
  if (Option.isSome(config.url)) {
    return layerFromUrl(config.url.value, { mode: "connected", created: false, poolSize: config.poolSize })
  }
  const embedded = yield* EmbeddedPostgres.start({
    dataDir: config.embeddedDir,
    port: config.embeddedPort,
    database: "vigil"
  })
  return layerFromUrl(Redacted.make(embedded.url), { mode: "embedded", created: embedded.created, poolSize: config.poolSize })
}))

/** Liveness probe used by `/health`: one round trip, bounded in time. */
export const ping = SqlClient.SqlClient.pipe(
  Effect.flatMap((sql) => sql`SELECT 1`),
  Effect.timeout("2 seconds"),
  Effect.as(true),
  Effect.catchAll(() => Effect.succeed(false))
)

/** What a database layer provides. */
export type DatabaseServices = PgClient.PgClient | SqlClient.SqlClient | DatabasePool
