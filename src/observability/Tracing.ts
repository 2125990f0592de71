/**
 * Traces, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set: Effect's spans (the doors' server spans, the
 * actors' calls, every SQL statement, the outbox relay's publications) exported over OTLP/HTTP
 * JSON by `@effect/opentelemetry`'s own exporter to `<endpoint>/v1/traces`. Off by default: no
 * exporter, no server spans, no `traceparent` stored or sent.
 *
 * Across processes the context travels as W3C `traceparent`: read from HTTP requests and from
 * device readings' NATS headers, stored with each outbox row, and sent in the header of every
 * event published from it, so a subscriber can continue the trace.
 */
import { FetchHttpClient } from "@effect/platform"
import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as OtlpTracer from "@effect/opentelemetry/OtlpTracer"
import { Config, Effect, Layer, Option, Tracer } from "effect"

export const TracingConfig = Config.all({
  endpoint: Config.option(Config.url("OTEL_EXPORTER_OTLP_ENDPOINT")),
  serviceName: Config.string("OTEL_SERVICE_NAME").pipe(Config.withDefault("vigil")),
  exportInterval: Config.duration("OTEL_BSP_SCHEDULE_DELAY").pipe(Config.withDefault("1 second"))
})

/** Whether traces are exported (the doors start server spans only then). */
export const TracingEnabled = Effect.map(TracingConfig, (config) => Option.isSome(config.endpoint))

export const layer = Layer.unwrapEffect(Effect.map(TracingConfig, (config) =>
  Option.match(config.endpoint, {
    onNone: () => Layer.empty,
    onSome: (endpoint) =>
      OtlpTracer.layer({
        url: new URL("v1/traces", endpoint.href.endsWith("/") ? endpoint.href : `${endpoint.href}/`).href,
        resource: { serviceName: config.serviceName, serviceVersion: "0.1.0" },
        exportInterval: config.exportInterval
      }).pipe(Layer.provide(OtlpSerialization.layerJson), Layer.provide(FetchHttpClient.layer))
  })
))

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/** A W3C `traceparent` as the parent of a span here; `undefined` when absent or malformed (all-zero ids are invalid). */
export const parentOf = (traceparent: string | null | undefined): Tracer.ExternalSpan | undefined => {
  const m = traceparent === null || traceparent === undefined ? null : TRACEPARENT.exec(traceparent.trim())
  if (m === null || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return undefined
  return Tracer.externalSpan({ traceId: m[1]!, spanId: m[2]!, sampled: (parseInt(m[3]!, 16) & 1) === 1 })
}

/** A span as W3C `traceparent`. */
export const traceparentOf = (span: Tracer.AnySpan) => `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`

/** The current span's `traceparent`, or null (none, or tracing off: `enabled` false). */
export const currentTraceparent = (enabled: boolean) =>
  enabled ? Effect.map(Effect.option(Effect.currentSpan), Option.match({ onNone: () => null, onSome: traceparentOf })) : Effect.succeed(null)
