/**
 * Publishes the outbox to the event bus, in `seq` order, and stamps what the bus acknowledged.
 *
 * - One relay is active at a time across all Vigil processes: the one holding a session advisory
 *   lock on a connection it keeps. If that process dies, PostgreSQL frees the lock and another
 *   process's relay takes over. A row is never published twice (and were it republished after a
 *   crash between ack and stamp, JetStream drops it by its `Nats-Msg-Id`).
 * - It wakes when a transaction that wrote outbox rows commits: in process when the writer runs
 *   here, by `NOTIFY vigil_outbox` from other processes (OutboxSignal.ts), and, failing both,
 *   every `OUTBOX_POLL_INTERVAL`. A batch's stamp rides on the statement that reads the next
 *   batch, which also chains the audit rows left waiting (migration 0010) and publishes no
 *   audit event before it is chained: a busy relay makes one round trip per batch.
 * - While the bus is down it retries with exponential back-off; writers never wait for it.
 * - Published rows older than `OUTBOX_RETENTION` are deleted, every `OUTBOX_PRUNE_INTERVAL`.
 */
import { SqlClient } from "@effect/sql"
import { Clock, Config, Data, Duration, Effect, Exit, Layer, Queue, Schedule } from "effect"
import { Notifications } from "../persistence/Notifications.ts"
import { CHANNEL, OutboxSignal } from "../persistence/OutboxSignal.ts"
import { EventBus } from "./EventBus.ts"
import { eventsPublished } from "../observability/Metrics.ts"
import { parentOf, traceparentOf } from "../observability/Tracing.ts"

export const RelayConfig = Config.all({
  batchSize: Config.integer("OUTBOX_BATCH_SIZE").pipe(Config.withDefault(500)),
  pollInterval: Config.duration("OUTBOX_POLL_INTERVAL").pipe(Config.withDefault(Duration.seconds(1))),
  retention: Config.duration("OUTBOX_RETENTION").pipe(Config.withDefault(Duration.days(7))),
  pruneInterval: Config.duration("OUTBOX_PRUNE_INTERVAL").pipe(Config.withDefault(Duration.minutes(10))),
  maxBackoff: Config.duration("OUTBOX_MAX_BACKOFF").pipe(Config.withDefault(Duration.seconds(30)))
})

const LEADER_LOCK = 7_346_210_003
/** How long published rows may wait for the next fetch to carry their stamp. */
const STAMP_DELAY = Duration.millis(20)

class BusUnavailable extends Data.TaggedError("BusUnavailable")<{ readonly pending: number }> {}

interface OutboxRow {
  readonly seq: string
  readonly event_id: string
  readonly subject: string
  /** The CloudEvent as stored, published as is (no parse and re-serialise). */
  readonly event: string
  /** The writer's trace context (null when tracing was off). */
  readonly traceparent: string | null
}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const notifications = yield* Notifications
  const bus = yield* EventBus
  const config = yield* RelayConfig
  const encoder = new TextEncoder()
  const signal = yield* OutboxSignal
  const { wake } = signal

  // Another process's commit, or notices perhaps missed (the listening connection is back): look now.
  const notices = yield* notifications.subscribe(CHANNEL)
  yield* Queue.take(notices).pipe(
    Effect.flatMap((notice) => notice._tag === "Lost" ? Effect.void : Queue.offer(wake, undefined)),
    Effect.forever,
    Effect.forkScoped
  )

  /**
   * Rows published but not yet stamped (their `seq`). A stamp rides on the next fetch (one
   * statement: stamp those, read what is next), so a busy relay makes one round trip per batch,
   * not two; when no wake-up follows within `STAMP_DELAY` they are stamped on their own.
   */
  let unstamped: ReadonlyArray<string> = []

  /**
   * One statement (`vigil_outbox_next`, migration 0010): chains the audit rows left waiting,
   * stamps `stamp`, and reads the next batch in outbox order, up to the first audit event not
   * yet chained.
   */
  const fetchNext = (stamp: ReadonlyArray<string>) =>
    sql<OutboxRow>`SELECT seq, event_id, subject, event, traceparent FROM vigil_outbox_next(${stamp}::bigint[], ${config.batchSize})`

  const stampNow = Effect.suspend(() => {
    const stamp = unstamped
    if (stamp.length === 0) return Effect.void
    return Effect.zipRight(
      sql`UPDATE outbox SET published_at = now() WHERE seq = ANY(${stamp}::bigint[])`,
      Effect.sync(() => unstamped = [])
    )
  })

  /** One batch: how many rows were published; fails when the bus acknowledged only some. */
  const publishSpan = (row: OutboxRow) => {
    const parent = parentOf(row.traceparent)
    if (parent === undefined) return Effect.succeed(undefined)
    const subject = `${bus.subjectPrefix}.${row.subject}`
    return Effect.makeSpan(`publish ${row.subject}`, {
      parent,
      kind: "producer",
      attributes: { "messaging.system": "nats", "messaging.destination.name": subject, "messaging.message.id": row.event_id }
    })
  }

  const publishBatch = Effect.gen(function*() {
    const rows = yield* fetchNext(unstamped)
    unstamped = []
    if (rows.length === 0) return 0
    // A traced writer's event is published in a producer span of its trace, whose context the message carries.
    const spans = rows.some((row) => row.traceparent !== null) ? yield* Effect.forEach(rows, publishSpan) : []
    const acked = yield* bus.publishAll(rows.map((row, i) => ({
      subject: `${bus.subjectPrefix}.${row.subject}`,
      id: row.event_id,
      data: encoder.encode(row.event),
      traceparent: spans[i] === undefined ? undefined : traceparentOf(spans[i]!)
    })))
    if (spans.length > 0) {
      const now = yield* Clock.currentTimeNanos
      spans.forEach((span, i) => span?.end(now, i < acked ? Exit.void : Exit.fail("not acknowledged by JetStream")))
    }
    unstamped = rows.slice(0, acked).map((row) => row.seq)
    if (acked > 0) eventsPublished.unsafeUpdate(acked, [])
    if (acked < rows.length) return yield* Effect.fail(new BusUnavailable({ pending: rows.length - acked }))
    return acked
  })

  const backoff = Schedule.exponential("100 millis").pipe(
    Schedule.modifyDelay((delay) => Duration.min(delay, config.maxBackoff)),
    Schedule.tapOutput(() => Effect.logWarning("event bus unavailable; outbox rows wait for it"))
  )

  const prune = sql`DELETE FROM outbox WHERE published_at < now() - ${`${Duration.toMillis(config.retention)} milliseconds`}::interval`

  /** Whether a wake-up came within `timeout`. */
  const woken = (timeout: Duration.DurationInput) =>
    Queue.take(wake).pipe(Effect.timeoutOption(timeout), Effect.map((taken) => taken._tag === "Some"))

  /**
   * Publishes until the outbox is empty, then waits for a wake-up or the poll interval. The lock
   * connection is checked once per poll interval, not once per wake-up.
   */
  const leadership = (isAlive: Effect.Effect<unknown, unknown>) =>
    Effect.gen(function*() {
      let lastPrune = 0
      let lastAlive = Date.now()
      while (true) {
        const published = yield* publishBatch.pipe(Effect.retry({ schedule: backoff, while: (e) => e._tag === "BusUnavailable" }))
        if (published === config.batchSize) continue
        if (Date.now() - lastPrune > Duration.toMillis(config.pruneInterval)) {
          yield* stampNow
          yield* prune
          lastPrune = Date.now()
        }
        // A wake-up soon lets the next fetch carry the stamp; otherwise stamp now, then wait.
        const wokeSoon = unstamped.length > 0 && (yield* woken(STAMP_DELAY))
        if (!wokeSoon) {
          yield* stampNow
          yield* woken(config.pollInterval)
        }
        if (Date.now() - lastAlive >= Duration.toMillis(config.pollInterval)) {
          yield* isAlive
          lastAlive = Date.now()
        }
      }
    }).pipe(
      // Stopping (another process takes over): what this one published is stamped, not published again.
      Effect.ensuring(Effect.ignore(stampNow))
    )

  /** Runs as the relay if this process gets the lock; otherwise returns at once. */
  const tryLead = Effect.scoped(Effect.gen(function*() {
    const connection = yield* sql.reserve
    const [row] = yield* connection.execute("SELECT pg_try_advisory_lock($1) AS locked", [LEADER_LOCK], undefined)
    if (row?.locked !== true) return
    yield* Effect.addFinalizer(() =>
      connection.execute("SELECT pg_advisory_unlock($1)", [LEADER_LOCK], undefined).pipe(Effect.ignore)
    )
    yield* Effect.logDebug("outbox relay active in this process")
    yield* Effect.addFinalizer(() => signal.leading(false))
    yield* signal.leading(true)
    // Commits before the lock was taken may have notified no one.
    yield* Queue.offer(wake, undefined)
    yield* leadership(connection.execute("SELECT 1", [], undefined))
  }))

  yield* tryLead.pipe(
    Effect.catchAllCause((cause) => Effect.logWarning("outbox relay stopped; retrying", cause)),
    Effect.zipRight(Effect.sleep("2 seconds")),
    Effect.forever,
    Effect.forkScoped
  )
})

export const layer = Layer.scopedDiscard(make).pipe(Layer.provide(Notifications.Default))
