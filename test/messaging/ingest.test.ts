/**
 * Device readings over NATS: stored once, acknowledged after the commit, evaluated by the
 * patient's monitor (whose events an outside subscriber sees), and dead-lettered with a reason
 * when they can never be stored.
 */
import { describe, expect, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { jetstream, jetstreamManager, type StoredMsg } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Deferred, Effect, Fiber, Layer } from "effect"
import { randomUUID } from "node:crypto"
import * as TestApp from "../support/test-app.ts"
import { deleteStreams, requireNats, resolveNats, unique } from "../support/nats-server.ts"
import { eventually } from "../support/eventually.ts"

const nats = await resolveNats()
const runNats = requireNats(nats, "device ingest over NATS")
const { call } = TestApp

const natsUrl = nats.available ? nats.url : ""

const scope = { subjectPrefix: unique("ing").toLowerCase(), streamPrefix: unique("ING").toUpperCase() }

const publish = (subject: string, payload: unknown) =>
  Effect.promise(async () => {
    const nc = await connect({ servers: natsUrl })
    try {
      const js = jetstream(nc)
      return await js.publish(subject, typeof payload === "string" ? payload : JSON.stringify(payload))
    } finally {
      await nc.close()
    }
  })

const streamMessages = (stream: string) =>
  Effect.promise(async () => {
    const nc = await connect({ servers: natsUrl })
    try {
      const jsm = await jetstreamManager(nc)
      const info = await jsm.streams.info(stream)
      const messages: Array<StoredMsg> = []
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
        const message = await jsm.streams.getMessage(stream, { seq }).catch(() => null)
        if (message) messages.push(message)
      }
      return { messages, count: info.state.messages }
    } finally {
      await nc.close()
    }
  })


const setUp = Effect.gen(function*() {
  const patient = (yield* call("POST", "/patients", { full_name: "Over NATS", age: 61, sex: "F" })).body
  const device = (yield* call("POST", "/devices", { serial: unique("NATS"), firmware: "v1", patient_id: patient.id })).body
  return { patientId: patient.id as string, deviceId: device.id as string }
})

describe.skipIf(!runNats)("ingest over NATS", () => {
  if (!nats.available) return
  const teardown = Layer.scopedDiscard(Effect.addFinalizer(() => Effect.promise(() => deleteStreams(nats.url, scope.streamPrefix)).pipe(Effect.ignore)))
  const app = TestApp.layer({
    NATS_URL: nats.url,
    NATS_SUBJECT_PREFIX: scope.subjectPrefix,
    NATS_STREAM_PREFIX: scope.streamPrefix,
    INGEST_MAX_DELIVER: "3"
  })
  const subject = (deviceId: string) => `${scope.subjectPrefix}.ingest.vitals.${deviceId}`

  layer(Layer.merge(app, teardown), { timeout: 60_000, excludeTestServices: true })("ingest", (it) => {
    it.effect("stores a published reading, removes it from the work queue, and publishes vitals.recorded and alert.raised", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const { patientId, deviceId } = yield* setUp
        const readingId = randomUUID()
        yield* publish(subject(deviceId), { reading_id: readingId, heart_rate: 140, spo2: 97 })
        const [row] = yield* eventually(Effect.flatMap(sql`SELECT * FROM vital_signs WHERE id = ${readingId}`, (rows) =>
          rows.length === 1 ? Effect.succeed(rows) : Effect.fail("not stored yet")))
        expect(row).toMatchObject({ patient_id: patientId, device_id: deviceId, source: "device", heart_rate: 140, spo2: 97 })
        yield* eventually(Effect.flatMap(streamMessages(`${scope.streamPrefix}_INGEST`), ({ count }) =>
          count === 0 ? Effect.void : Effect.fail("still queued")))

        // The reading is acknowledged once committed and evaluated just after: wait for both events.
        const events = yield* eventually(Effect.flatMap(streamMessages(`${scope.streamPrefix}_EVENTS`), ({ messages }) => {
          const mine = messages.map((m) => ({ subject: m.subject, event: m.json<any>() }))
            .filter((e) => e.event.subject === patientId || e.event.data?.patient_id === patientId)
          return mine.some((e) => e.subject.endsWith(".alert.raised")) ? Effect.succeed(mine) : Effect.fail("no alert.raised yet")
        }))
        const recorded = events.find((e) => e.subject === `${scope.subjectPrefix}.events.vitals.recorded`)
        expect(recorded?.event.data.readings.map((r: any) => r.id)).toEqual([readingId])
        const raised = events.find((e) => e.subject === `${scope.subjectPrefix}.events.alert.raised`)
        expect(raised?.event.data).toMatchObject({ patient_id: patientId, vital_sign: "heart_rate", severity: "critical", peak: 140, status: "open" })
      }))

    it.scoped("a live NATS subscriber sees vitals.recorded, alert.raised and alert.resolved for the readings it published", () =>
      Effect.gen(function*() {
        const { patientId, deviceId } = yield* setUp
        const nc = yield* Effect.acquireRelease(Effect.promise(() => connect({ servers: natsUrl })), (nc) => Effect.promise(() => nc.close()))
        const seen: Array<{ subject: string; type: string; data: any }> = []
        const subscription = nc.subscribe(`${scope.subjectPrefix}.events.>`, {
          callback: (_error, msg) => {
            const event = msg.json<any>()
            if (event.subject === patientId || event.data?.patient_id === patientId) seen.push({ subject: msg.subject, type: event.type, data: event.data })
          }
        })
        yield* Effect.addFinalizer(() => Effect.sync(() => subscription.unsubscribe()))
        yield* Effect.promise(() => nc.flush())

        const start = Date.now() - 60_000
        const values = [140, 72, 74, 73] // a breach, then ALERT_CLEAR_AFTER (3) in-range readings
        for (const [i, heart_rate] of values.entries()) {
          yield* publish(subject(deviceId), { reading_id: randomUUID(), heart_rate, measured_at: new Date(start + i * 1000).toISOString() })
        }
        const kinds = () => seen.map((e) => e.subject.slice(`${scope.subjectPrefix}.events.`.length))
        yield* eventually(Effect.suspend(() => kinds().includes("alert.resolved") ? Effect.void : Effect.fail("not resolved yet")))
        expect(kinds().filter((k) => k === "vitals.recorded").length).toBeGreaterThanOrEqual(1)
        expect(seen.filter((e) => e.subject.endsWith("vitals.recorded")).flatMap((e) => e.data.readings.map((r: any) => r.heart_rate)))
          .toEqual(values)
        expect(kinds().filter((k) => k.startsWith("alert."))).toEqual(["alert.raised", "alert.resolved"])
        const raised = seen.find((e) => e.subject.endsWith("alert.raised"))!
        const resolved = seen.find((e) => e.subject.endsWith("alert.resolved"))!
        expect(raised.type).toBe("vigil.alert.raised")
        expect(resolved.data).toMatchObject({ id: raised.data.id, status: "resolved", resolved_by: "auto", peak: 140 })
      }))

    it.effect("stores a reading published twice (a device's retry) once", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const { deviceId } = yield* setUp
        const readingId = randomUUID()
        yield* publish(subject(deviceId), { reading_id: readingId, heart_rate: 70 })
        yield* publish(subject(deviceId), { reading_id: readingId, heart_rate: 70 })
        yield* eventually(Effect.flatMap(streamMessages(`${scope.streamPrefix}_INGEST`), ({ count }) =>
          count === 0 ? Effect.void : Effect.fail("still queued")))
        const [{ n }] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM vital_signs WHERE id = ${readingId}`
        expect(n).toBe(1)
      }))

    it.effect("dead-letters what can never be stored, with the reason, and stores the valid readings around it", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const { deviceId } = yield* setUp
        const unlinked = (yield* call("POST", "/devices", { serial: unique("LOOSE"), firmware: "v1" })).body.id as string
        const good = [randomUUID(), randomUUID()]
        yield* publish(subject(deviceId), { reading_id: good[0], heart_rate: 72 })
        yield* publish(subject(deviceId), "{not json")
        yield* publish(subject(deviceId), { reading_id: randomUUID(), heart_rate: 900 })
        yield* publish(`${scope.subjectPrefix}.ingest.vitals.not-a-uuid`, { reading_id: randomUUID(), heart_rate: 70 })
        yield* publish(subject(randomUUID()), { reading_id: randomUUID(), heart_rate: 70 })
        yield* publish(subject(unlinked), { reading_id: randomUUID(), heart_rate: 70 })
        yield* publish(subject(deviceId), { reading_id: good[1], spo2: 95 })

        const deadLetters = yield* eventually(Effect.flatMap(streamMessages(`${scope.streamPrefix}_DEADLETTER`), ({ messages }) =>
          messages.length >= 5 ? Effect.succeed(messages) : Effect.fail(`only ${messages.length} dead letters`)))
        const reasons = deadLetters.map((m) => m.header?.get("Vigil-Dead-Letter-Reason") ?? "")
        expect(reasons).toHaveLength(5)
        expect(reasons.some((r) => r.startsWith("body: not JSON"))).toBe(true)
        expect(reasons.some((r) => r.includes("body.heart_rate") && r.includes("less than or equal to 350"))).toBe(true)
        expect(reasons.some((r) => r.includes("'not-a-uuid' is not a device id"))).toBe(true)
        expect(reasons.filter((r) => r === "unknown device")).toHaveLength(1)
        expect(reasons.filter((r) => r === "device not linked to a patient")).toHaveLength(1)
        expect(deadLetters.every((m) => m.header?.get("Vigil-Original-Subject")?.startsWith(`${scope.subjectPrefix}.ingest.vitals.`))).toBe(true)

        // The last good reading may be in a later batch than the last dead letter: wait for the queue.
        yield* eventually(Effect.flatMap(streamMessages(`${scope.streamPrefix}_INGEST`), ({ count }) =>
          count === 0 ? Effect.void : Effect.fail("still queued: dead letters must be acknowledged, not retried")))
        const [{ n }] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM vital_signs WHERE id IN ${sql.in(good)}`
        expect(n).toBe(2)
      }))

    it.effect("dead-letters a reading the database refuses, and stores the others of its batch", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const { deviceId } = yield* setUp
        // A rule the schema does not know, so that only PostgreSQL refuses the reading (SQLSTATE 23514).
        yield* Effect.acquireRelease(
          sql`ALTER TABLE vital_signs ADD CONSTRAINT test_refuses_77_7 CHECK (heart_rate IS DISTINCT FROM 77.7)`,
          () => Effect.orDie(sql`ALTER TABLE vital_signs DROP CONSTRAINT test_refuses_77_7`)
        )
        const ids = [randomUUID(), randomUUID(), randomUUID()]
        yield* Effect.all(
          [72, 77.7, 74].map((heart_rate, i) => publish(subject(deviceId), { reading_id: ids[i], heart_rate })),
          { concurrency: "unbounded" }
        )
        const refused = yield* eventually(Effect.flatMap(streamMessages(`${scope.streamPrefix}_DEADLETTER`), ({ messages }) => {
          const mine = messages.filter((m) => m.header?.get("Vigil-Original-Subject") === subject(deviceId))
          return mine.length > 0 ? Effect.succeed(mine) : Effect.fail("not dead-lettered yet")
        }))
        expect(refused).toHaveLength(1)
        expect(refused[0]!.json<any>().reading_id).toBe(ids[1])
        expect(refused[0]!.header?.get("Vigil-Dead-Letter-Reason")).toContain("SQLSTATE 23514")
        // The others are retried one at a time, possibly after the dead letter: each is acknowledged
        // (leaves the work queue) only once it is stored.
        yield* eventually(Effect.flatMap(streamMessages(`${scope.streamPrefix}_INGEST`), ({ count }) =>
          count === 0 ? Effect.void : Effect.fail("still queued")))
        const stored = yield* sql<{ id: string }>`SELECT id::text AS id FROM vital_signs WHERE id IN ${sql.in(ids)}`
        expect(stored.map((row) => row.id).sort()).toEqual([ids[0], ids[2]].sort())
      }).pipe(Effect.scoped))

    it.effect("dead-letters a message that fails on a bug at every delivery, with its delivery count and last error, after INGEST_MAX_DELIVER deliveries, and stores the others", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const { deviceId } = yield* setUp
        // A bug only this reading meets: the insert fails with SQLSTATE XX000 (internal error),
        // which is neither an outage nor data the database refuses.
        yield* Effect.acquireRelease(
          sql.unsafe(`
            CREATE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.heart_rate = 66.6 THEN RAISE EXCEPTION 'test poison: a bug' USING ERRCODE = 'XX000'; END IF;
              RETURN NEW;
            END $$;
            CREATE TRIGGER test_poison BEFORE INSERT ON vital_signs FOR EACH ROW EXECUTE FUNCTION test_poison();`),
          () => Effect.orDie(sql.unsafe(`DROP TRIGGER test_poison ON vital_signs; DROP FUNCTION test_poison();`))
        )
        const ids = [randomUUID(), randomUUID(), randomUUID()]
        yield* Effect.all(
          [71, 66.6, 73].map((heart_rate, i) => publish(subject(deviceId), { reading_id: ids[i], heart_rate })),
          { concurrency: "unbounded" }
        )
        const poisoned = yield* eventually(
          Effect.flatMap(streamMessages(`${scope.streamPrefix}_DEADLETTER`), ({ messages }) => {
            const mine = messages.filter((m) => m.header?.get("Vigil-Original-Subject") === subject(deviceId))
            return mine.length > 0 ? Effect.succeed(mine) : Effect.fail("not dead-lettered yet")
          }),
          30
        )
        expect(poisoned).toHaveLength(1)
        expect(poisoned[0]!.json<any>().reading_id).toBe(ids[1])
        expect(poisoned[0]!.header?.get("Vigil-Delivery-Count")).toBe("3")
        const reason = poisoned[0]!.header?.get("Vigil-Dead-Letter-Reason") ?? ""
        expect(reason).toContain("3 deliveries")
        expect(reason).toContain("test poison: a bug")
        // Gone from the work queue, and the good readings of its batch are stored.
        yield* eventually(Effect.flatMap(streamMessages(`${scope.streamPrefix}_INGEST`), ({ count }) =>
          count === 0 ? Effect.void : Effect.fail("still queued")))
        const stored = yield* sql<{ id: string }>`SELECT id::text AS id FROM vital_signs WHERE id IN ${sql.in(ids)}`
        expect(stored.map((row) => row.id).sort()).toEqual([ids[0], ids[2]].sort())
      }).pipe(Effect.scoped), 60_000)

    it.effect("dead-letters from the stream a message JetStream stopped delivering (its process died on it each time), on JetStream's advisory", () =>
      Effect.gen(function*() {
        // A message in the ingest stream that no process will answer: outside the consumer's filter.
        const stranded = `${scope.subjectPrefix}.ingest.stranded.${randomUUID()}`
        const ack = yield* publish(stranded, { reading_id: randomUUID(), heart_rate: 70 })
        // What JetStream announces when a message reaches the consumer's max_deliver.
        yield* Effect.promise(async () => {
          const nc = await connect({ servers: natsUrl })
          try {
            nc.publish(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${scope.streamPrefix}_INGEST.vigil-ingest-vitals`, JSON.stringify({
              type: "io.nats.jetstream.advisory.v1.max_deliver",
              stream: `${scope.streamPrefix}_INGEST`,
              consumer: "vigil-ingest-vitals",
              stream_seq: ack.seq,
              deliveries: 4
            }))
            await nc.flush()
          } finally {
            await nc.close()
          }
        })
        const letter = yield* eventually(Effect.flatMap(streamMessages(`${scope.streamPrefix}_DEADLETTER`), ({ messages }) => {
          const mine = messages.find((m) => m.header?.get("Vigil-Original-Subject") === stranded)
          return mine !== undefined ? Effect.succeed(mine) : Effect.fail("not dead-lettered yet")
        }))
        expect(letter.header?.get("Vigil-Delivery-Count")).toBe("4")
        expect(letter.header?.get("Vigil-Dead-Letter-Reason")).toContain("without an answer")
        // Gone from the work queue.
        const { messages } = yield* streamMessages(`${scope.streamPrefix}_INGEST`)
        expect(messages.map((m) => m.subject)).not.toContain(stranded)
      }))
  })
})

describe.skipIf(!runNats)("ingest over NATS, batches stored concurrently", () => {
  if (!nats.available) return
  const own = { subjectPrefix: unique("ingc").toLowerCase(), streamPrefix: unique("INGC").toUpperCase() }
  const teardown = Layer.scopedDiscard(Effect.addFinalizer(() => Effect.promise(() => deleteStreams(nats.url, own.streamPrefix)).pipe(Effect.ignore)))
  // Small batches, four stored at once: many batches overlap in the database.
  const app = TestApp.layer({
    NATS_URL: nats.url,
    NATS_SUBJECT_PREFIX: own.subjectPrefix,
    NATS_STREAM_PREFIX: own.streamPrefix,
    INGEST_BATCH_SIZE: "7",
    INGEST_STORES_IN_FLIGHT: "4"
  })

  layer(Layer.merge(app, teardown), { timeout: 60_000, excludeTestServices: true })("ingest", (it) => {
    it.effect("stores readings in the order they were published, and the monitor evaluates them in that order", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const { deviceId, patientId } = yield* setUp
        const start = Date.now() - 60_000
        const ids = Array.from({ length: 400 }, () => randomUUID())
        // A breach at 100, then in range: the alert it raises resolves only if the readings after it are evaluated after it.
        yield* Effect.promise(async () => {
          const nc = await connect({ servers: natsUrl })
          try {
            const js = jetstream(nc)
            // Sent in order on one connection (JetStream stores them in that order), acknowledged together.
            await Promise.all(ids.map((id, i) =>
              js.publish(`${own.subjectPrefix}.ingest.vitals.${deviceId}`, JSON.stringify({
                reading_id: id,
                heart_rate: i === 100 ? 150 : 70 + (i % 10),
                measured_at: new Date(start + i * 100).toISOString()
              }))
            ))
          } finally {
            await nc.close()
          }
        })
        const rows = yield* eventually(Effect.flatMap(
          sql<{ id: string; seq: string }>`SELECT id::text AS id, seq::text AS seq FROM vital_signs WHERE patient_id = ${patientId} ORDER BY vital_signs.seq`,
          (rows) => rows.length === ids.length ? Effect.succeed(rows) : Effect.fail(`stored ${rows.length} of ${ids.length}`)
        ))
        expect(rows.map((row) => row.id)).toEqual(ids)
        const snapshot = yield* eventually(Effect.flatMap(call("GET", `/api/v1/patients/${patientId}/snapshot`), (response) =>
          response.body.evaluated_through === Number(rows[rows.length - 1]!.seq) ? Effect.succeed(response.body) : Effect.fail("not evaluated yet")))
        expect(snapshot.active_alerts).toEqual([])
        expect(snapshot.latest.heart_rate.value).toBe(70 + (399 % 10))
        const alerts = yield* sql<{ status: string; peak: number }>`SELECT status, peak FROM alerts WHERE patient_id = ${patientId}`
        expect(alerts).toEqual([{ status: "resolved", peak: 150 }])
      }))

    it.effect("a patient whose alert cannot be written yet holds up only its own readings, not other patients'", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const slow = yield* setUp
        const other = yield* setUp
        const send = (deviceId: string, heart_rate: number) =>
          Effect.promise(async () => {
            const nc = await connect({ servers: natsUrl })
            try {
              const id = randomUUID()
              await jetstream(nc).publish(`${own.subjectPrefix}.ingest.vitals.${deviceId}`, JSON.stringify({ reading_id: id, heart_rate }))
              return id
            } finally {
              await nc.close()
            }
          })
        const seqOf = (id: string) =>
          eventually(Effect.flatMap(sql<{ seq: string }>`SELECT seq::text AS seq FROM vital_signs WHERE id = ${id}`, ([row]) =>
            row === undefined ? Effect.fail("not stored yet") : Effect.succeed(Number(row.seq))))
        const evaluatedThrough = (patientId: string) =>
          Effect.map(call("GET", `/api/v1/patients/${patientId}/snapshot`), (response) => response.body.evaluated_through as number)
        // Both monitors active, with nothing to write.
        yield* seqOf(yield* send(slow.deviceId, 70))
        yield* seqOf(yield* send(other.deviceId, 70))

        // Alerts cannot be written while this transaction holds its lock.
        const release = yield* Deferred.make<void>()
        const locked = yield* Deferred.make<void>()
        const holder = yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`LOCK TABLE alerts IN EXCLUSIVE MODE`
          yield* Deferred.succeed(locked, undefined)
          yield* Deferred.await(release)
        })).pipe(Effect.fork)
        yield* Deferred.await(locked)

        const breach = yield* seqOf(yield* send(slow.deviceId, 150))
        const after = yield* seqOf(yield* send(other.deviceId, 72))
        // The other patient's reading is evaluated while the first patient's alert still waits
        // (well within the 10 s after which an evaluation stops waiting for a monitor).
        yield* eventually(
          Effect.flatMap(evaluatedThrough(other.patientId), (through) =>
            through >= after ? Effect.void : Effect.fail("the other patient's reading is not evaluated yet")),
          4
        )
        const [{ n }] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM alerts WHERE patient_id = ${slow.patientId}`
        expect(n).toBe(0)

        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        yield* eventually(Effect.flatMap(evaluatedThrough(slow.patientId), (through) =>
          through >= breach ? Effect.void : Effect.fail("the breach is not evaluated yet")))
        const alerts = yield* sql<{ status: string; peak: number }>`SELECT status, peak FROM alerts WHERE patient_id = ${slow.patientId}`
        expect(alerts).toEqual([{ status: "open", peak: 150 }])
      }))
  })
})
