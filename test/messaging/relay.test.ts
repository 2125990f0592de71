/**
 * The outbox relay when several Vigil processes share one database and one NATS: every row is
 * published once (counted on a core NATS subscription, which sees every publish, including the
 * duplicates JetStream would silently drop), the relay moves on when its process stops, and
 * published rows are pruned after the retention period.
 */
import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import type { NatsConnection } from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import { Effect, Exit, Layer, Redacted, Scope } from "effect"
import * as App from "../../src/App.ts"
import * as Database from "../../src/persistence/Database.ts"
import { HttpServer } from "../../src/http/HttpServer.ts"
import { deleteStreams, requireNats, resolveNats, unique } from "../support/nats-server.ts"
import { outboxDrained } from "../support/outbox.ts"
import * as TestApp from "../support/test-app.ts"
import * as TestDatabase from "../support/test-database.ts"
import { eventually } from "../support/eventually.ts"

const nats = await resolveNats()
const runNats = requireNats(nats, "outbox relay across processes")

/** A Vigil instance on `databaseName`, built in its own scope so a test can stop it alone. */
const startInstance = (databaseName: string, env: Record<string, string>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const database = Database.layerFromUrl(Redacted.make(TestDatabase.databaseUrl(databaseName)), {
      mode: "connected",
      created: false,
      poolSize: 4
    })
    const context = yield* Layer.buildWithScope(App.make(database).pipe(Layer.provide(TestApp.config(env))), scope)
    const { port } = yield* Effect.provide(HttpServer, context)
    const sql = yield* Effect.provide(SqlClient.SqlClient, context)
    return { scope, base: `http://127.0.0.1:${port}`, sql, stop: Scope.close(scope, Exit.void) }
  })

const createPatient = (base: string, name: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${base}/patients`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ full_name: name, age: 30, sex: "Other" })
    })
    expect(response.status).toBe(201)
    return ((await response.json()) as { id: string }).id
  })

/** Counts every message published under `prefix.>` by its Nats-Msg-Id, and by the entity it is about. */
const countPublishes = (connection: NatsConnection, prefix: string) => {
  const seen = new Map<string, number>()
  const about = new Map<string, number>()
  const subscription = connection.subscribe(`${prefix}.>`, {
    callback: (_error, message) => {
      const id = message.headers?.get("Nats-Msg-Id") ?? "<none>"
      seen.set(id, (seen.get(id) ?? 0) + 1)
      const entity = message.json<{ subject: string }>().subject
      about.set(entity, (about.get(entity) ?? 0) + 1)
    }
  })
  return { seen, about, stop: () => subscription.unsubscribe() }
}

describe.skipIf(!runNats)("outbox relay across processes", () => {
  if (!nats.available) return

  it.live("two processes publish every row exactly once, and the survivor carries on when one stops", () =>
    Effect.gen(function*() {
      const subjectPrefix = unique("relay").toLowerCase()
      const streamPrefix = unique("RELAY").toUpperCase()
      const env = { NATS_URL: nats.url, NATS_SUBJECT_PREFIX: subjectPrefix, NATS_STREAM_PREFIX: streamPrefix }
      yield* Effect.addFinalizer(() => Effect.promise(() => deleteStreams(nats.url, streamPrefix)).pipe(Effect.ignore))
      const connection = yield* Effect.acquireRelease(
        Effect.promise(() => connect({ servers: nats.url })),
        (nc) => Effect.promise(() => nc.close())
      )
      const counter = countPublishes(connection, subjectPrefix)
      yield* Effect.promise(() => connection.flush())

      const databaseName = yield* TestDatabase.scopedDatabase
      // Both start at once on an empty database: migrations and stream set-up must not race.
      const [a, b] = yield* Effect.all([startInstance(databaseName, env), startInstance(databaseName, env)], {
        concurrency: 2
      })
      yield* Effect.addFinalizer(() => Effect.all([a.stop, b.stop]))

      const ids: Array<string> = []
      for (let i = 0; i < 20; i++) ids.push(yield* createPatient(i % 2 === 0 ? a.base : b.base, `Shared ${i}`))
      const drained = (sql: SqlClient.SqlClient) => Effect.provideService(outboxDrained(20), SqlClient.SqlClient, sql)
      yield* drained(a.sql)

      yield* a.stop
      for (let i = 0; i < 10; i++) ids.push(yield* createPatient(b.base, `After ${i}`))
      yield* drained(b.sql)
      // A republished row would come from the surviving relay, in outbox order, before the rows
      // after it: once a last change's events are seen, any duplicate would have been too.
      const last = yield* createPatient(b.base, "Last")
      yield* eventually(Effect.suspend(() => (counter.about.get(last) ?? 0) >= 2 ? Effect.void : Effect.fail("the last change is not seen yet")))

      const [rows] = yield* b.sql<{ n: string }>`SELECT count(*) AS n FROM outbox`
      expect(Number(rows!.n)).toBe(62) // one event and one audit record per patient
      expect(counter.seen.size).toBe(62)
      const repeated = [...counter.seen].filter(([, times]) => times !== 1)
      expect(repeated).toEqual([])
      counter.stop()
    }).pipe(Effect.scoped), 90_000)

  it.live("prunes published rows after the retention period, keeping the audit trail", () =>
    Effect.gen(function*() {
      const subjectPrefix = unique("prune").toLowerCase()
      const streamPrefix = unique("PRUNE").toUpperCase()
      yield* Effect.addFinalizer(() => Effect.promise(() => deleteStreams(nats.url, streamPrefix)).pipe(Effect.ignore))
      const databaseName = yield* TestDatabase.scopedDatabase
      const instance = yield* startInstance(databaseName, {
        NATS_URL: nats.url,
        NATS_SUBJECT_PREFIX: subjectPrefix,
        NATS_STREAM_PREFIX: streamPrefix,
        OUTBOX_RETENTION: "1 millis",
        OUTBOX_PRUNE_INTERVAL: "100 millis",
        OUTBOX_POLL_INTERVAL: "50 millis"
      })
      yield* Effect.addFinalizer(() => instance.stop)
      for (let i = 0; i < 3; i++) yield* createPatient(instance.base, `Pruned ${i}`)
      yield* Effect.suspend(() =>
        instance.sql<{ n: string }>`SELECT count(*) AS n FROM outbox`.pipe(
          Effect.flatMap(([row]) => (row!.n === "0" ? Effect.void : Effect.fail("not pruned yet")))
        )
      ).pipe((check) => eventually(check))
      const [audits] = yield* instance.sql<{ n: string }>`SELECT count(*) AS n FROM audit_events`
      expect(Number(audits!.n)).toBe(3)
    }).pipe(Effect.scoped), 60_000)
})
