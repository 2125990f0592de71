/**
 * The audit trail and the outbox, without NATS: every registry change leaves one hash-chained
 * audit row and its events; the database refuses edits; tampering is found by verification; the
 * relay publishes everything to the in-process bus, which the SSE stream serves.
 */
import { expect, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Deferred, Effect, Fiber, Schema, Stream } from "effect"
import { Device } from "../../src/domain/Device.ts"
import { Patient } from "../../src/domain/Patient.ts"
import { EventBus } from "../../src/messaging/EventBus.ts"
import { ChangeLog } from "../../src/persistence/ChangeLog.ts"
import { eventually } from "../support/eventually.ts"
import { outboxDrained } from "../support/outbox.ts"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp

const createPatient = (name: string) =>
  Effect.map(call("POST", "/patients", { full_name: name, age: 40, sex: "F" }), (response) => {
    expect(response.status).toBe(201)
    return response.body as { id: string }
  })

// A poll interval far beyond any test's patience: the relay must be woken by each commit.
layer(TestApp.layer({ NATS_SUBJECT_PREFIX: "audit_test", OUTBOX_POLL_INTERVAL: "5 minutes" }), { timeout: 60_000, excludeTestServices: true })("audit trail", (it) => {
  it.effect("records every registry change with actor, action and before/after", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient("Audited")
      const device = (yield* call("POST", "/devices", { serial: `AUD-${Date.now()}`, firmware: "v1" })).body
      yield* call("POST", "/devices/link", { device_id: device.id, patient_id: patient.id })
      yield* call("PATCH", `/devices/${device.id}`, { firmware: "v2" })
      yield* call("PATCH", `/devices/${device.id}`, { firmware: "v2" }) // no change: no audit row
      yield* call("PATCH", `/devices/${device.id}`, { patient_id: null })
      const { status, body } = yield* call("GET", `/api/v1/audit?entity_type=device&entity_id=${device.id}`)
      expect(status).toBe(200)
      expect(body.items.map((row: { action: string }) => row.action)).toEqual(["created", "linked", "updated", "unlinked"])
      const [created, linked] = body.items
      expect(created).toMatchObject({ actor: "anonymous", entity_type: "device", entity_id: device.id, before: null })
      expect(created.after).toMatchObject({ id: device.id, firmware: "v1", patient_id: null })
      expect(linked.before.patient_id).toBeNull()
      expect(linked.after.patient_id).toBe(patient.id)
      expect(linked.prev_hash).toBe(created.hash)
      expect(created.occurred_at).toMatch(/Z$/)
      const patientRows = (yield* call("GET", `/api/v1/audit?entity_type=patient&entity_id=${patient.id}`)).body.items
      expect(patientRows).toHaveLength(1)
    }))

  it.effect("a change written in one statement is audited and published as its entity's decoded value, field for field", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      // As the rest of Vigil writes an entity into its audit row and events (ChangeLog.snapshot).
      const asWritten = <S extends Schema.Schema.AnyNoContext>(schema: S, row: unknown) =>
        JSON.parse(JSON.stringify(Schema.decodeUnknownSync(schema)(row)))
      const auditOf = (entityId: string) =>
        sql<{ action: string; before: unknown; after: unknown; event: { data: unknown } }>`
          SELECT a.action, a.before, a.after, o.event FROM audit_events a
          JOIN outbox o ON o.event->>'subject' = a.entity_id AND o.subject = 'events.' || a.entity_type || '.' || a.action
          WHERE a.entity_id = ${entityId} ORDER BY a.seq`
      const patient = yield* createPatient("One Statement")
      const named = (yield* call("POST", "/api/v1/patient", { first_name: "Ada", last_name: "Byron", age: 36, condition: null })).body
      const device = (yield* call("POST", "/devices", { serial: `ONE-${Date.now()}`, firmware: "v1" })).body
      const [row1] = yield* sql`SELECT * FROM patients WHERE id = ${patient.id}`
      const [row2] = yield* sql`SELECT * FROM patients WHERE id = ${named.id}`
      for (const [id, row] of [[patient.id, row1], [named.id, row2]] as const) {
        const [created] = yield* auditOf(id)
        expect(created).toEqual({ action: "created", before: null, after: asWritten(Patient, row), event: expect.anything() })
        expect(created!.event.data).toEqual(asWritten(Patient, row))
      }
      const [deviceRow] = yield* sql`SELECT * FROM devices WHERE id = ${device.id}`
      yield* call("PATCH", `/devices/${device.id}`, { firmware: "v2", patient_id: patient.id })
      const [patched] = yield* sql`SELECT * FROM devices WHERE id = ${device.id}`
      yield* call("PATCH", `/devices/${device.id}`, { patient_id: null })
      const [unlinked] = yield* sql`SELECT * FROM devices WHERE id = ${device.id}`
      const rows = yield* auditOf(device.id)
      expect(rows.map((r) => [r.action, r.before, r.after, r.event.data])).toEqual([
        ["created", null, asWritten(Device, deviceRow), asWritten(Device, deviceRow)],
        ["updated", asWritten(Device, deviceRow), asWritten(Device, patched), asWritten(Device, patched)],
        ["unlinked", asWritten(Device, patched), asWritten(Device, unlinked), asWritten(Device, unlinked)]
      ])
    }))

  it.effect("pages with a cursor and filters by action and time", () =>
    Effect.gen(function*() {
      const start = new Date(Date.now() - 1000).toISOString()
      for (let i = 0; i < 5; i++) yield* createPatient(`Page ${i}`)
      const first = yield* call("GET", `/api/v1/audit?entity_type=patient&action=created&from=${start}&limit=2`)
      expect(first.status).toBe(200)
      expect(first.body.items).toHaveLength(2)
      const second = (yield* call("GET", `/api/v1/audit?entity_type=patient&action=created&from=${start}&limit=2&cursor=${first.body.next_cursor}`)).body
      expect(second.items[0].seq).toBeGreaterThan(first.body.items[1].seq)
      const future = (yield* call("GET", `/api/v1/audit?from=${new Date(Date.now() + 60_000).toISOString()}`)).body
      expect(future).toEqual({ items: [], next_cursor: null })
      // limit=0: an empty page, and a cursor that goes on from where it stood.
      const none = (yield* call("GET", `/api/v1/audit?entity_type=patient&action=created&from=${start}&limit=0`)).body
      expect(none.items).toEqual([])
      const onwards = (yield* call("GET", `/api/v1/audit?entity_type=patient&action=created&from=${start}&limit=2&cursor=${none.next_cursor}`)).body
      expect(onwards.items).toEqual(first.body.items)
      const nul = yield* call("GET", "/api/v1/audit?entity_id=%00")
      expect(nul.status).toBe(422)
      expect(nul.body.detail[0].loc).toEqual(["query", "entity_id"])
      const bad = yield* call("GET", "/api/v1/audit?from=yesterday&limit=1001")
      expect(bad.status).toBe(422)
      expect(bad.body.detail.map((d: { loc: Array<string> }) => d.loc[1]).sort()).toEqual(["from", "limit"])
    }))

  it.effect("is append-only: the database refuses UPDATE, DELETE and TRUNCATE", () =>
    Effect.gen(function*() {
      yield* createPatient("Guarded")
      const sql = yield* SqlClient.SqlClient
      for (const statement of [sql`UPDATE audit_events SET actor = 'mallory'`, sql`DELETE FROM audit_events`, sql`TRUNCATE audit_events`]) {
        const error = yield* Effect.flip(statement)
        expect(String(error.cause)).toContain("append-only")
      }
    }))

  it.effect("chains each audit row as its transaction commits: a writer never waits for another's open transaction, and the chain and the audit events follow commit order", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const changes = yield* Effect.provide(ChangeLog, ChangeLog.Default)
      const tag = `${Date.now()}-${Math.random().toString(36).slice(2, 7)}`
      const [early, late] = [`early-${tag}`, `late-${tag}`]
      const inserted = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // The first writer inserts its audit row, then keeps its transaction open.
      const first = yield* sql.withTransaction(Effect.gen(function*() {
        yield* changes.record({ entityType: "patient", entityId: early, action: "created", before: null, after: { n: 1 } })
        yield* Deferred.succeed(inserted, undefined)
        yield* Deferred.await(release)
      })).pipe(Effect.fork)
      yield* Deferred.await(inserted)
      // Its placeholder is invisible to everyone else...
      const [pending] = yield* sql<{ n: string }>`SELECT count(*) AS n FROM audit_events WHERE seq < 0 OR hash = ''`
      expect(pending!.n).toBe("0")
      // ...and a second writer commits meanwhile (with the lock taken at insert, it would wait for the first).
      yield* sql.withTransaction(changes.record({ entityType: "patient", entityId: late, action: "created", before: null, after: { n: 2 } })).pipe(
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the second writer waited for the first one's open transaction") })
      )
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(first)
      const rows = yield* sql<{ id: string; seq: string; entity_id: string; prev_hash: string; hash: string }>`
        SELECT id, seq, entity_id, prev_hash, hash FROM audit_events WHERE entity_id IN (${early}, ${late}) ORDER BY seq`
      expect(rows.map((row) => row.entity_id)).toEqual([late, early]) // commit order
      expect(Number(rows[0]!.seq)).toBeGreaterThan(0)
      expect(rows[1]!.prev_hash).toBe(rows[0]!.hash)
      expect((yield* call("GET", "/api/v1/audit/verify")).body).toMatchObject({ valid: true, first_broken: null })
      // The audit events carry the chained values, and are queued for publication in chain order.
      const events = yield* sql<{ event: { data: { seq: number; prev_hash: string; hash: string; entity_id: string } } }>`
        SELECT event FROM outbox WHERE event_id IN (${rows[0]!.id}, ${rows[1]!.id}) ORDER BY seq`
      expect(events.map(({ event }) => event.data)).toEqual(rows.map((row) =>
        expect.objectContaining({ seq: Number(row.seq), prev_hash: row.prev_hash, hash: row.hash, entity_id: row.entity_id })
      ))
    }))

  it.effect("a writer never waits for the chain: with its lock taken a change commits at once and waits, counted by verify; the relay chains it within a second of the lock's release, its audit event with it", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const locked = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      // As a writer in the middle of its commit would: the chain's lock, held.
      const holder = yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT pg_advisory_xact_lock(7346210002)`
        yield* Deferred.succeed(locked, undefined)
        yield* Deferred.await(release)
      })).pipe(Effect.fork)
      yield* Deferred.await(locked)
      const patient = yield* createPatient("Waits for the chain").pipe(
        Effect.timeoutFail({ duration: "3 seconds", onTimeout: () => new Error("the writer waited for the chain's lock") })
      )
      const [waiting] = yield* sql<{ seq: string; hash: string }>`SELECT seq, hash FROM audit_events WHERE entity_id = ${patient.id}`
      expect(waiting!.hash).toBe("")
      expect(Number(waiting!.seq)).toBeGreaterThanOrEqual(1e15)
      const during = (yield* call("GET", "/api/v1/audit/verify")).body
      expect(during).toMatchObject({ valid: true, first_broken: null })
      expect(during.waiting).toBeGreaterThanOrEqual(1)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      const released = Date.now()
      const chained = yield* eventually(
        Effect.flatMap(
          sql<{ seq: string; prev_hash: string; hash: string; id: string; published: boolean; event: { data: { seq: number; prev_hash: string; hash: string } } }>`
            SELECT a.seq, a.prev_hash, a.hash, a.id, o.published_at IS NOT NULL AS published, o.event FROM audit_events a
            JOIN outbox o ON o.event_id = a.id WHERE a.entity_id = ${patient.id}`,
          ([row]) => row !== undefined && row.hash !== "" && row.published ? Effect.succeed(row) : Effect.fail("not chained and published yet")
        ),
        3
      )
      expect(Date.now() - released).toBeLessThan(1000)
      expect(Number(chained.seq)).toBeLessThan(1e15)
      expect(chained.event.data).toMatchObject({ seq: Number(chained.seq), prev_hash: chained.prev_hash, hash: chained.hash })
      const [before] = yield* sql<{ hash: string }>`SELECT hash FROM audit_events WHERE seq = ${Number(chained.seq) - 1}`
      expect(chained.prev_hash).toBe(before!.hash)
      expect((yield* call("GET", "/api/v1/audit/verify")).body).toMatchObject({ valid: true, first_broken: null })
    }))

  it.effect("under concurrent writers the chain stays gap-free and whole, and the audit events are queued in chain order", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const [start] = yield* sql<{ head: string }>`SELECT coalesce(max(seq), 0)::text AS head FROM audit_events WHERE seq < 1000000000000000`
      const head = Number(start!.head)
      yield* Effect.forEach(Array.from({ length: 60 }, (_, i) => i), (i) => createPatient(`Concurrent ${i}`), { concurrency: 30, discard: true })
      yield* eventually(Effect.flatMap(call("GET", "/api/v1/audit/verify"), ({ body }) => body.waiting === 0 ? Effect.void : Effect.fail("rows wait")), 3)
      const rows = yield* sql<{ seq: string; id: string; prev_hash: string; hash: string }>`
        SELECT seq, id, prev_hash, hash FROM audit_events WHERE seq > ${head} AND seq < 1000000000000000 ORDER BY seq`
      expect(rows.length).toBeGreaterThanOrEqual(60)
      rows.forEach((row, i) => {
        expect(Number(row.seq)).toBe(head + i + 1)
        if (i > 0) expect(row.prev_hash).toBe(rows[i - 1]!.hash)
      })
      const events = yield* sql<{ chain: string }>`
        SELECT event->'data'->>'seq' AS chain FROM outbox WHERE event_id = ANY(${rows.map((row) => row.id)}::uuid[]) ORDER BY seq`
      expect(events.map((e) => Number(e.chain))).toEqual(rows.map((row) => Number(row.seq)))
      expect((yield* call("GET", "/api/v1/audit/verify")).body).toMatchObject({ valid: true, waiting: 0 })
    }))

  it.effect("verifies the chain and names the first row tampered with", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 3; i++) yield* createPatient(`Chain ${i}`)
      const healthy = (yield* call("GET", "/api/v1/audit/verify")).body
      expect(healthy).toMatchObject({ valid: true, first_broken: null })
      expect(healthy.checked).toBeGreaterThanOrEqual(3)
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ seq: string }>`SELECT seq FROM audit_events ORDER BY seq`
      const victim = rows[1]!.seq
      // A superuser who switches the guard off and edits a row in place...
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`
        yield* sql`UPDATE audit_events SET actor = 'mallory' WHERE seq = ${victim}`
        yield* sql`ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only`
      }))
      const edited = (yield* call("GET", "/api/v1/audit/verify")).body
      expect(edited.valid).toBe(false)
      expect(edited.first_broken).toMatchObject({ seq: Number(victim), reason: "content does not match its hash" })
      // ...or who also recomputes that row's hash, or deletes it, breaks the next link instead.
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`
        yield* sql`UPDATE audit_events SET hash = vigil_audit_hash(prev_hash, id, occurred_at, actor, action, entity_type, entity_id, before, after) WHERE seq = ${victim}`
        yield* sql`ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only`
      }))
      const rehashed = (yield* call("GET", "/api/v1/audit/verify")).body
      expect(rehashed.first_broken).toMatchObject({
        seq: Number(rows[2]!.seq),
        reason: "prev_hash does not match the hash of the row before it"
      })
    }))

  it.effect("publishes every outbox row to the bus once, in outbox order, and marks it published", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus
      const sql = yield* SqlClient.SqlClient
      const decoder = new TextDecoder()
      const heard: Array<{ readonly subject: string; readonly event: { readonly id: string; readonly subject: string } }> = []
      yield* bus.subscribe(`${bus.subjectPrefix}.>`).pipe(
        Stream.runForEach((message) => Effect.sync(() => heard.push({ subject: message.subject, event: JSON.parse(decoder.decode(message.data)) }))),
        Effect.forkScoped
      )
      // The subscription is live once it hears of a first change.
      const first = yield* createPatient("Heard")
      yield* eventually(Effect.suspend(() => heard.some((m) => m.event.subject === first.id) ? Effect.void : Effect.fail("not heard yet")))
      const [{ since }] = yield* sql<{ since: string }>`SELECT max(seq)::text AS since FROM outbox`

      const patient = yield* createPatient("Relayed")
      const device = (yield* call("POST", "/devices", { serial: `REL-${Date.now()}`, firmware: "v1", patient_id: patient.id })).body
      yield* call("PATCH", `/devices/${device.id}`, { firmware: "v2" })
      yield* outboxDrained(5)
      const rows = yield* sql<{ event_id: string; subject: string; published_at: Date | null }>`
        SELECT event_id::text, subject, published_at FROM outbox WHERE seq > ${since} ORDER BY seq`
      // Each change: its event and its audit record.
      expect(rows.map((row) => row.subject)).toEqual([
        "events.patient.created", "audit.patient.created", "events.device.created", "audit.device.created", "events.device.updated", "audit.device.updated"
      ])
      const ids = new Set(rows.map((row) => row.event_id))
      const delivered = heard.filter((m) => ids.has(m.event.id))
      expect(delivered.map((m) => `${m.subject}#${m.event.id}`)).toEqual(rows.map((row) => `${bus.subjectPrefix}.${row.subject}#${row.event_id}`))
      for (const row of rows) expect(row.published_at, row.subject).not.toBeNull()
      // And the audit trail and its events agree, row for row.
      const [counts] = yield* sql<{ events: string; audits: string }>`
        SELECT count(*) FILTER (WHERE subject LIKE 'audit.%') AS audits, (SELECT count(*) FROM audit_events) AS events FROM outbox`
      expect(counts!.audits).toBe(counts!.events)
    }).pipe(Effect.scoped))

  it.effect("wakes the relay on commit: an event is published within a second, not at the next poll", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const patient = yield* createPatient("Prompt")
      const started = Date.now()
      yield* Effect.suspend(() =>
        sql<{ published: boolean }>`
          SELECT bool_and(published_at IS NOT NULL) AS published FROM outbox WHERE event->>'subject' = ${patient.id}`.pipe(
          Effect.flatMap(([row]) => (row!.published ? Effect.void : Effect.fail("pending")))
        )
      ).pipe((check) => eventually(check, 3))
      expect(Date.now() - started).toBeLessThan(1000)
    }))

  it.effect("wakes the relay for a stored reading's vitals.recorded too: published within a second, not at the next poll", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const patient = yield* createPatient("Prompt Vitals")
      const device = (yield* call("POST", "/devices", { serial: `PV-${Date.now()}`, firmware: "v1", patient_id: patient.id })).body
      yield* outboxDrained(5)
      const reading = yield* call("POST", `/api/v1/devices/${device.id}/readings`, { reading_id: crypto.randomUUID(), heart_rate: 72 })
      expect(reading.status).toBe(201)
      const stored = Date.now()
      yield* eventually(
        Effect.flatMap(
          sql<{ published: boolean }>`
            SELECT published_at IS NOT NULL AS published FROM outbox
            WHERE subject = 'events.vitals.recorded' AND event->>'subject' = ${patient.id}`,
          ([row]) => (row?.published === true ? Effect.void : Effect.fail("pending"))
        ),
        3
      )
      expect(Date.now() - stored).toBeLessThan(1000)
    }))

  it.effect("streams the domain events as Server-Sent Events, filtered by type", () =>
    Effect.gen(function*() {
      const base = yield* TestApp.baseUrl
      const controller = new AbortController()
      const response = yield* Effect.promise(() => fetch(`${base}/api/v1/events/stream?type=vigil.patient.*`, { signal: controller.signal }))
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toBe("text/event-stream")
      const reader = response.body!.getReader()
      const decoder = new TextDecoder()
      const patient = yield* createPatient("Streamed")
      yield* call("POST", "/devices", { serial: `SSE-${Date.now()}`, firmware: "v1" }) // filtered out
      let text = ""
      while (!text.includes(patient.id)) {
        const chunk = yield* Effect.promise(() => reader.read()).pipe(Effect.timeout("5 seconds"))
        if (chunk.done) break
        text += decoder.decode(chunk.value)
      }
      controller.abort()
      const frame = text.split("\n\n").find((f) => f.includes(patient.id))!
      expect(frame).toContain("event: vigil.patient.created")
      const data = JSON.parse(frame.split("\n").find((line) => line.startsWith("data: "))!.slice(6))
      expect(data).toMatchObject({ specversion: "1.0", source: "vigil", type: "vigil.patient.created", subject: patient.id })
      expect(text).not.toContain("vigil.device.created")
      const bad = yield* call("GET", "/api/v1/events/stream?type=a%20b")
      expect(bad.status).toBe(422)
    }))
})
