/**
 * Tells the outbox relay that a transaction with outbox rows has committed, without making the
 * transaction itself notify (migration 0010): a NOTIFY in a writing transaction takes
 * PostgreSQL's notify-queue lock at commit and holds it through the commit's WAL flush, so every
 * writer in the system would commit one at a time.
 *
 * - When the relay runs in this process, the signal wakes it in process: no database round trip.
 * - Otherwise the signal sends `NOTIFY vigil_outbox` in a statement of its own, after the commit,
 *   at most one at a time (signals meanwhile are folded into one more). The relay wherever it
 *   runs hears it.
 * - A signal lost (this process dies after the commit) costs at most the relay's poll interval.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Queue } from "effect"

export const CHANNEL = "vigil_outbox"

export class OutboxSignal extends Effect.Service<OutboxSignal>()("vigil/OutboxSignal", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    /** What wakes the relay of this process; it reads it while it leads. */
    const wake = yield* Queue.sliding<void>(1)
    let relayHere = false
    let notifying = false
    let again = false

    const notifyOthers: Effect.Effect<void> = sql`SELECT pg_notify(${CHANNEL}, 'written')`.pipe(
      Effect.catchAllCause((cause) => Effect.logDebug("outbox notice not sent; the relay polls", cause)),
      Effect.zipRight(Effect.suspend(() => {
        if (!again) {
          notifying = false
          return Effect.void
        }
        again = false
        return notifyOthers
      }))
    )

    /** After a commit that wrote outbox rows. Never fails, never waits for the database. */
    const written: Effect.Effect<void> = Effect.suspend(() => {
      if (relayHere) return Queue.offer(wake, undefined)
      if (notifying) {
        again = true
        return Effect.void
      }
      notifying = true
      return Effect.asVoid(Effect.forkDaemon(notifyOthers))
    })

    /** Whether this process's relay leads (and so hears `wake`). */
    const leading = (here: boolean) => Effect.sync(() => {
      relayHere = here
    })

    return { written, wake, leading } as const
  })
}) {}
