/**
 * The alerting sweeps on Effect's `Clock`: the test steps a `TestClock` through minutes instead
 * of waiting for them. Escalation and offline detection act exactly when their time has come by
 * the sweep's clock, once each, and leave everything else alone. The times the sweeps compare
 * (`last_seen_at`, `critical_since`) are written here from the test's clock; it is never jumped
 * far at once (a loop sleeping on it would run once per interval of the jump).
 */
import { expect, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Chunk, Clock, ConfigProvider, Effect, Layer, Option, TestClock, TestServices } from "effect"
import { Nats } from "../../src/messaging/NatsBus.ts"
import * as Monitoring from "../../src/Monitoring.ts"
import { eventually } from "../support/eventually.ts"
import { OutboxSignal } from "../../src/persistence/OutboxSignal.ts"
import * as TestDatabase from "../support/test-database.ts"

const config = Layer.setConfigProvider(ConfigProvider.fromMap(new Map([
  ["ALERT_SWEEP_INTERVAL", "1 minute"],
  ["ALERT_ESCALATE_AFTER", "5 minutes"],
  ["DEVICE_OFFLINE_AFTER", "5 minutes"]
])))

// The monitors on this process's own runtime (no NATS: no cluster of processes).
const Sweeping = Monitoring.layer.pipe(Layer.provide(Layer.succeed(Nats, Option.none())), Layer.provideMerge(OutboxSignal.Default),
  Layer.provideMerge(TestDatabase.layer), Layer.provide(config))

/** Waits in real time (the database works in real time), whatever the test's clock says. */
const until = <A, E, R>(check: Effect.Effect<A, E, R>) => TestServices.provideLive(eventually(check))

const insertPatient = (sql: SqlClient.SqlClient) =>
  Effect.map(sql<{ id: string }>`INSERT INTO patients (full_name, age, sex) VALUES ('Swept', 60, 'F') RETURNING id`, ([row]) => row!.id)

const auditActions = (sql: SqlClient.SqlClient, entityId: string) =>
  Effect.map(sql<{ action: string }>`SELECT action FROM audit_events WHERE entity_id = ${entityId} ORDER BY seq`, (rows) => rows.map((r) => r.action))

/**
 * Steps the clock `minutes` forward, a sweep interval at a time: after each step both sweeps run,
 * and the step is over once both are asleep again until the next (their database work is real).
 */
const advance = (minutes: number) =>
  Effect.gen(function*() {
    // Read outside `until`, which runs on the live clock.
    const clock = yield* TestClock.testClock()
    for (let i = 0; i < minutes; i++) {
      yield* TestClock.adjust("1 minute")
      const next = (yield* Clock.currentTimeMillis) + 60_000
      yield* until(Effect.flatMap(clock.sleeps, (sleeps) =>
        Chunk.filter(sleeps, (at) => at === next).length >= 2 ? Effect.void : Effect.fail("a sweep is still running")))
    }
  })

layer(Sweeping, { timeout: 60_000 })("sweeps on the test clock", (it) => {
  it.effect("reports a device offline once it has been silent for DEVICE_OFFLINE_AFTER by the sweep's clock, and once only", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const now = yield* Clock.currentTimeMillis
      const patient = yield* insertPatient(sql)
      const [device] = yield* sql<{ id: string }>`
        INSERT INTO devices (serial, firmware, patient_id, last_seen_at) VALUES (${`SW-${Date.now()}`}, 'v1', ${patient}, ${new Date(now)})
        RETURNING id`
      // A witness silent for 90 s more: once it is reported, a sweep has run at 4 minutes.
      const [witness] = yield* sql<{ id: string }>`
        INSERT INTO devices (serial, firmware, patient_id, last_seen_at) VALUES (${`SW-W-${Date.now()}`}, 'v1', ${patient}, ${new Date(now - 90_000)})
        RETURNING id`

      yield* advance(4)
      yield* until(Effect.flatMap(auditActions(sql, witness!.id), (a) => a.includes("offline") ? Effect.void : Effect.fail("witness not reported")))
      expect(yield* auditActions(sql, device!.id)).not.toContain("offline")

      yield* advance(2)
      yield* until(Effect.flatMap(auditActions(sql, device!.id), (a) => a.includes("offline") ? Effect.void : Effect.fail("not reported yet")))
      yield* advance(1)
      expect((yield* auditActions(sql, device!.id)).filter((a) => a === "offline")).toHaveLength(1)
    }))

  it.effect("escalates a critical alert nobody acknowledged once it has been critical for ALERT_ESCALATE_AFTER by the sweep's clock", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const now = yield* Clock.currentTimeMillis
      const patient = yield* insertPatient(sql)
      const raise = (vitalSign: string, criticalSince: Date) =>
        Effect.map(sql<{ id: string }>`
          INSERT INTO alerts (patient_id, vital_sign, severity, status, peak, count, bounds, first_seen, last_seen, critical_since)
          VALUES (${patient}, ${vitalSign}, 'critical', 'open', 140, 1, '{}'::jsonb, now(), now(), ${criticalSince})
          RETURNING id`, ([row]) => row!.id)
      const fresh = yield* raise("heart_rate", new Date(now))
      // A witness critical for 90 s more: once it is escalated, a sweep has run at 4 minutes.
      const witness = yield* raise("spo2", new Date(now - 90_000))
      const escalated = (id: string) =>
        Effect.map(sql<{ escalated_at: Date | null }>`SELECT escalated_at FROM alerts WHERE id = ${id}`, ([row]) => row!.escalated_at !== null)

      yield* advance(4)
      yield* until(Effect.flatMap(escalated(witness), (done) => done ? Effect.void : Effect.fail("witness not escalated")))
      expect(yield* escalated(fresh)).toBe(false)

      yield* advance(2)
      yield* until(Effect.flatMap(escalated(fresh), (done) => done ? Effect.void : Effect.fail("not escalated yet")))
      yield* advance(1)
      expect((yield* auditActions(sql, fresh)).filter((a) => a === "escalated")).toHaveLength(1)
    }))
})
