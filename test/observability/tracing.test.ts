/**
 * Traces (issue 17): with OTEL_EXPORTER_OTLP_ENDPOINT set, a reading's trace goes from its door
 * (an HTTP request's or a NATS message's `traceparent`) through the actor and SQL to the outbox's
 * publication on NATS, whose message carries the trace on. The exporter is Vigil's real one; the
 * collector is an in-memory OTLP/HTTP receiver on a loopback port. Off by default: no
 * `traceparent` stored or sent.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { headers as natsHeaders, type Msg } from "@nats-io/nats-core"
import { jetstream } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Layer } from "effect"
import { randomBytes, randomUUID } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { eventually } from "../support/eventually.ts"
import { deleteStreams, requireNats, resolveNats, unique } from "../support/nats-server.ts"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp
const nats = await resolveNats()
const runNats = requireNats(nats, "traces across NATS")

interface ExportedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly kind: number
  readonly attributes: ReadonlyArray<{ key: string; value: Record<string, unknown> }>
}

/** An OTLP/HTTP JSON receiver: every span posted to /v1/traces, in memory. */
const spans: Array<ExportedSpan> = []
const collector = createServer((request, response) => {
  const chunks: Array<Buffer> = []
  request.on("data", (chunk) => chunks.push(chunk))
  request.on("end", () => {
    if (request.url === "/v1/traces") {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8"))
      for (const resource of body.resourceSpans ?? []) for (const scope of resource.scopeSpans ?? []) spans.push(...scope.spans)
    }
    response.writeHead(200, { "content-type": "application/json" }).end("{}")
  })
})
await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve))
const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`

const hex = (bytes: number) => randomBytes(bytes).toString("hex")
const traceOf = (traceId: string) => spans.filter((span) => span.traceId === traceId)

const subscribe = (subject: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const nc = await connect({ servers: nats.available ? nats.url : "" })
      const caught: Array<Msg> = []
      nc.subscribe(subject, { callback: (_, msg) => void caught.push(msg) })
      await nc.flush()
      return { nc, caught }
    }),
    ({ nc }) => Effect.promise(() => nc.close())
  )

const monitored = Effect.gen(function*() {
  const patient = (yield* call("POST", "/patients", { full_name: "Traced Patient", age: 58, sex: "M" })).body
  const device = (yield* call("POST", "/devices", { serial: unique("TR"), firmware: "v1", patient_id: patient.id })).body
  expect((yield* call("GET", `/api/v1/patients/${patient.id}/snapshot`)).status).toBe(200)
  return { patientId: patient.id as string, deviceId: device.id as string }
})

describe.skipIf(!runNats)("traces", () => {
  if (!nats.available) return
  const scope = { subjectPrefix: unique("tr").toLowerCase(), streamPrefix: unique("TR").toUpperCase() }
  const teardown = Layer.scopedDiscard(Effect.addFinalizer(() => Effect.promise(() => deleteStreams(nats.url, scope.streamPrefix)).pipe(Effect.ignore)))
  const app = TestApp.layer({
    NATS_URL: nats.url,
    NATS_SUBJECT_PREFIX: scope.subjectPrefix,
    NATS_STREAM_PREFIX: scope.streamPrefix,
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_BSP_SCHEDULE_DELAY: "200 millis"
  })

  layer(Layer.merge(app, teardown), { timeout: 60_000, excludeTestServices: true })("with OTEL_EXPORTER_OTLP_ENDPOINT", (it) => {
    it.scoped("follows an HTTP reading from its request through the actor and SQL to its NATS publication", () =>
      Effect.gen(function*() {
        const { deviceId } = yield* monitored
        const { caught } = yield* subscribe(`${scope.subjectPrefix}.events.>`)
        const traceId = hex(16)
        const parentId = hex(8)
        const response = yield* call("POST", `/api/v1/devices/${deviceId}/readings`, { reading_id: randomUUID(), heart_rate: 171 }, {
          traceparent: `00-${traceId}-${parentId}-01`
        })
        expect(response.status).toBe(201)
        const trace = yield* eventually(Effect.try(() => {
          const trace = traceOf(traceId)
          const names = trace.map((span) => span.name)
          expect(names).toEqual(expect.arrayContaining([
            "POST /api/v1/devices/{device_id}/readings",
            "sql.execute",
            "publish events.vitals.recorded",
            "publish events.alert.raised"
          ]))
          expect(names.some((name) => name.includes("PatientMonitor")), names.join(", ")).toBe(true)
          return trace
        }), 15)
        const server = trace.find((span) => span.name === "POST /api/v1/devices/{device_id}/readings")!
        expect(server.parentSpanId).toBe(parentId)
        expect(server.kind).toBe(2) // SERVER
        expect(server.attributes.find((a) => a.key === "http.route")?.value).toEqual({ stringValue: "/api/v1/devices/{device_id}/readings" })
        // Every span of the trace descends from the request's span.
        const byId = new Map(trace.map((span) => [span.spanId, span]))
        for (const span of trace) {
          let at: ExportedSpan | undefined = span
          for (let hops = 0; at !== undefined && at !== server && hops < 50; hops++) at = byId.get(at.parentSpanId ?? "")
          expect(at, `${span.name} is not under the request's span`).toBe(server)
        }
        // The event on NATS carries the trace on, from its publication's span.
        const published = yield* eventually(Effect.try(() => {
          const msg = caught.find((m) => m.subject.endsWith(".events.alert.raised"))
          expect(msg).toBeDefined()
          return msg!
        }), 15)
        const [, headerTrace, headerSpan] = published.headers!.get("traceparent").split("-")
        expect(headerTrace).toBe(traceId)
        expect(trace.find((span) => span.spanId === headerSpan)?.name).toBe("publish events.alert.raised")
      }))

    it.scoped("follows a NATS reading from its message's traceparent through the ingest and SQL to the publication", () =>
      Effect.gen(function*() {
        const { deviceId } = yield* monitored
        const traceId = hex(16)
        const parentId = hex(8)
        yield* Effect.promise(async () => {
          const nc = await connect({ servers: nats.url })
          try {
            const h = natsHeaders()
            h.set("traceparent", `00-${traceId}-${parentId}-01`)
            await jetstream(nc).publish(`${scope.subjectPrefix}.ingest.vitals.${deviceId}`, JSON.stringify({ reading_id: randomUUID(), heart_rate: 75 }), { headers: h })
          } finally {
            await nc.close()
          }
        })
        const trace = yield* eventually(Effect.try(() => {
          const trace = traceOf(traceId)
          expect(trace.map((span) => span.name)).toEqual(expect.arrayContaining(["ingest vitals", "sql.execute", "publish events.vitals.recorded"]))
          return trace
        }), 15)
        const ingest = trace.find((span) => span.name === "ingest vitals")!
        expect(ingest.parentSpanId).toBe(parentId)
        expect(ingest.kind).toBe(5) // CONSUMER
      }))

    it.effect("a request without traceparent starts a trace of its own; a malformed one is ignored", () =>
      Effect.gen(function*() {
        const before = spans.length
        expect((yield* call("GET", "/patients", undefined, { traceparent: "00-not-a-trace-01" })).status).toBe(200)
        const span = yield* eventually(Effect.try(() => {
          const found = spans.slice(before).find((s) => s.name === "GET /patients")
          expect(found).toBeDefined()
          return found!
        }), 15)
        expect(span.parentSpanId ?? "").toBe("")
      }))
  })
})

describe.skipIf(!runNats)("traces off (the default)", () => {
  if (!nats.available) return
  const scope = { subjectPrefix: unique("to").toLowerCase(), streamPrefix: unique("TO").toUpperCase() }
  const teardown = Layer.scopedDiscard(Effect.addFinalizer(() => Effect.promise(() => deleteStreams(nats.url, scope.streamPrefix)).pipe(Effect.ignore)))
  const app = TestApp.layer({ NATS_URL: nats.url, NATS_SUBJECT_PREFIX: scope.subjectPrefix, NATS_STREAM_PREFIX: scope.streamPrefix })

  layer(Layer.merge(app, teardown), { timeout: 60_000, excludeTestServices: true })("without OTEL_EXPORTER_OTLP_ENDPOINT", (it) => {
    it.scoped("stores no traceparent and sends none, even when the request has one", () =>
      Effect.gen(function*() {
        const { deviceId, patientId } = yield* monitored
        const { caught } = yield* subscribe(`${scope.subjectPrefix}.events.>`)
        const traceId = hex(16)
        expect((yield* call("POST", `/api/v1/devices/${deviceId}/readings`, { reading_id: randomUUID(), heart_rate: 70 }, {
          traceparent: `00-${traceId}-${hex(8)}-01`
        })).status).toBe(201)
        const msg = yield* eventually(Effect.try(() => {
          const found = caught.find((m) => m.subject.endsWith(".events.vitals.recorded") && m.json<any>().subject === patientId)
          expect(found).toBeDefined()
          return found!
        }), 15)
        expect(msg.headers?.get("traceparent") ?? "").toBe("")
        expect(msg.headers?.get("Content-Type")).toBe("application/cloudevents+json")
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM outbox WHERE traceparent IS NOT NULL`
        expect(rows[0]!.n).toBe(0)
        expect(traceOf(traceId)).toEqual([])
      }))
  })
})
