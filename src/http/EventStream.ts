/**
 * `GET /api/v1/events/stream`: the domain events as Server-Sent Events, for dashboards that do
 * not speak NATS. `?type=` filters by CloudEvent type: a comma-separated list of exact types or
 * prefixes ending in `*` (`vigil.device.*`). A comment line every 15 s keeps proxies from closing
 * an idle stream. Open streams are ended first when Vigil shuts down.
 */
import { Effect, Fiber, Runtime, Stream } from "effect"
import type { ServerResponse } from "node:http"
import { EventBus } from "../messaging/EventBus.ts"
import type { RawRoute } from "./Handlers.ts"
import { eventStreamPolicy } from "./Policies.ts"
import { sendJson } from "./server/Responses.ts"

export const PATH = "/api/v1/events/stream"
const HEARTBEAT_MILLIS = 15_000

const typeFilter = (param: string | null): ((type: string) => boolean) | string => {
  if (param === null || param.trim() === "") return () => true
  const patterns = param.split(",").map((p) => p.trim()).filter((p) => p.length > 0)
  const bad = patterns.find((p) => !/^[\w.-]+\*?$/.test(p))
  if (bad !== undefined) return `type: '${bad}' is not an event type or a prefix ending in '*'`
  return (type) => patterns.some((p) => (p.endsWith("*") ? type.startsWith(p.slice(0, -1)) : type === p))
}

export const make = Effect.gen(function*() {
  const bus = yield* EventBus
  const runFork = Runtime.runFork(yield* Effect.runtime<never>())
  const open = new Set<ServerResponse>()
  const decoder = new TextDecoder()

  const route: RawRoute = {
    method: "GET",
    path: PATH,
    policy: eventStreamPolicy,
    close: () => open.forEach((response) => response.end()),
    handle: (request, response) => {
      const accepts = typeFilter(new URL(request.url ?? "/", "http://localhost").searchParams.get("type"))
      if (typeof accepts === "string") {
        return sendJson(response, 422, { detail: [{ type: "value_error", loc: ["query", "type"], msg: accepts }] })
      }
      response.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        connection: "keep-alive",
        "x-accel-buffering": "no"
      })
      response.write(": connected\n\n")
      open.add(response)
      const fiber = runFork(
        bus.subscribe(`${bus.subjectPrefix}.events.>`).pipe(
          Stream.runForEach((message) =>
            Effect.sync(() => {
              const text = decoder.decode(message.data)
              let event: { id?: unknown; type?: unknown }
              try {
                event = JSON.parse(text)
              } catch {
                return
              }
              if (typeof event.type !== "string" || !accepts(event.type)) return
              response.write(`id: ${String(event.id)}\nevent: ${event.type}\ndata: ${text}\n\n`)
            })
          )
        )
      )
      const heartbeat = setInterval(() => response.write(": keep-alive\n\n"), HEARTBEAT_MILLIS)
      response.on("close", () => {
        clearInterval(heartbeat)
        open.delete(response)
        runFork(Fiber.interrupt(fiber))
      })
    }
  }
  return route
})
