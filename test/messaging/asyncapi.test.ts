/**
 * `/asyncapi.json` (issue 17): an AsyncAPI 3 document that `@asyncapi/parser` accepts without an
 * error, whose channels cover every subject Vigil builds and nothing outside its streams, and
 * whose payload schemas accept the events Vigil really publishes (caught on NATS after traffic
 * through the REST API, validated with ajv), each published with the CloudEvents NATS binding's
 * `Content-Type: application/cloudevents+json` and its id as `Nats-Msg-Id`.
 */
import { Parser } from "@asyncapi/parser"
import { describe, expect, layer } from "@effect/vitest"
import type { Msg } from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import { Ajv } from "ajv"
import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { deadLetterSubject, ingestVitalsSubject, matches, streams } from "../../src/messaging/Subjects.ts"
import { eventually } from "../support/eventually.ts"
import { deleteStreams, requireNats, resolveNats, unique } from "../support/nats-server.ts"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp
const nats = await resolveNats()
const runNats = requireNats(nats, "AsyncAPI document against published events")
const config = { subjectPrefix: unique("aa").toLowerCase(), streamPrefix: unique("AA").toUpperCase() }

/** A channel address as a NATS subject pattern (`{param}` is one token). */
const pattern = (address: string) => address.replace(/\{[^}]+\}/g, "*")

describe.skipIf(!runNats)("AsyncAPI", () => {
  if (!nats.available) return
  const teardown = Layer.scopedDiscard(Effect.addFinalizer(() => Effect.promise(() => deleteStreams(nats.url, config.streamPrefix)).pipe(Effect.ignore)))
  const app = TestApp.layer({ NATS_URL: nats.url, NATS_SUBJECT_PREFIX: config.subjectPrefix, NATS_STREAM_PREFIX: config.streamPrefix })

  layer(Layer.merge(app, teardown), { timeout: 60_000, excludeTestServices: true })("the document", (it) => {
    const fetchDocument = Effect.map(call("GET", "/asyncapi.json"), (response) => {
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toBe("application/json")
      return response.body as any
    })

    it.effect("is AsyncAPI 3 that @asyncapi/parser accepts with no error", () =>
      Effect.gen(function*() {
        const doc = yield* fetchDocument
        expect(doc.asyncapi).toBe("3.0.0")
        const { diagnostics, document } = yield* Effect.promise(() => new Parser().parse(JSON.stringify(doc)))
        // Severity 0 is an error.
        expect(diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join(".")}: ${d.message}`)).toEqual([])
        expect(document).toBeDefined()
        expect(document!.operations().all().map((op) => op.action()).sort()).toContain("receive")
        expect(document!.servers().all()[0]!.protocol()).toBe("nats")
      }))

    it.effect("has a channel for every subject Vigil builds, and every channel inside one of its streams", () =>
      Effect.gen(function*() {
        const doc = yield* fetchDocument
        const addresses = Object.values(doc.channels).map((channel: any) => pattern(channel.address))
        const deviceId = randomUUID()
        const built = [
          ingestVitalsSubject(config, deviceId),
          deadLetterSubject(config, ingestVitalsSubject(config, deviceId)),
          `${config.subjectPrefix}.events.vitals.recorded`,
          `${config.subjectPrefix}.events.patient.created`,
          `${config.subjectPrefix}.events.alert.raised`,
          `${config.subjectPrefix}.events.service.health_changed`,
          `${config.subjectPrefix}.audit.appointment.confirmed`
        ]
        for (const subject of built) expect(addresses.filter((address) => matches(address, subject)), subject).toHaveLength(1)
        const filters = streams(config).flatMap((stream) => stream.subjects)
        for (const address of addresses) {
          const example = address.replace(/\*/g, "x")
          expect(filters.some((filter) => matches(filter, example)), address).toBe(true)
        }
        expect(doc.channels.readings["x-jetstream"]).toMatchObject({ stream: `${config.streamPrefix}_INGEST`, retention: "workqueue" })
      }))

    it.scoped("describes the events Vigil publishes: each one caught on NATS validates against its channel's payload schema", () =>
      Effect.gen(function*() {
        const doc = yield* fetchDocument
        const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true })
        const channels = Object.values(doc.channels) as Array<any>
        const validator = (subject: string) => {
          const channel = channels.find((c) => matches(pattern(c.address), subject))
          expect(channel, `no channel for ${subject}`).toBeDefined()
          const [message] = Object.values(channel.messages) as Array<any>
          const resolved = message.$ref === undefined ? message : doc.components.messages[message.$ref.split("/").at(-1)]
          return { message: resolved, validate: ajv.compile({ ...resolved.payload, components: doc.components }) }
        }

        const caught: Array<Msg> = []
        const nc = yield* Effect.acquireRelease(Effect.promise(() => connect({ servers: nats.url })), (nc) => Effect.promise(() => nc.close()))
        nc.subscribe(`${config.subjectPrefix}.events.>`, { callback: (_, msg) => void caught.push(msg) })
        nc.subscribe(`${config.subjectPrefix}.audit.>`, { callback: (_, msg) => void caught.push(msg) })
        yield* Effect.promise(() => nc.flush())

        // Traffic through the REST API: a patient, a linked device, a threshold profile, a reading that raises an alert, a trial batch.
        const patient = (yield* call("POST", "/patients", { full_name: "Async Described", age: 44, sex: "M" })).body
        const device = (yield* call("POST", "/devices", { serial: unique("AA"), firmware: "v1", patient_id: patient.id })).body
        expect((yield* call("POST", "/thresholds", { patient_id: patient.id, hr_min: 50, hr_max: 120, spo2_min: 92, temp_min: 36, temp_max: 38 })).status).toBe(201)
        expect((yield* call("GET", `/api/v1/patients/${patient.id}/snapshot`)).status).toBe(200)
        expect((yield* call("POST", `/api/v1/devices/${device.id}/readings`, { reading_id: randomUUID(), heart_rate: 170 })).status).toBe(201)
        expect((yield* call("POST", "/store-vitals", {
          records: [{ SubjectID: unique("AAS"), VisitName: "V1", TreatmentArm: "A", SystolicBP: 120, DiastolicBP: 80, HeartRate: 70, Temperature: 36.6 }]
        })).status).toBe(200)

        const expected = ["events.patient.created", "events.device.created", "events.threshold.created", "events.alert.raised", "events.vitals.recorded", "audit.patient.created", "audit.alert.raised"]
        yield* eventually(Effect.try(() => {
          const seen = new Set(caught.map((msg) => msg.subject.slice(config.subjectPrefix.length + 1)))
          expect(expected.filter((subject) => !seen.has(subject))).toEqual([])
        }), 15)

        for (const msg of caught) {
          expect(msg.headers?.get("Content-Type"), msg.subject).toBe("application/cloudevents+json")
          const event = msg.json<any>()
          expect(msg.headers?.get("Nats-Msg-Id"), msg.subject).toBe(event.id)
          const { message, validate } = validator(msg.subject)
          expect(message.contentType).toBe("application/cloudevents+json")
          const valid = validate(event)
          expect(valid, `${msg.subject}: ${JSON.stringify(validate.errors)}`).toBe(true)
        }
        // The schemas are not vacuous: an event with a data field of the wrong type is refused.
        const raised = caught.find((msg) => msg.subject.endsWith(".events.alert.raised"))!
        const broken = { ...raised.json<any>(), data: { ...raised.json<any>().data, severity: 42 } }
        expect(validator(raised.subject).validate(broken)).toBe(false)
      }))
  })
})
