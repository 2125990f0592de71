import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as TestApp from "../support/test-app.ts"

layer(TestApp.layer(), { timeout: 60_000, excludeTestServices: true })("health", (it) => {
  it.effect("reports the database as connected", () =>
    Effect.gen(function*() {
      const { status, body } = yield* TestApp.call("GET", "/health")
      expect(status).toBe(200)
      expect(body.status).toBe("healthy")
      expect(body.database).toEqual({ status: "connected", mode: "connected" })
      expect(body.timestamp).toMatch(/Z$/)
    }))

  it.effect("is ready once the database answers", () =>
    Effect.gen(function*() {
      const { status, body } = yield* TestApp.call("GET", "/ready")
      expect(status).toBe(200)
      expect(body).toEqual({ ready: true, database: "connected" })
    }))
})

