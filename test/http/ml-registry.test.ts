/**
 * Seed 001's ML service registry on its own port (ML_REGISTRY_PORT) and on Vigil's: the seed's
 * Postman checks and integration-test assertions (`reference/seed-sources.md` 4.4) as a new
 * user would run them, with services whose health URLs answer and one whose does not; the
 * seed's answers and messages; registration as an upsert that keeps the list's order; search;
 * probes many at once, only where allowed; every change an event and an audit row.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { healthServer, metadata, refusedBaseUrl, registryUrl, seedServices } from "../support/ml-services.ts"
import * as TestApp from "../support/test-app.ts"

const { call, fetchJson } = TestApp

const expectStatus = <A = any>(response: TestApp.JsonResponse, status: number): A => {
  expect(response.status, JSON.stringify(response.body)).toBe(status)
  return response.body as A
}

/** A request to the registry's own port. */
const registry = (method: string, path: string, body?: unknown) => Effect.flatMap(registryUrl, (base) => fetchJson(method, `${base}${path}`, body))

let ids = 0
const unique = (prefix: string) => `${prefix}_${Date.now().toString(36)}_${ids++}`

describe("ML service registry", () => {
  layer(TestApp.layer({ ML_REGISTRY_PROBE_TIMEOUT: "1 second", ML_REGISTRY_PROBE_INTERVAL: "1 hour" }), { timeout: 60_000, excludeTestServices: true })(
    "on its own port",
    (it) => {
      it.scoped("passes the seed's Postman checks and integration assertions, with a service whose health URL answers and one whose does not", () =>
        Effect.gen(function*() {
          const health = yield* healthServer
          const services = seedServices(health.baseUrl)
          // The root and the registry's health, before anything is registered.
          expect(expectStatus(yield* registry("GET", "/"), 200)).toEqual({
            name: "Medical ML Service Registry",
            version: "1.0.0",
            description: "Central registry for medical ML prediction services",
            services_endpoint: "/api/v1/services",
            health_endpoint: "/health",
            docs: "/docs"
          })
          for (const service of services) {
            expect(expectStatus(yield* registry("POST", "/api/v1/services/register", service), 201)).toEqual({
              status: "registered",
              service_id: service.service_id,
              message: `Service '${service.service_name}' registered successfully`
            })
          }
          // Postman: /health is 200 with status healthy and a service field.
          const registryHealth = expectStatus(yield* registry("GET", "/health"), 200)
          expect(registryHealth).toMatchObject({ status: "healthy", service: "Medical ML Service Registry", version: "1.0.0" })
          expect(registryHealth.registered_services).toBeGreaterThanOrEqual(1)
          expect(registryHealth.healthy_services).toBe(3)
          // Postman: the list is an array of exactly 3, each with service_id, service_name, base_url, endpoints.
          const listed = expectStatus<Array<Record<string, unknown>>>(yield* registry("GET", "/api/v1/services"), 200)
          expect(listed).toHaveLength(3)
          for (const item of listed) for (const field of ["service_id", "service_name", "base_url", "endpoints"]) expect(item).toHaveProperty(field)
          expect(listed.map((s) => s.service_id)).toEqual(services.map((s) => s.service_id))
          // Postman and test_service_metadata_complete: each by id, whole.
          for (const service of services) {
            const got = expectStatus(yield* registry("GET", `/api/v1/services/${service.service_id}`), 200)
            expect(got).toMatchObject({ ...service, last_heartbeat: null, status: "passing" })
            expect(got.input_schema.properties).toBeDefined()
            expect(got.output_schema).toBeDefined()
            expect(Object.keys(got.endpoints)).toEqual(expect.arrayContaining(["predict", "health"]))
            expect(got.port).toBe(Number(new URL(health.baseUrl).port))
            expect(got.tags.length).toBeGreaterThan(0)
          }
          // Postman and test_search_by_tags: each result carries the tag.
          for (const tag of ["cardiovascular", "classification", "cancer"]) {
            const found = expectStatus<Array<{ tags: Array<string> }>>(yield* registry("GET", `/api/v1/services/search/by-tags?tags=${tag}`), 200)
            expect(found.length).toBeGreaterThan(0)
            for (const result of found) expect(result.tags).toContain(tag)
          }
          // Postman: /api/v1/health/all has exactly 3 keys, all healthy.
          const all = expectStatus<Record<string, { status: string; service_name: string; base_url: string }>>(yield* registry("GET", "/api/v1/health/all"), 200)
          expect(Object.keys(all).sort()).toEqual(services.map((s) => s.service_id).sort())
          for (const [id, entry] of Object.entries(all)) {
            expect(entry, id).toMatchObject({ status: "healthy", base_url: health.baseUrl })
          }
          // Two more, one whose health URL answers 503 and one where nothing listens: unhealthy,
          // each saying why, the others still healthy.
          const down = metadata(unique("down"), "Down Model", health.baseUrl, ["classification"], "/down/health")
          const refused = metadata(unique("refused"), "Refused Model", yield* refusedBaseUrl, ["classification"])
          for (const s of [down, refused]) expectStatus(yield* registry("POST", "/api/v1/services/register", s), 201)
          const after = expectStatus(yield* registry("GET", "/api/v1/health/all"), 200)
          expect(after[down.service_id]).toMatchObject({ status: "unhealthy", detail: "HTTP 503, status \"unhealthy\"" })
          expect(after[refused.service_id]).toMatchObject({ status: "unhealthy", detail: "fetch failed: ECONNREFUSED" })
          expect(Object.values(after).filter((e: any) => e.status === "healthy")).toHaveLength(3)
          // Docs on the registry's port.
          expect((yield* registry("GET", "/docs")).status).toBe(200)
          expect(expectStatus(yield* registry("GET", "/openapi.json"), 200).info.title).toBe("Medical ML Service Registry")
          for (const s of [down, refused]) expectStatus(yield* registry("DELETE", `/api/v1/services/${s.service_id}`), 200)
        }))

      it.effect("answers with the seed's messages, upserts keeping the list's order, and names a missing field", () =>
        Effect.gen(function*() {
          const base = "http://127.0.0.1:9"
          const first = metadata(unique("first"), "First", base, ["x"])
          const second = metadata(unique("second"), "Second", base, ["x"])
          for (const s of [first, second]) expectStatus(yield* registry("POST", "/api/v1/services/register", s), 201)
          // Again, changed, with a field it does not know: replaced, in its place.
          expectStatus(yield* registry("POST", "/api/v1/services/register", { ...first, version: "2.0.0", unknown_field: true }), 201)
          const ids = (expectStatus<Array<{ service_id: string; version: string }>>(yield* registry("GET", "/api/v1/services"), 200))
          const positions = ids.map((s) => s.service_id)
          expect(positions.indexOf(first.service_id)).toBeLessThan(positions.indexOf(second.service_id))
          expect(ids.find((s) => s.service_id === first.service_id)!.version).toBe("2.0.0")
          const { version: _, ...noVersion } = second
          expect(expectStatus(yield* registry("POST", "/api/v1/services/register", noVersion), 422).detail).toEqual([
            { type: "missing", loc: ["body", "version"], msg: "Field required" }
          ])
          expect(expectStatus(yield* registry("POST", "/api/v1/services/register", { ...second, port: "eighty", endpoints: [] }), 422).detail.map((d: any) => d.loc.join(".")))
            .toEqual(["body.port", "body.endpoints"])
          expect(expectStatus(yield* registry("GET", "/api/v1/services/nobody"), 404)).toEqual({ detail: "Service 'nobody' not found" })
          expect(expectStatus(yield* registry("GET", "/api/v1/services/search"), 404)).toEqual({ detail: "Service 'search' not found" })
          expect(expectStatus(yield* registry("POST", "/api/v1/services/nobody/heartbeat"), 404)).toEqual({ detail: "Service 'nobody' not found" })
          expect(expectStatus(yield* registry("DELETE", "/api/v1/services/nobody"), 404)).toEqual({ detail: "Service 'nobody' not found" })
          const beat = expectStatus(yield* registry("POST", `/api/v1/services/${second.service_id}/heartbeat`), 200)
          expect(beat).toMatchObject({ status: "acknowledged", service_id: second.service_id })
          expect(expectStatus(yield* registry("GET", `/api/v1/services/${second.service_id}`), 200).last_heartbeat).toBe(beat.timestamp)
          expect(expectStatus(yield* registry("DELETE", `/api/v1/services/${second.service_id}`), 200)).toEqual({
            status: "unregistered",
            service_id: second.service_id,
            message: `Service '${second.service_id}' unregistered successfully`
          })
          expect((yield* registry("GET", `/api/v1/services/${second.service_id}`)).status).toBe(404)
          // The same routes on Vigil's own port.
          expect(expectStatus(yield* call("GET", `/api/v1/services/${first.service_id}`), 200).version).toBe("2.0.0")
          expect((yield* call("GET", "/api/v1/health/all")).status).toBe(200)
          expectStatus(yield* call("DELETE", `/api/v1/services/${first.service_id}`), 200)
        }))

      it.effect("searches by any or all tags, lease status and text, in registration order", () =>
        Effect.gen(function*() {
          const tag = unique("tag")
          const base = "http://127.0.0.1:9"
          const a = metadata(unique("a"), "Sepsis Early Warning", base, [tag, "icu"])
          const b = metadata(unique("b"), "Retina Grader", base, [tag])
          const c = metadata(unique("c"), "Sepsis Lab Model", base, ["icu"])
          for (const s of [a, b, c]) expectStatus(yield* registry("POST", "/api/v1/services/register", s), 201)
          const search = (query: string) =>
            Effect.map(registry("GET", `/api/v1/services/search/by-tags?${query}`), (r) => expectStatus<Array<{ service_id: string }>>(r, 200).map((s) => s.service_id))
          const ours = (found: ReadonlyArray<string>) => found.filter((id) => [a, b, c].some((s) => s.service_id === id))
          expect(ours(yield* search(`tags=${tag},icu`))).toEqual([a.service_id, b.service_id, c.service_id])
          expect(ours(yield* search(`tags=${tag}, icu&match=all`))).toEqual([a.service_id])
          expect(ours(yield* search("q=sepsis"))).toEqual([a.service_id, c.service_id])
          expect(ours(yield* search(`tags=${tag}&q=retina`))).toEqual([b.service_id])
          expect(ours(yield* search(`tags=${tag}&status=passing`))).toEqual([a.service_id, b.service_id])
          expect(ours(yield* search(`tags=${tag}&status=critical`))).toEqual([])
          expect(expectStatus(yield* registry("GET", "/api/v1/services/search/by-tags?match=some"), 422).detail[0].loc).toEqual(["query", "match"])
          for (const s of [a, b, c]) expectStatus(yield* registry("DELETE", `/api/v1/services/${s.service_id}`), 200)
        }))

      it.scoped("probes many services at once: a hundred that never answer take about one timeout, not a hundred", () =>
        Effect.gen(function*() {
          const health = yield* healthServer
          const hanging = Array.from({ length: 100 }, (_, i) => metadata(unique(`hang${i}`), `Hanging ${i}`, health.baseUrl, ["hang"], `/hang/${i}`))
          yield* Effect.forEach(hanging, (s) => Effect.flatMap(registry("POST", "/api/v1/services/register", s), (r) => Effect.sync(() => expectStatus(r, 201))), { concurrency: 10 })
          const started = Date.now()
          const all = expectStatus(yield* registry("GET", "/api/v1/health/all?refresh=true"), 200)
          const elapsed = Date.now() - started
          expect(elapsed, "one timeout (1 s) and a margin, not 100 of them").toBeLessThan(5_000)
          for (const s of hanging) expect(all[s.service_id]).toMatchObject({ status: "unhealthy", detail: "no answer within 1000 ms" })
          yield* Effect.forEach(hanging, (s) => registry("DELETE", `/api/v1/services/${s.service_id}`), { concurrency: 10 })
        }))

      it.scoped("probes `base_url` + `/health` when a service names no health endpoint, as the seed", () =>
        Effect.gen(function*() {
          const health = yield* healthServer
          const { health: _, ...endpoints } = metadata("x", "x", health.baseUrl, []).endpoints
          const service = { ...metadata(unique("nohealth"), "No Health Endpoint", `${health.baseUrl}/`, ["x"]), endpoints }
          expectStatus(yield* registry("POST", "/api/v1/services/register", service), 201)
          const all = expectStatus(yield* registry("GET", "/api/v1/health/all"), 200)
          expect(all[service.service_id]).toMatchObject({ status: "healthy", detail: "HTTP 200, status \"healthy\"" })
          expect(health.hits.get("/health")).toBe(1)
          expectStatus(yield* registry("DELETE", `/api/v1/services/${service.service_id}`), 200)
        }))

      it.effect("records every change as an event and an audit row, and never a heartbeat", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const service = metadata(unique("audited"), "Audited", "http://127.0.0.1:9", ["audit"])
          expectStatus(yield* registry("POST", "/api/v1/services/register", service), 201)
          for (let i = 0; i < 5; i++) expectStatus(yield* registry("POST", `/api/v1/services/${service.service_id}/heartbeat`), 200)
          expectStatus(yield* registry("GET", "/api/v1/health/all"), 200)
          expectStatus(yield* registry("DELETE", `/api/v1/services/${service.service_id}`), 200)
          const actions = yield* sql<{ action: string }>`
            SELECT action FROM audit_events WHERE entity_type = 'service' AND entity_id = ${service.service_id} ORDER BY seq`
          expect(actions.map((a) => a.action)).toEqual(["registered", "health_changed", "deregistered"])
          const types = yield* sql<{ type: string }>`
            SELECT event->>'type' AS type FROM outbox WHERE event->>'subject' = ${service.service_id} AND subject LIKE 'events.%' ORDER BY seq`
          expect(types.map((t) => t.type)).toEqual(["vigil.service.registered", "vigil.service.health_changed", "vigil.service.deregistered"])
        }))
    }
  )

  layer(TestApp.layer({ ML_REGISTRY_PROBE_HOSTS: "localhost", ML_REGISTRY_PROBE_INTERVAL: "1 hour" }), { timeout: 60_000, excludeTestServices: true })(
    "with probes allowed to one host",
    (it) => {
      it.scoped("does not probe another host, and says so", () =>
        Effect.gen(function*() {
          const health = yield* healthServer
          const elsewhere = metadata(unique("elsewhere"), "Elsewhere", health.baseUrl, ["x"])
          expectStatus(yield* registry("POST", "/api/v1/services/register", elsewhere), 201)
          const all = expectStatus(yield* registry("GET", "/api/v1/health/all?refresh=true"), 200)
          expect(all[elsewhere.service_id]).toMatchObject({ status: "unhealthy", detail: "probes to " + new URL(health.baseUrl).host + " are not allowed (ML_REGISTRY_PROBE_HOSTS)" })
          expect(health.hits.size).toBe(0)
        }))
    }
  )
})
