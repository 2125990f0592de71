/**
 * Whole Vigil instances on a database of the test's own, each built in its own scope so that a
 * test can run several at once (processes sharing one database) or one after another (restarts).
 */
import { SqlClient } from "@effect/sql"
import { Effect, Exit, Layer, Redacted, Scope } from "effect"
import * as App from "../../src/App.ts"
import { HttpServer } from "../../src/http/HttpServer.ts"
import { MlRegistryServer } from "../../src/http/MlRegistryServer.ts"
import * as Database from "../../src/persistence/Database.ts"
import * as TestApp from "./test-app.ts"
import * as TestDatabase from "./test-database.ts"

/** A Vigil instance on `databaseName`: a call to its port or its ML registry's port, its SQL, and how to stop it. */
export const startInstance = (databaseName: string, env: Record<string, string>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const database = Database.layerFromUrl(Redacted.make(TestDatabase.databaseUrl(databaseName)), { mode: "connected", created: false, poolSize: 5 })
    const context = yield* Layer.buildWithScope(App.make(database).pipe(Layer.provide(TestApp.config(env))), scope)
    const { port: registryPort } = yield* Effect.provide(MlRegistryServer, context)
    const { port } = yield* Effect.provide(HttpServer, context)
    const sql = yield* Effect.provide(SqlClient.SqlClient, context)
    const registry = (method: string, path: string, body?: unknown) => TestApp.fetchJson(method, `http://127.0.0.1:${registryPort}${path}`, body)
    const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      TestApp.fetchJson(method, `http://127.0.0.1:${port}${path}`, body, headers)
    return { registry, call, sql, stop: Scope.close(scope, Exit.void) }
  })

/** A fresh database for `use`, dropped after it. */
export const withDatabase = <A, E, R>(use: (name: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(Effect.promise(TestDatabase.createDatabase), use, (name) => Effect.promise(() => TestDatabase.dropDatabase(name)).pipe(Effect.ignore))
