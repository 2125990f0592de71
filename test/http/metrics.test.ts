/**
 * `/metrics` (issue 17): scraped before and after traffic through every door, the figures that
 * traffic must move have moved, by the labels OpenTelemetry's conventions name (route templates,
 * never raw paths), the scrape-time gauges are there, and no patient's id appears in it.
 * `VIGIL_METRICS=false` turns it off.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"
import { jetstream } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { fileURLToPath } from "node:url"
import { eventually } from "../support/eventually.ts"
import { deleteStreams, requireNats, resolveNats, unique } from "../support/nats-server.ts"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp
const nats = await resolveNats()
const runNats = requireNats(nats, "/metrics with NATS ingest")
const scope = { subjectPrefix: unique("met").toLowerCase(), streamPrefix: unique("MET").toUpperCase() }

interface Scrape {
  readonly text: string
  /** The value of the series `name{labels}`, labels matched as a subset; summed over the matches. */
  readonly value: (name: string, labels?: Record<string, string>) => number
  readonly series: (name: string) => ReadonlyArray<{ readonly labels: Record<string, string>; readonly value: number }>
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

const parse = (text: string): Scrape => {
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = []
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const m = SAMPLE.exec(line)
    expect(m, `not a sample line: ${line}`).not.toBeNull()
    const labels: Record<string, string> = {}
    for (const [, key, value] of m![2]?.matchAll(LABEL) ?? []) labels[key!] = value!
    samples.push({ name: m![1]!, labels, value: m![3] === "+Inf" ? Infinity : Number(m![3]) })
  }
  const matching = (name: string, labels: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  return {
    text,
    value: (name, labels) => matching(name, labels).reduce((sum, s) => sum + s.value, 0),
    series: (name) => matching(name)
  }
}

const scrape = Effect.gen(function*() {
  const response = yield* call("GET", "/metrics")
  expect(response.status).toBe(200)
  expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8")
  return parse(response.body as string)
})

const grpcGetPatient = (patientId: string) =>
  Effect.gen(function*() {
    const address = yield* TestApp.grpcAddress
    const proto = fileURLToPath(new URL("../../proto/registry.proto", import.meta.url))
    const Registry = (grpc.loadPackageDefinition(protoLoader.loadSync(proto, { keepCase: true, enums: String, defaults: true })) as any)
      .registry.Registry as grpc.ServiceClientConstructor
    const client = new Registry(address, grpc.credentials.createInsecure())
    try {
      return yield* Effect.async<any>((resume) => {
        client.GetPatient({ patient_id: patientId }, { deadline: Date.now() + 5_000 }, (error: unknown, reply: unknown) =>
          resume(error ? Effect.die(error) : Effect.succeed(reply)))
      })
    } finally {
      client.close()
    }
  })

const publish = (subject: string, payload: unknown) =>
  Effect.promise(async () => {
    const nc = await connect({ servers: nats.available ? nats.url : "" })
    try {
      await jetstream(nc).publish(subject, typeof payload === "string" ? payload : JSON.stringify(payload))
    } finally {
      await nc.close()
    }
  })

describe.skipIf(!runNats)("/metrics", () => {
  if (!nats.available) return
  const teardown = Layer.scopedDiscard(Effect.addFinalizer(() => Effect.promise(() => deleteStreams(nats.url, scope.streamPrefix)).pipe(Effect.ignore)))
  const app = TestApp.layer({ NATS_URL: nats.url, NATS_SUBJECT_PREFIX: scope.subjectPrefix, NATS_STREAM_PREFIX: scope.streamPrefix })

  layer(Layer.merge(app, teardown), { timeout: 60_000, excludeTestServices: true })("with metrics on", (it) => {
    it.effect("moves the request, ingest, alert and outbox figures with traffic, by route template and never by id", () =>
      Effect.gen(function*() {
        const patient = (yield* call("POST", "/patients", { full_name: "Metered Patient", age: 50, sex: "F" })).body
        const device = (yield* call("POST", "/devices", { serial: unique("MET"), firmware: "v1", patient_id: patient.id })).body
        expect(yield* Effect.map(call("GET", `/api/v1/patients/${patient.id}/snapshot`), (r) => r.status)).toBe(200)
        const before = yield* scrape

        const route = { http_request_method: "GET", http_route: "/patients/{patient_id}" }
        for (let i = 0; i < 3; i++) expect((yield* call("GET", `/patients/${patient.id}`)).status).toBe(200)
        expect((yield* call("GET", `/patients/${randomUUID()}`)).status).toBe(404)
        expect((yield* call("GET", `/no/such/route/${patient.id}`)).status).toBe(404)
        expect((yield* call("GET", `/fhir/R4/Patient/${patient.id}`)).status).toBe(200)
        for (let i = 0; i < 2; i++) expect((yield* grpcGetPatient(patient.id)).status).toBe("STATUS_SUCCESS")
        // A breaching reading over HTTP raises an alert; two over NATS; a batch of two trial records.
        expect((yield* call("POST", `/api/v1/devices/${device.id}/readings`, { reading_id: randomUUID(), heart_rate: 165 })).status).toBe(201)
        const subject = `${scope.subjectPrefix}.ingest.vitals.${device.id}`
        for (const heart_rate of [150, 152]) yield* publish(subject, { reading_id: randomUUID(), heart_rate })
        yield* publish(subject, "not json")
        const subjects = [unique("MS"), unique("MS")]
        expect((yield* call("POST", "/store-vitals", {
          records: subjects.map((SubjectID) => ({ SubjectID, VisitName: "V1", TreatmentArm: "A", SystolicBP: 120, DiastolicBP: 80, HeartRate: 70, Temperature: 36.6 }))
        })).status).toBe(200)

        // NATS ingest is asynchronous: scrape until it shows (an assertion that fails is retried).
        const after = yield* eventually(Effect.flatMap(scrape, (now) =>
          Effect.try(() => {
            expect(now.value("vigil_readings_ingested_total", { door: "nats" }) - before.value("vigil_readings_ingested_total", { door: "nats" })).toBe(2)
            expect(now.value("vigil_readings_dead_lettered_total") - before.value("vigil_readings_dead_lettered_total")).toBe(1)
            return now
          })), 15)
        const moved = (name: string, labels?: Record<string, string>) => after.value(name, labels) - before.value(name, labels)

        expect(moved("http_server_request_duration_seconds_count", { ...route, http_response_status_code: "200" })).toBe(3)
        expect(moved("http_server_request_duration_seconds_count", { ...route, http_response_status_code: "404" })).toBe(1)
        expect(moved("http_server_request_duration_seconds_count", { http_route: "", http_response_status_code: "404" })).toBe(1)
        expect(moved("http_server_request_duration_seconds_count", { http_route: "/fhir/R4/Patient/{id}", http_response_status_code: "200" })).toBe(1)
        expect(moved("http_server_request_duration_seconds_sum", route)).toBeGreaterThan(0)
        expect(moved("rpc_server_duration_seconds_count", { rpc_system: "grpc", rpc_service: "registry.Registry", rpc_method: "GetPatient", rpc_grpc_status_code: "0" })).toBe(2)
        expect(moved("vigil_readings_ingested_total", { door: "http" })).toBe(1)
        expect(moved("vigil_readings_ingested_total", { door: "store_vitals" })).toBe(2)
        expect(moved("vigil_ingest_batch_size_count")).toBeGreaterThanOrEqual(1)
        expect(moved("vigil_ingest_batch_size_sum")).toBe(3)
        expect(moved("vigil_alerts_raised_total")).toBe(1)
        expect(after.value("vigil_alerts_active", { status: "open" })).toBeGreaterThanOrEqual(1)

        // Histograms are cumulative and end at +Inf = _count.
        for (const series of after.series("http_server_request_duration_seconds_count")) {
          const { http_request_method, http_response_status_code, http_route } = series.labels
          const buckets = after.series("http_server_request_duration_seconds_bucket")
            .filter((b) => b.labels.http_route === http_route && b.labels.http_request_method === http_request_method && b.labels.http_response_status_code === http_response_status_code)
          expect(buckets.map((b) => b.value)).toEqual([...buckets.map((b) => b.value)].sort((a, b) => a - b))
          expect(buckets.at(-1)).toMatchObject({ labels: { le: "+Inf" }, value: series.value })
        }

        // Scrape-time figures: database, JetStream, pool, messaging, actors, the process.
        expect(after.value("vigil_scrape_source_up", { source: "database" })).toBe(1)
        expect(after.value("vigil_scrape_source_up", { source: "jetstream" })).toBe(1)
        expect(after.series("vigil_outbox_unpublished")).toHaveLength(1)
        expect(after.value("vigil_outbox_oldest_age_seconds")).toBeGreaterThanOrEqual(0)
        expect(after.series("vigil_ingest_consumer_pending")).toHaveLength(1)
        expect(after.value("vigil_db_pool_max_connections")).toBe(5)
        expect(after.series("vigil_db_pool_connections").map((s) => s.labels.state).sort()).toEqual(["idle", "used"])
        expect(after.value("vigil_messaging_connected", { state: "connected" })).toBe(1)
        // The cluster samples its live actors once a second.
        yield* eventually(Effect.flatMap(scrape, (now) => Effect.try(() => expect(now.value("effect_cluster_entities")).toBeGreaterThanOrEqual(1))), 5)
        expect(moved("vigil_outbox_published_total")).toBeGreaterThan(0)
        expect(after.value("process_cpu_seconds_total")).toBeGreaterThan(0)
        expect(after.value("process_resident_memory_bytes")).toBeGreaterThan(10_000_000)
        expect(after.series("nodejs_eventloop_delay_seconds")).toHaveLength(3)

        // Labels are templates, methods, statuses: no id of a patient or device, no raw path.
        for (const id of [patient.id, device.id, ...subjects]) expect(after.text).not.toContain(id)
        expect(after.text).not.toContain("/no/such/route")
        expect(after.text).toMatch(/^# HELP http_server_request_duration_seconds .+\n# TYPE http_server_request_duration_seconds histogram$/m)
      }))
  })
})

layer(TestApp.layer({ VIGIL_METRICS: "false" }), { timeout: 60_000, excludeTestServices: true })("with VIGIL_METRICS=false", (it) => {
  it.effect("serves no /metrics", () =>
    Effect.gen(function*() {
      expect((yield* call("GET", "/metrics")).status).toBe(404)
      expect((yield* call("GET", "/health")).status).toBe(200)
    }))
})
