/**
 * Figures an operator watches that only the database knows: the outbox's backlog (events
 * committed, not yet on NATS) and the alerts not yet resolved. Read at scrape time, each query
 * served by a partial index.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { classified } from "./SqlErrors.ts"

export interface OutboxBacklog {
  readonly unpublished: number
  /** Seconds since the oldest unpublished event was committed; 0 when there is none. */
  readonly oldestAgeSeconds: number
}

export interface ActiveAlerts {
  readonly severity: string
  readonly status: string
  readonly count: number
}

export class OpsFigures extends Effect.Service<OpsFigures>()("vigil/OpsFigures", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const outbox = Effect.fn("OpsFigures.outbox")(function*() {
      const [row] = yield* sql<{ unpublished: number; oldest_age: number | null }>`
        SELECT count(*)::int AS unpublished, extract(epoch FROM now() - min(created_at))::float8 AS oldest_age
        FROM outbox WHERE published_at IS NULL`
      return { unpublished: row?.unpublished ?? 0, oldestAgeSeconds: Math.max(0, row?.oldest_age ?? 0) } satisfies OutboxBacklog
    }, classified)

    const activeAlerts = Effect.fn("OpsFigures.activeAlerts")(function*() {
      return yield* sql<ActiveAlerts>`
        SELECT severity, status, count(*)::int AS count FROM alerts WHERE status <> 'resolved' GROUP BY severity, status`
    }, classified)

    return { outbox, activeAlerts } as const
  })
}) {}
