/**
 * What Vigil counts and times, as Effect `Metric`s in the process's registry; `/metrics` writes
 * them in Prometheus text (`Prometheus.ts`). Names follow OpenTelemetry's semantic conventions as
 * a Prometheus exporter spells them (`http.server.request.duration` in seconds becomes
 * `http_server_request_duration_seconds`); Vigil's own carry `vigil_`. No label ever holds a
 * patient, device or user id: labels are routes, methods, statuses, kinds and severities.
 *
 * The doors record with `unsafeUpdate` and label arrays kept per label set: one array per
 * (method, route, status) is what lets Effect's hook cache find its histogram without hashing.
 */
import { Config, Metric, MetricBoundaries, type MetricLabel } from "effect"
import * as Label from "effect/MetricLabel"
import type { IncomingMessage, ServerResponse } from "node:http"
import { performance } from "node:perf_hooks"

/** OpenTelemetry's advised buckets for request durations, in seconds. */
const DURATION_BUCKETS = MetricBoundaries.fromIterable([0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10])

export const httpRequestDuration = Metric.histogram(
  "http_server_request_duration_seconds",
  DURATION_BUCKETS,
  "Duration of HTTP server requests (by route template, method and status)"
)

export const rpcDuration = Metric.histogram(
  "rpc_server_duration_seconds",
  DURATION_BUCKETS,
  "Duration of gRPC calls served (by service, method and status code)"
)

export const readingsIngested = Metric.counter("vigil_readings_ingested_total", {
  description: "Readings stored, by the door they came in by (nats, http, store_vitals, measurement)",
  incremental: true
})
export const readingsDeadLettered = Metric.counter("vigil_readings_dead_lettered_total", {
  description: "Ingest messages moved to the dead-letter subject instead of being stored",
  incremental: true
})
export const ingestBatchSize = Metric.histogram(
  "vigil_ingest_batch_size",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 13 }),
  "Readings per ingest batch taken from NATS"
)

export const alertsRaised = Metric.counter("vigil_alerts_raised_total", { description: "Alerts raised, by severity", incremental: true })
export const alertsResolved = Metric.counter("vigil_alerts_resolved_total", { description: "Alerts resolved, by how (auto, clinician)", incremental: true })

export const eventsPublished = Metric.counter("vigil_outbox_published_total", {
  description: "Outbox events published to NATS by this process's relay",
  incremental: true
})

// Series without labels are there from the start, at zero (a rate of nothing is 0, not absent).
for (const metric of [readingsDeadLettered, ingestBatchSize, eventsPublished]) metric.unsafeValue([])

/** One label array per distinct label set, so that the metric's hook cache (a WeakMap on the array) hits. */
export const labelCache = <K extends ReadonlyArray<string>>(names: K) => {
  const cache = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
  return (...values: { readonly [I in keyof K]: string }): ReadonlyArray<MetricLabel.MetricLabel> => {
    const key = values.join("\u0000")
    let labels = cache.get(key)
    if (labels === undefined) {
      labels = names.map((name, i) => Label.make(name, values[i]!))
      cache.set(key, labels)
    }
    return labels
  }
}

const byDoor = labelCache(["door"] as const)
const bySeverity = labelCache(["severity"] as const)
const byHow = labelCache(["by"] as const)

export const countIngested = (door: "nats" | "http" | "store_vitals" | "measurement", n: number) => {
  if (n > 0) readingsIngested.unsafeUpdate(n, byDoor(door))
}
export const countDeadLettered = () => readingsDeadLettered.unsafeUpdate(1, [])
export const countRaised = (severity: string) => alertsRaised.unsafeUpdate(1, bySeverity(severity))
export const countResolved = (by: string) => alertsResolved.unsafeUpdate(1, byHow(by))

/** `VIGIL_METRICS=false` turns the per-request timing and `/metrics` off (the benchmark's baseline). */
export const MetricsEnabled = Config.boolean("VIGIL_METRICS").pipe(Config.withDefault(true))

const HTTP_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"])
let activeRequests = 0

/** HTTP requests in flight now (`http_server_active_requests`, reported at scrape time). */
export const activeHttpRequests = () => activeRequests

/** The label arrays of one route: method, then status (or "aborted"), without building a key per request. */
const routeLabels = new Map<string, Map<string, Map<number, ReadonlyArray<MetricLabel.MetricLabel>>>>()
const labelsOf = (method: string, route: string, status: number) => {
  let byMethod = routeLabels.get(route)
  if (byMethod === undefined) routeLabels.set(route, byMethod = new Map())
  let byStatus = byMethod.get(method)
  if (byStatus === undefined) byMethod.set(method, byStatus = new Map())
  let labels = byStatus.get(status)
  if (labels === undefined) {
    labels = [
      Label.make("http_request_method", method),
      Label.make("http_route", route),
      status === 0 ? Label.make("error_type", "aborted") : Label.make("http_response_status_code", String(status))
    ]
    byStatus.set(status, labels)
  }
  return labels
}

const TIMING = Symbol("vigil.requestTiming")
interface Timed {
  [TIMING]?: { readonly started: number; readonly method: string; readonly route: string }
}

/** One listener for every response (no closure per request): the timing rides on the response. */
function recordClose(this: ServerResponse) {
  activeRequests--
  const timing = (this as Timed)[TIMING]
  if (timing === undefined) return
  const seconds = (performance.now() - timing.started) / 1000
  httpRequestDuration.unsafeUpdate(seconds, labelsOf(timing.method, timing.route, this.headersSent ? this.statusCode : 0))
}

/**
 * Times one HTTP request from the moment its route is known to the moment its response closes:
 * by method, route template ("" when no route matched) and status, or `error_type="aborted"` when
 * the client went away before an answer.
 */
export const observeHttp = (request: IncomingMessage, response: ServerResponse, route: string): void => {
  activeRequests++
  const method = request.method !== undefined && HTTP_METHODS.has(request.method) ? request.method : "_OTHER"
  ;(response as Timed)[TIMING] = { started: performance.now(), method, route }
  response.on("close", recordClose)
}

const rpcLabels = labelCache(["rpc_system", "rpc_service", "rpc_method", "rpc_grpc_status_code"] as const)

/** A unary gRPC handler timed by service, method and the status code it answered. */
export const timedUnary = <Call, Callback extends (error: { readonly code?: number } | null, ...rest: Array<any>) => void>(
  service: string,
  method: string,
  handler: (call: Call, callback: Callback) => void
) =>
(call: Call, callback: Callback): void => {
  const started = performance.now()
  handler(call, ((error: { readonly code?: number } | null, ...rest: Array<any>) => {
    rpcDuration.unsafeUpdate((performance.now() - started) / 1000, rpcLabels("grpc", service, method, String(error?.code ?? 0)))
    callback(error, ...rest)
  }) as Callback)
}
