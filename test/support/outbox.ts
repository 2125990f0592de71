/** Waiting on the outbox relay: what tests of events do after a write, before they look at NATS. */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { eventually } from "./eventually.ts"

/** Succeeds once no outbox row is left unpublished; fails after `seconds`. */
export const outboxDrained = (seconds: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* eventually(
      sql<{ pending: string }>`SELECT count(*) AS pending FROM outbox WHERE published_at IS NULL`.pipe(
        Effect.flatMap(([row]) => (row!.pending === "0" ? Effect.void : Effect.fail("pending")))
      ),
      seconds
    )
  })
