/** Shutdown with clients still connected: streams are ended at once instead of holding the drain. */
import { expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import { HttpServer } from "../../src/http/HttpServer.ts"
import * as TestApp from "../support/test-app.ts"

it.live("ends open event streams and stops within a second, not at the drain timeout", () =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(TestApp.layer(), scope)
    const { port } = yield* Effect.provide(HttpServer, context)
    const controller = new AbortController()
    const response = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/api/v1/events/stream`, { signal: controller.signal }))
    expect(response.status).toBe(200)
    const started = Date.now()
    // Closing a scope is uninterruptible: disconnected, a regression fails here instead of hanging.
    const closed = yield* Scope.close(scope, Exit.void).pipe(Effect.disconnect, Effect.timeout("5 seconds"), Effect.either)
    controller.abort()
    expect(closed._tag).toBe("Right")
    expect(Date.now() - started).toBeLessThan(1500)
  }), 30_000)
