/**
 * The events backbone on a real NATS server: what an outside JetStream subscriber sees, and what
 * happens to writes and events while NATS is down. Each suite uses its own subject and stream
 * prefixes, so runs on a shared server never collide.
 */
import { describe, expect, layer } from "@effect/vitest"
import { jetstreamManager, type JetStreamManager, type StoredMsg } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import * as TestApp from "../support/test-app.ts"
import { deleteStreams, natsServerBinary, OwnNatsServer, requireNats, resolveNats, unique } from "../support/nats-server.ts"
import { outboxDrained } from "../support/outbox.ts"

const nats = await resolveNats()
const runNats = requireNats(nats, "events backbone on NATS")
const hasBinary = natsServerBinary() !== undefined
const { call } = TestApp

interface Scope {
  readonly subjectPrefix: string
  readonly streamPrefix: string
}
const newScope = (): Scope => ({ subjectPrefix: unique("t").toLowerCase(), streamPrefix: unique("T").toUpperCase() })

const withManager = <A>(url: string, f: (jsm: JetStreamManager, nc: NatsConnection) => Promise<A>) =>
  Effect.promise(async () => {
    const nc = await connect({ servers: url })
    try {
      return await f(await jetstreamManager(nc), nc)
    } finally {
      await nc.close()
    }
  })

/** Every message of a stream, in stream order. */
const readStream = (url: string, stream: string) =>
  withManager(url, async (jsm) => {
    const info = await jsm.streams.info(stream)
    const messages: Array<StoredMsg> = []
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const message = await jsm.streams.getMessage(stream, { seq })
      if (message) messages.push(message)
    }
    return messages
  })

const appOn = (url: string, scope: Scope, extra: Record<string, string> = {}) =>
  TestApp.layer({ NATS_URL: url, NATS_SUBJECT_PREFIX: scope.subjectPrefix, NATS_STREAM_PREFIX: scope.streamPrefix, ...extra })

describe.skipIf(!runNats)("NATS JetStream", () => {
  if (!nats.available) return
  const scope = newScope()
  const teardown = Layer.scopedDiscard(Effect.addFinalizer(() => Effect.promise(() => deleteStreams(nats.url, scope.streamPrefix)).pipe(Effect.ignore)))

  layer(Layer.merge(appOn(nats.url, scope), teardown), { timeout: 60_000, excludeTestServices: true })("subscriber's view", (it) => {
    it.effect("receives exactly one well-formed CloudEvent per registry change, in commit order, and one audit event each", () =>
      Effect.gen(function*() {
        const patient = (yield* call("POST", "/patients", { full_name: "On NATS", age: 33, sex: "M" })).body
        const device = (yield* call("POST", "/devices", { serial: `N-${Date.now()}`, firmware: "v1", patient_id: patient.id })).body
        yield* call("PATCH", `/devices/${device.id}`, { firmware: "v2" })
        yield* call("PATCH", `/devices/${device.id}`, { patient_id: null })
        yield* call("POST", "/devices/link", { device_id: device.id, patient_id: patient.id })
        const profile = (yield* call("POST", "/thresholds", { patient_id: patient.id, hr_min: 50, hr_max: 90, spo2_min: 94, temp_min: 36, temp_max: 37.5 })).body
        yield* outboxDrained(15)

        const events = yield* readStream(nats.url, `${scope.streamPrefix}_EVENTS`)
        const p = scope.subjectPrefix
        // One event per change, even for a device created already linked to a patient.
        expect(events.map((m) => m.subject)).toEqual([
          `${p}.events.patient.created`,
          `${p}.events.device.created`,
          `${p}.events.device.updated`,
          `${p}.events.device.unlinked`,
          `${p}.events.device.linked`,
          `${p}.events.threshold.created`
        ])
        const bodies = events.map((m) => m.json<Record<string, any>>())
        for (const [i, body] of bodies.entries()) {
          expect(Object.keys(body).sort()).toEqual(["data", "datacontenttype", "id", "source", "specversion", "subject", "time", "type"])
          expect(body).toMatchObject({ specversion: "1.0", source: "vigil", datacontenttype: "application/json" })
          expect(body.time).toMatch(/Z$/)
          expect(events[i]!.header.get("Nats-Msg-Id")).toBe(body.id)
        }
        expect(new Set(bodies.map((b) => b.id)).size).toBe(bodies.length)
        expect(bodies.map((b) => b.type)).toEqual([
          "vigil.patient.created", "vigil.device.created", "vigil.device.updated", "vigil.device.unlinked", "vigil.device.linked", "vigil.threshold.created"
        ])
        expect(bodies[0]!.subject).toBe(patient.id)
        expect(bodies[0]!.data).toMatchObject({ id: patient.id, full_name: "On NATS" })
        expect(bodies[1]!.data.patient_id).toBe(patient.id)
        expect(bodies[3]!.data.patient_id).toBeNull()
        expect(bodies[4]!.data.patient_id).toBe(patient.id)
        expect(bodies[5]!.subject).toBe(profile.id)

        const audits = yield* readStream(nats.url, `${scope.streamPrefix}_AUDIT`)
        expect(audits.map((m) => m.subject)).toEqual([
          `${p}.audit.patient.created`,
          `${p}.audit.device.created`,
          `${p}.audit.device.updated`,
          `${p}.audit.device.unlinked`,
          `${p}.audit.device.linked`,
          `${p}.audit.threshold.created`
        ])
        const chain = audits.map((m) => m.json<{ data: { hash: string; prev_hash: string } }>().data)
        for (let i = 1; i < chain.length; i++) expect(chain[i]!.prev_hash).toBe(chain[i - 1]!.hash)
      }))

    it.effect("reports messaging as connected", () =>
      Effect.gen(function*() {
        expect((yield* call("GET", "/health")).body.messaging).toEqual({ status: "connected" })
      }))
  })
})

describe.skipIf(!hasBinary)("NATS outage", () => {
  // This suite stops and restarts NATS, so it always runs its own server.
  if (!hasBinary) {
    requireNats({ available: false, reason: "no nats-server binary to stop and restart" }, "NATS outage")
    return
  }
  const scope = newScope()
  let server: OwnNatsServer | undefined
  const ownServer = Layer.scopedDiscard(Effect.acquireRelease(
    Effect.promise(async () => (server = await OwnNatsServer.start())),
    (s) => Effect.promise(() => s.stop())
  ))
  const app = Layer.unwrapEffect(Effect.sync(() => appOn(server!.url, scope, { OUTBOX_MAX_BACKOFF: "500 millis" })))

  layer(app.pipe(Layer.provideMerge(ownServer)), { timeout: 60_000, excludeTestServices: true })("outage", (it) => {
    it.effect("keeps accepting writes while NATS is down and delivers every event once, none lost, none twice, when it returns", () =>
      Effect.gen(function*() {
        const own = server!
        const first = (yield* call("POST", "/patients", { full_name: "Before outage", age: 50, sex: "F" })).body
        yield* outboxDrained(10)

        yield* Effect.promise(() => own.pause())
        const during: Array<string> = []
        for (let i = 0; i < 20; i++) {
          const response = yield* call("POST", "/patients", { full_name: `During outage ${i}`, age: 50, sex: "F" })
          expect(response.status).toBe(201)
          during.push(response.body.id)
        }
        const health = (yield* call("GET", "/health")).body
        expect(["disconnected", "reconnecting"]).toContain(health.messaging.status)
        const sql = yield* SqlClient.SqlClient
        const [pending] = yield* sql<{ n: string }>`SELECT count(*) AS n FROM outbox WHERE published_at IS NULL`
        expect(Number(pending!.n)).toBeGreaterThan(0)

        yield* Effect.promise(() => own.resume())
        yield* outboxDrained(30)
        const events = yield* readStream(own.url, `${scope.streamPrefix}_EVENTS`)
        const ids = events.map((m) => m.json<{ subject: string }>().subject)
        expect(ids).toEqual([first.id, ...during])
        const audits = yield* readStream(own.url, `${scope.streamPrefix}_AUDIT`)
        expect(audits).toHaveLength(21)
        expect((yield* call("GET", "/health")).body.messaging.status).toBe("connected")
      }))
  })
})
