/** Liveness (`/health`, always 200, with the database's and messaging's status) and readiness (`/ready`, 503 until the database answers). */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { EventBus } from "../messaging/EventBus.ts"
import { Database, ping } from "../persistence/Database.ts"
import type { HealthGroup } from "./Api.ts"
import type { GroupHandlers } from "./ApiServer.ts"

export const VERSION = "0.1.0"

export const make = Effect.gen(function*() {
  const database = yield* Database
  const sql = yield* SqlClient.SqlClient
  const bus = yield* EventBus
  const databaseUp = Effect.provideService(ping, SqlClient.SqlClient, sql)
  return {
    health: () =>
      databaseUp.pipe(Effect.map((up) => ({
        status: up ? "healthy" as const : "degraded" as const,
        timestamp: new Date(),
        service: "vigil",
        version: VERSION,
        database: { status: up ? "connected" as const : "unavailable" as const, mode: database.mode },
        messaging: { status: bus.status() }
      }))),
    ready: () =>
      databaseUp.pipe(Effect.flatMap((up) => {
        const body = { ready: up, database: up ? "connected" as const : "unavailable" as const }
        return up ? Effect.succeed(body) : Effect.fail(body)
      }))
  } satisfies GroupHandlers<typeof HealthGroup, never>
})
