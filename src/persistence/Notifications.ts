/**
 * PostgreSQL `LISTEN`, on one connection of its own for every channel Vigil listens on (the
 * registry caches' invalidations, the outbox relay's wake-ups).
 *
 * Why not `PgClient.listen`: it ignores its connection's errors, so a connection lost (a database
 * restart) ends the notices silently and for good, and it gives no sign of when `LISTEN` has taken
 * effect, so a cache filled before then misses the notices that should drop its entries. Under
 * load, with the embedded server's password authentication, the registry cache test's update
 * came before `LISTEN` 3 runs in 4 (issue 11). Here each subscriber hears `Listening` once every
 * channel is listened on, after every (re)connection: notices sent before it may have been
 * missed. `Lost` says they are being missed now. The connection is checked every
 * `CHECK_INTERVAL`, so a silent loss (a half-open TCP connection) is found too.
 */
import { PgClient } from "@effect/sql-pg"
import { Deferred, Duration, Effect, Queue, Redacted, Schedule } from "effect"
import pg from "pg"

export type Notice =
  | { readonly _tag: "Notice"; readonly payload: string }
  | { readonly _tag: "Listening" }
  | { readonly _tag: "Lost" }

const CHECK_INTERVAL = Duration.seconds(10)
const CHECK_TIMEOUT = Duration.seconds(5)
/** How long the layer waits for the first connection before it goes on without it (retrying). */
const FIRST_CONNECTION_WAIT = Duration.seconds(10)

const listening: Notice = { _tag: "Listening" }
const lost: Notice = { _tag: "Lost" }

/** The connection in use, the channels it listens on, and the subscribers told so. */
interface Live {
  readonly connection: pg.Client
  readonly listened: Set<string>
  readonly told: Set<Queue.Queue<Notice>>
}

export class Notifications extends Effect.Service<Notifications>()("vigil/Notifications", {
  scoped: Effect.gen(function*() {
    const { config } = yield* PgClient.PgClient
    const subscribers = new Map<string, Set<Queue.Queue<Notice>>>()
    let live: Live | undefined
    const firstConnection = yield* Deferred.make<void>()
    const syncing = yield* Effect.makeSemaphore(1)

    /**
     * Listens on every subscribed channel not listened on yet, then tells each subscriber not told
     * yet that it is `Listening`. Serialised, and run after every change of either side, so each
     * subscriber is told once per connection, and only once its channel is listened on.
     */
    const sync = (current: Live) =>
      syncing.withPermits(1)(Effect.gen(function*() {
        for (const [channel, queues] of subscribers) {
          if (!current.listened.has(channel)) {
            yield* Effect.tryPromise({ try: () => current.connection.query(`LISTEN ${pg.escapeIdentifier(channel)}`), catch: (cause) => cause })
            current.listened.add(channel)
          }
          if (live !== current) return
          for (const queue of queues) {
            if (current.told.has(queue)) continue
            current.told.add(queue)
            Queue.unsafeOffer(queue, listening)
          }
        }
      }))

    /** One connection's life: connect, listen on every channel, then wait until it is lost. */
    const session = Effect.gen(function*() {
      const connection = new pg.Client({
        host: config.host,
        port: config.port,
        database: config.database,
        user: config.username,
        password: config.password === undefined ? undefined : Redacted.value(config.password),
        ssl: config.ssl,
        application_name: "vigil-listen",
        keepAlive: true
      })
      const ended = yield* Deferred.make<void, Error>()
      connection.on("error", (error) => Deferred.unsafeDone(ended, Effect.fail(error)))
      connection.on("end", () => Deferred.unsafeDone(ended, Effect.fail(new Error("the listening connection ended"))))
      connection.on("notification", (message) => {
        const queues = subscribers.get(message.channel)
        if (queues === undefined) return
        // An empty payload is still a notice (PgClient.listen drops those).
        const notice: Notice = { _tag: "Notice", payload: message.payload ?? "" }
        for (const queue of queues) Queue.unsafeOffer(queue, notice)
      })
      yield* Effect.addFinalizer(() => Effect.promise(() => connection.end().catch(() => undefined)).pipe(Effect.timeoutOption(1000)))
      yield* Effect.tryPromise({ try: () => connection.connect(), catch: (cause) => cause })
      const current: Live = { connection, listened: new Set(), told: new Set() }
      live = current
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          live = undefined
          for (const queues of subscribers.values()) for (const queue of queues) Queue.unsafeOffer(queue, lost)
        })
      )
      yield* sync(current)
      yield* Deferred.succeed(firstConnection, undefined)
      const check = Effect.tryPromise({ try: () => connection.query("SELECT 1"), catch: (cause) => cause }).pipe(
        Effect.timeoutFail({ duration: CHECK_TIMEOUT, onTimeout: () => new Error("the listening connection did not answer") }),
        Effect.delay(CHECK_INTERVAL),
        Effect.forever
      )
      return yield* Effect.raceFirst(Deferred.await(ended), check)
    }).pipe(Effect.scoped)

    yield* session.pipe(
      Effect.tapErrorCause((cause) => Effect.logWarning("database notifications lost; reconnecting", cause)),
      Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.either(Schedule.spaced("5 seconds")))),
      Effect.interruptible,
      Effect.forkScoped
    )
    yield* Deferred.await(firstConnection).pipe(Effect.timeoutOption(FIRST_CONNECTION_WAIT))

    /**
     * The notices of `channel` from now on, until the scope closes. The first is `Listening`, once
     * the channel is listened on (at once when the connection is up).
     */
    const subscribe = (channel: string) =>
      Effect.gen(function*() {
        const queue = yield* Effect.acquireRelease(Queue.unbounded<Notice>(), (queue) =>
          Effect.sync(() => {
            subscribers.get(channel)?.delete(queue)
          }).pipe(Effect.zipRight(Queue.shutdown(queue))))
        const queues = subscribers.get(channel) ?? new Set()
        subscribers.set(channel, queues)
        queues.add(queue)
        // Failing here means the connection is being lost: the next one listens and tells.
        if (live !== undefined) yield* Effect.ignore(sync(live))
        return queue as Queue.Dequeue<Notice>
      })

    return { subscribe } as const
  })
}) {}
