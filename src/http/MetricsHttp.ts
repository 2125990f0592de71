/**
 * `GET /metrics`: Prometheus text of Effect's metric registry (request durations, readings,
 * alerts, actors, ...) and of figures read at scrape time: the process, the connection pool, the
 * outbox backlog and the alerts not yet resolved (from the database), NATS's connection and the
 * ingest consumer's backlog (from JetStream). A source that does not answer within a second is
 * left out of that scrape and reported by `vigil_scrape_source_up{source} 0`, so a scrape of a
 * process whose database is down still says so.
 *
 * Public, like a health check: it holds counts and timings, never an id or a value of a patient's.
 */
import { Effect, Option, Runtime } from "effect"
import type { ServerResponse } from "node:http"
import { CONSUMER } from "../ingest/IngestConsumer.ts"
import { EventBus } from "../messaging/EventBus.ts"
import { Nats } from "../messaging/NatsBus.ts"
import { ingestStream } from "../messaging/Subjects.ts"
import { activeHttpRequests } from "../observability/Metrics.ts"
import { CONTENT_TYPE, type Family, processFigures, render, snapshot } from "../observability/Prometheus.ts"
import { DatabasePool } from "../persistence/Database.ts"
import { OpsFigures } from "../persistence/OpsFigures.ts"
import { publicRoute } from "./Access.ts"
import type { RawRoute } from "./Handlers.ts"
import { sendText } from "./StaticFiles.ts"

const SOURCE_TIMEOUT = "1 second"

const gauge = (name: string, help: string, value: number, labels?: Record<string, string>): Family => ({
  name,
  help,
  type: "gauge",
  samples: [{ value, labels }]
})

export const make = Effect.gen(function*() {
  const pool = yield* DatabasePool
  const figures = yield* OpsFigures
  const bus = yield* EventBus
  const nats = yield* Nats
  const processNow = yield* processFigures
  const runFork = Runtime.runFork(yield* Effect.runtime<never>())

  /** One source's families, or none (and its up gauge 0) when it fails or is slow. */
  const source = (name: string, read: Effect.Effect<ReadonlyArray<Family>, unknown>) =>
    read.pipe(
      Effect.timeout(SOURCE_TIMEOUT),
      Effect.map((families) => [...families, gauge("vigil_scrape_source_up", "Whether a source of scrape-time figures answered", 1, { source: name })]),
      Effect.catchAllCause(() => Effect.succeed([gauge("vigil_scrape_source_up", "Whether a source of scrape-time figures answered", 0, { source: name })]))
    )

  const database = source("database", Effect.gen(function*() {
    const [outbox, alerts] = yield* Effect.all([figures.outbox(), figures.activeAlerts()], { concurrency: 2 })
    return [
      gauge("vigil_outbox_unpublished", "Outbox events committed and not yet published to NATS", outbox.unpublished),
      gauge("vigil_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox event (0 when none)", outbox.oldestAgeSeconds),
      {
        name: "vigil_alerts_active",
        help: "Alerts not yet resolved, by severity and status (open, acknowledged)",
        type: "gauge",
        samples: ["warning", "critical"].flatMap((severity) =>
          ["open", "acknowledged"].map((status) => ({
            labels: { severity, status },
            value: alerts.find((row) => row.severity === severity && row.status === status)?.count ?? 0
          }))
        )
      }
    ] satisfies ReadonlyArray<Family>
  }))

  const ingest = Option.match(nats, {
    onNone: () => Effect.succeed([] as ReadonlyArray<Family>),
    onSome: ({ config, jsm }) =>
      source("jetstream", Effect.map(Effect.tryPromise(() => jsm.consumers.info(ingestStream(config), CONSUMER)), (info) => [
        gauge("vigil_ingest_consumer_pending", "Readings in the ingest stream not yet delivered to Vigil", info.num_pending),
        gauge("vigil_ingest_consumer_ack_pending", "Readings delivered to Vigil and not yet acknowledged", info.num_ack_pending),
        gauge("vigil_ingest_consumer_redelivered", "Readings delivered more than once and not yet acknowledged", info.num_redelivered)
      ]))
  })

  const local = (): ReadonlyArray<Family> => {
    const use = pool.use()
    const status = bus.status()
    return [
      ...processNow(),
      gauge("http_server_active_requests", "HTTP requests in flight", activeHttpRequests()),
      {
        name: "vigil_db_pool_connections",
        help: "Database connections of this process's pool, by state",
        type: "gauge",
        samples: [{ labels: { state: "used" }, value: use.total - use.idle }, { labels: { state: "idle" }, value: use.idle }]
      },
      gauge("vigil_db_pool_max_connections", "The pool's size (DATABASE_POOL_SIZE)", use.max),
      gauge("vigil_db_pool_waiting", "Queries waiting for a database connection", use.waiting),
      {
        name: "vigil_messaging_connected",
        help: "1 for the messaging state this process is in (connected, reconnecting, disconnected, in-process)",
        type: "gauge",
        samples: (["connected", "reconnecting", "disconnected", "in-process"] as const).map((state) => ({
          labels: { state },
          value: state === status ? 1 : 0
        }))
      }
    ]
  }

  const scrape = Effect.gen(function*() {
    const [fromDatabase, fromIngest] = yield* Effect.all([database, ingest], { concurrency: 2 })
    return render(yield* snapshot, [...local(), ...fromDatabase, ...fromIngest])
  })

  const send = (response: ServerResponse, status: number, text: string) =>
    sendText(response, CONTENT_TYPE, text, { status, headers: { "cache-control": "no-store" } })

  const route: RawRoute = {
    method: "GET",
    path: "/metrics",
    policy: publicRoute,
    handle: (request, response) => {
      request.resume()
      runFork(scrape).addObserver((exit) => {
        if (exit._tag === "Success") return send(response, 200, exit.value)
        runFork(Effect.logError("metrics scrape failed", exit.cause))
        send(response, 500, "# scrape failed\n")
      })
    }
  }
  return route
})
