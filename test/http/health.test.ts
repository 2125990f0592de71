import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as TestApp from "../support/test-app.ts"

layer(TestApp.layer(), { timeout: 60_000, excludeTestServices: true })("health", (it) => {
  it.effect("answers seed 002's documented shape: the database and the cache as strings, Vigil's details beside them", () =>
    Effect.gen(function*() {
      const { status, body } = yield* TestApp.call("GET", "/health")
      expect(status).toBe(200)
      // Seed 002's "Expected response", field by field.
      expect(body).toMatchObject({ status: "healthy", service: "vigil", database: "connected", cache: "connected" })
      expect(body.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
      expect(body.details.database).toEqual({ status: "connected", mode: "connected" })
      expect(body.details.cache).toMatchObject({ status: "connected" })
      expect(body.messaging).toEqual({ status: "in-process" })
    }))

  it.effect("is ready once the database answers", () =>
    Effect.gen(function*() {
      const { status, body } = yield* TestApp.call("GET", "/ready")
      expect(status).toBe(200)
      expect(body).toEqual({ ready: true, database: "connected" })
    }))
})

