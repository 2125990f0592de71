/**
 * Liveness (`/health`, always 200, with the database's, the read cache's and messaging's status:
 * an orchestrator must not restart Vigil because its database is away) and readiness (`/ready`,
 * 503 while the database does not answer).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { EventBus } from "../messaging/EventBus.ts"
import { Database, ping } from "../persistence/Database.ts"
import { RegistryCache } from "../persistence/RegistryCache.ts"
import type { HealthGroup, Handlers } from "./Api.ts"

export const VERSION = "0.1.0"

export const make = Effect.gen(function*() {
  const database = yield* Database
  const sql = yield* SqlClient.SqlClient
  const bus = yield* EventBus
  const cache = yield* RegistryCache
  const databaseUp = Effect.provideService(ping, SqlClient.SqlClient, sql)
  return {
    health: () =>
      databaseUp.pipe(Effect.map((up) => {
        const databaseStatus = up ? "connected" as const : "disconnected" as const
        const cacheStatus = cache.status()
        const messaging = { status: bus.status() }
        return {
          status: up ? "healthy" as const : "degraded" as const,
          timestamp: new Date(),
          service: "vigil",
          version: VERSION,
          database: databaseStatus,
          cache: cacheStatus,
          messaging,
          details: {
            database: { status: databaseStatus, mode: database.mode },
            cache: { status: cacheStatus, entries: cache.patients.size + cache.devices.size + cache.thresholds.size },
            messaging
          }
        }
      })),
    ready: () =>
      databaseUp.pipe(Effect.flatMap((up) => {
        const body = { ready: up, database: up ? "connected" as const : "unavailable" as const }
        return up ? Effect.succeed(body) : Effect.fail(body)
      }))
  } satisfies Handlers<typeof HealthGroup>
})
