/**
 * What the HTTP front door does around the handlers: routing answers, limits, documentation
 * pages, and keeping its caches true to the database when another process writes.
 */
import { expect, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import * as TestApp from "../support/test-app.ts"
import { eventually } from "../support/eventually.ts"

const { call } = TestApp
/** Other processes' changes arrive by NOTIFY: soon, not at once. */

layer(TestApp.layer({ HTTP_BODY_LIMIT: "4096" }), { timeout: 60_000, excludeTestServices: true })("HTTP server", (it) => {
  it.effect("answers 404 for unknown paths and 405 for known paths with another method", () =>
    Effect.gen(function*() {
      expect(yield* call("GET", "/nowhere")).toMatchObject({ status: 404, body: { detail: "Not Found" } })
      expect(yield* call("GET", "/api")).toMatchObject({ status: 404 })
      expect(yield* call("POST", "/")).toMatchObject({ status: 405 })
      expect(yield* call("DELETE", "/devices")).toMatchObject({ status: 405, body: { detail: "Method Not Allowed" } })
    }))

  it.effect("answers 413 for a body over the limit", () =>
    Effect.gen(function*() {
      const { status } = yield* call("POST", "/patients", { full_name: "x".repeat(5000), age: 1, sex: "M" })
      expect(status).toBe(413)
    }))

  it.effect("reads a JSON body sent as form-urlencoded, as curl -d does", () =>
    Effect.gen(function*() {
      const { status } = yield* call("POST", "/patients", JSON.stringify({ full_name: "Curl", age: 3, sex: "F" }), {
        "content-type": "application/x-www-form-urlencoded"
      })
      expect(status).toBe(201)
    }))

  it.effect("serves an OpenAPI document covering every route, with 422 as the validation answer", () =>
    Effect.gen(function*() {
      const { status, body } = yield* call("GET", "/openapi.json")
      expect(status).toBe(200)
      expect(body.openapi).toMatch(/^3\./)
      expect(Object.keys(body.paths).sort()).toEqual([
        "/",
        "/.well-known/jwks.json",
        "/api/v1/alerts",
        "/api/v1/alerts/{alert_id}",
        "/api/v1/alerts/{alert_id}/acknowledge",
        "/api/v1/alerts/{alert_id}/resolve",
        "/api/v1/appointments",
        "/api/v1/appointments/doctors/{doctor_id}",
        "/api/v1/appointments/patients/{patient_id}",
        "/api/v1/appointments/{appointment_id}",
        "/api/v1/audit",
        "/api/v1/audit/verify",
        "/api/v1/auth/login",
        "/api/v1/auth/machine-tokens",
        "/api/v1/auth/me",
        "/api/v1/devices/{device_id}/readings",
        "/api/v1/doctors/me/appointments",
        "/api/v1/doctors/me/profile",
        "/api/v1/doctors/me/schedules",
        "/api/v1/doctors/me/schedules/{schedule_id}",
        "/api/v1/health/all",
        "/api/v1/lab-results",
        "/api/v1/lab-results/patients/{patient_id}",
        "/api/v1/measurements/delete/{measure_id}",
        "/api/v1/measurements/list",
        "/api/v1/measures",
        "/api/v1/measures/delete/{measure_id}",
        "/api/v1/measures/list",
        "/api/v1/measures/list/{measure_id}",
        "/api/v1/measures/{patient_id}/list",
        "/api/v1/patient",
        "/api/v1/patient/delete/{patient_id}",
        "/api/v1/patient/list",
        "/api/v1/patient/{patient_id}",
        "/api/v1/patient/{patient_id}/measurements",
        "/api/v1/patients/doctors",
        "/api/v1/patients/doctors/{doctor_user_id}/schedules",
        "/api/v1/patients/me/appointments",
        "/api/v1/patients/me/profile",
        "/api/v1/patients/{patient_id}/snapshot",
        "/api/v1/patients/{patient_id}/vitals",
        "/api/v1/services",
        "/api/v1/services/register",
        "/api/v1/services/search/by-tags",
        "/api/v1/services/{service_id}",
        "/api/v1/services/{service_id}/heartbeat",
        "/api/v1/tasks/appointments/{appointment_id}",
        "/api/v1/tasks/{task_id}",
        "/api/v1/users",
        "/api/v1/users/{user_id}",
        "/api/v1/ward",
        "/devices",
        "/devices/link",
        "/devices/{device_id}",
        "/health",
        "/patients",
        "/patients/{patient_id}",
        "/ready",
        "/store-vitals",
        "/thresholds",
        "/thresholds/{patient_id}"
      ])
      const create = body.paths["/patients"].post
      expect(Object.keys(create.responses).sort()).toEqual(["201", "401", "403", "422", "503"])
      // Guarded routes declare the bearer scheme, so generated clients send the token; open ones do not.
      expect(create.security).toEqual([{ bearer: [] }])
      expect(body.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer", bearerFormat: "JWT" })
      expect(body.paths["/health"].get.security ?? []).toEqual([])
      // Every route may find the database unavailable: 503 is part of every operation's contract.
      for (const [path, item] of Object.entries(body.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>)) {
        for (const [method, operation] of Object.entries(item)) expect(operation.responses["503"], `${method} ${path}`).toBeDefined()
      }
      expect(body.components.schemas.HTTPValidationError).toBeDefined()
      expect(body.paths["/devices"].post.responses["409"]).toBeDefined()
    }))

  it.effect("serves Swagger UI and ReDoc with their scripts from the process", () =>
    Effect.gen(function*() {
      for (const [page, asset] of [["/docs", "/docs/swagger-ui-bundle.js"], ["/redoc", "/redoc/redoc.standalone.js"]] as const) {
        const html = yield* call("GET", page)
        expect(html.status).toBe(200)
        expect(html.headers.get("content-type")).toContain("text/html")
        expect(html.body).toContain(asset)
        expect(html.body).not.toMatch(/https?:\/\//)
        const script = yield* call("GET", asset)
        expect(script.status).toBe(200)
        expect(String(script.body).length).toBeGreaterThan(100_000)
      }
      expect((yield* call("GET", "/docs/swagger-ui.css")).status).toBe(200)
    }))

  it.effect("drops cached records changed by another process", () =>
    Effect.gen(function*() {
      const patient = (yield* call("POST", "/patients", { full_name: "Before", age: 40, sex: "M" })).body
      const device = (yield* call("POST", "/devices", { serial: `CACHE-${Date.now()}`, firmware: "v1" })).body
      // Warm the caches.
      expect((yield* call("GET", `/patients/${patient.id}`)).body.full_name).toBe("Before")
      expect((yield* call("GET", `/devices/${device.id}`)).body.firmware).toBe("v1")
      // Another writer, straight to the database.
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE patients SET full_name = 'After' WHERE id = ${patient.id}`
      yield* sql`UPDATE devices SET firmware = 'v2' WHERE id = ${device.id}`
      const seen = yield* Effect.gen(function*() {
        const p = (yield* call("GET", `/patients/${patient.id}`)).body
        const d = (yield* call("GET", `/devices/${device.id}`)).body
        if (p.full_name !== "After" || d.firmware !== "v2") return yield* Effect.fail("stale")
        return [p, d]
      }).pipe((check) => eventually(check, 5), Effect.either)
      expect(seen._tag).toBe("Right")
      yield* sql`DELETE FROM patients WHERE id = ${patient.id}`
      const gone = yield* Effect.gen(function*() {
        const { status } = yield* call("GET", `/patients/${patient.id}`)
        if (status !== 404) return yield* Effect.fail("stale")
      }).pipe((check) => eventually(check, 5), Effect.either)
      expect(gone._tag).toBe("Right")
    }))
})

layer(TestApp.layer(), { timeout: 60_000, excludeTestServices: true })("HTTP server, hostile bodies", (it) => {
  it.effect("answers 422 (without echoing it) to JSON nested deeper than the stack, and keeps serving", () =>
    Effect.gen(function*() {
      const deep = (depth: number) => "[".repeat(depth) + "]".repeat(depth)
      const patient = yield* call("POST", "/patients", `{"full_name":${deep(20_000)},"age":1,"sex":"M"}`, { "content-type": "application/json" })
      expect(patient.status).toBe(422)
      expect(patient.body.detail[0]).toMatchObject({ loc: ["body", "full_name"] })
      const vitals = yield* call("POST", "/store-vitals", `{"records":${deep(100_000)}}`, { "content-type": "application/json" })
      expect(vitals.status).toBe(422)
      expect((yield* call("GET", "/health")).status).toBe(200)
    }))
})
