/**
 * The ML service registry when several Vigil processes share one database: a service silent
 * for good is declared critical and deregistered once, whichever process it registered with;
 * a change through one process is what the others answer next (their caches hear of it); and a
 * restart keeps every registered service, with its place in the list.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { eventually } from "../support/eventually.ts"
import { startInstance, withDatabase } from "../support/instances.ts"
import { metadata } from "../support/ml-services.ts"

describe("ML service registry across processes", () => {
  it.live("declares a silent service critical and deregisters it once, with two processes sharing the database", () =>
    withDatabase((name) =>
      Effect.gen(function*() {
        const env = {
          SERVICE_TIMEOUT_SECONDS: "1",
          SERVICE_DEREGISTER_AFTER: "1 second",
          SERVICE_CHECK_INTERVAL: "200 millis",
          ML_REGISTRY_PROBE_INTERVAL: "1 hour"
        }
        const first = yield* startInstance(name, env)
        const second = yield* startInstance(name, env)
        const services = Array.from({ length: 6 }, (_, i) => metadata(`silent_${i}`, `Silent ${i}`, "http://127.0.0.1:9", ["silent"]))
        for (const [i, service] of services.entries()) {
          const response = yield* (i % 2 === 0 ? first : second).registry("POST", "/api/v1/services/register", service)
          expect(response.status, JSON.stringify(response.body)).toBe(201)
        }
        yield* eventually(Effect.flatMap(first.registry("GET", "/api/v1/services"), (r) => (r.body.length === 0 ? Effect.void : Effect.fail("not all deregistered yet"))), 20)
        // Give a second sweep (in whichever process) the chance to do it again: it must not.
        yield* Effect.sleep("1 second")
        const actions = yield* first.sql<{ entity_id: string; actions: Array<string> }>`
          SELECT entity_id, array_agg(action || coalesce(':' || (after->>'lease_status'), '') ORDER BY seq) AS actions
          FROM audit_events WHERE entity_type = 'service' GROUP BY entity_id ORDER BY entity_id`
        expect(actions).toEqual(services.map((s) => ({ entity_id: s.service_id, actions: ["registered:passing", "health_changed:critical", "deregistered"] })))
        yield* second.stop
        yield* first.stop
      })
    ), 60_000)

  it.live("keeps every service, its metadata and its place in the list, across a restart", () =>
    withDatabase((name) =>
      Effect.gen(function*() {
        const env = { ML_REGISTRY_PROBE_INTERVAL: "1 hour" }
        const before = yield* startInstance(name, env)
        const services = ["zeta", "alpha", "mid"].map((id) => metadata(`kept_${id}`, `Kept ${id}`, "http://127.0.0.1:9", ["kept"]))
        for (const service of services) expect((yield* before.registry("POST", "/api/v1/services/register", service)).status).toBe(201)
        const beat = yield* before.registry("POST", `/api/v1/services/${services[1]!.service_id}/heartbeat`)
        expect(beat.status).toBe(200)
        const listed = (yield* before.registry("GET", "/api/v1/services")).body
        yield* before.stop

        const after = yield* startInstance(name, env)
        const relisted = (yield* after.registry("GET", "/api/v1/services")).body
        expect(relisted.map((s: { service_id: string }) => s.service_id)).toEqual(services.map((s) => s.service_id))
        // Whole, the last heartbeat included: a beat not yet written (younger than a lease fraction)
        // is written when its actor stops.
        expect(relisted).toEqual(listed)
        expect(relisted[1].last_heartbeat).toBe(beat.body.timestamp)
        yield* after.stop
      })
    ), 60_000)

  it.live("answers a change made through another process, not what it cached before", () =>
    withDatabase((name) =>
      Effect.gen(function*() {
        const env = { ML_REGISTRY_PROBE_INTERVAL: "1 hour" }
        const first = yield* startInstance(name, env)
        const second = yield* startInstance(name, env)
        const service = metadata("shared_model", "Shared", "http://127.0.0.1:9", ["shared"])
        expect((yield* first.registry("POST", "/api/v1/services/register", service)).status).toBe(201)
        const path = `/api/v1/services/${service.service_id}`
        // Read twice through the first process: the second read is its cache's.
        for (let i = 0; i < 2; i++) expect((yield* first.registry("GET", path)).body.version).toBe("1.0.0")
        expect((yield* second.registry("POST", "/api/v1/services/register", { ...service, version: "2.0.0" })).status).toBe(201)
        // Well within the cache's time to live (30 s): the notice, not the expiry, drops the entry.
        yield* eventually(Effect.flatMap(first.registry("GET", path), (r) => (r.body.version === "2.0.0" ? Effect.void : Effect.fail(r.body.version))), 3)
        expect((yield* second.registry("DELETE", path)).status).toBe(200)
        yield* eventually(Effect.flatMap(first.registry("GET", path), (r) => (r.status === 404 ? Effect.void : Effect.fail(r.status))), 3)
        yield* second.stop
        yield* first.stop
      })
    ), 60_000)
})
