/**
 * The event bus on NATS. Connects to `NATS_URL` (reconnecting on its own, forever), creates or
 * updates Vigil's JetStream streams, publishes with `Nats-Msg-Id` and waits for the stream's
 * acknowledgement (in batches: `JetStreamBatch.ts`), and drains the connection when the scope closes.
 */
import { type JetStreamClient, jetstream, jetstreamManager, type JetStreamManager, RetentionPolicy, type StreamConfig } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import { Config, Context, Data, Effect, Layer, Option, Redacted, Stream } from "effect"
import { EventBus, type MessagingStatus } from "./EventBus.ts"
import { makeBatchPublisher } from "./JetStreamBatch.ts"
import { MessagingConfig, type StreamSpec, streams } from "./Subjects.ts"

/** The NATS connection itself, for consumers (the ingest); `None` when Vigil runs without NATS. */
export class Nats extends Context.Tag("vigil/Nats")<Nats, Option.Option<NatsConnected>>() {}

export interface NatsConnected {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly config: MessagingConfig
}

export class NatsError extends Data.TaggedError("NatsError")<{ readonly message: string; readonly cause?: unknown }> {}

const DAY_NANOS = 86_400 * 1_000_000_000

const ensureStream = (jsm: JetStreamManager, spec: StreamSpec) =>
  Effect.tryPromise({
    try: async () => {
      const config: Partial<StreamConfig> & { name: string } = {
        name: spec.name,
        subjects: [...spec.subjects],
        retention: spec.retention === "workqueue" ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
        max_age: spec.maxAgeDays * DAY_NANOS,
        duplicate_window: 2 * 60 * 1_000_000_000
      }
      try {
        await jsm.streams.info(spec.name)
      } catch {
        await jsm.streams.add(config)
        return "created" as const
      }
      await jsm.streams.update(spec.name, config)
      return "updated" as const
    },
    catch: (cause) => new NatsError({ message: `cannot create or update stream ${spec.name}: ${String(cause)}`, cause })
  })

/**
 * Vigil's own NATS credentials: `NATS_USER` with `NATS_PASSWORD`, or `NATS_TOKEN` (as the
 * compose stack's nats-server requires, `deploy/nats/nats-server.conf`). Neither: no credentials.
 */
export const NatsCredentials = Config.all({
  user: Config.option(Config.string("NATS_USER")),
  password: Config.option(Config.redacted("NATS_PASSWORD")),
  token: Config.option(Config.redacted("NATS_TOKEN"))
}).pipe(
  Config.validate({
    message: "NATS_USER and NATS_PASSWORD go together, and NATS_TOKEN goes alone",
    validation: ({ password, token, user }) => Option.isSome(user) === Option.isSome(password) && !(Option.isSome(token) && Option.isSome(user))
  }),
  Config.map(({ password, token, user }) => ({
    ...(Option.isSome(user) && Option.isSome(password) ? { user: user.value, pass: Redacted.value(password.value) } : {}),
    ...(Option.isSome(token) ? { token: Redacted.value(token.value) } : {})
  }))
)

export const make = (url: Redacted.Redacted) =>
  Effect.gen(function*() {
    const config = yield* MessagingConfig
    const credentials = yield* NatsCredentials
    const nc: NatsConnection = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          connect({
            servers: Redacted.value(url).split(","),
            ...credentials,
            name: "vigil",
            maxReconnectAttempts: -1,
            reconnectTimeWait: 1000,
            timeout: 5000
          }),
        catch: (cause) => new NatsError({ message: `cannot connect to NATS: ${String(cause)}`, cause })
      }),
      (connection) => Effect.promise(() => connection.drain().catch(() => connection.close())).pipe(Effect.timeout("10 seconds"), Effect.ignore)
    )
    let status: MessagingStatus = "connected"
    yield* Effect.forkScoped(Effect.promise(async () => {
      for await (const event of nc.status()) {
        if (event.type === "disconnect") status = "disconnected"
        else if (event.type === "reconnecting") status = "reconnecting"
        else if (event.type === "reconnect") status = "connected"
      }
    }))
    const jsm = yield* Effect.tryPromise({
      try: () => jetstreamManager(nc),
      catch: (cause) => new NatsError({ message: `JetStream is not available: ${String(cause)}`, cause })
    })
    for (const spec of streams(config)) {
      const outcome = yield* ensureStream(jsm, spec)
      yield* Effect.logDebug(`stream ${spec.name} ${outcome}`)
    }
    const js = jetstream(nc)
    const batches = makeBatchPublisher(nc)

    const bus = EventBus.of({
      kind: "nats",
      subjectPrefix: config.subjectPrefix,
      status: () => (nc.isClosed() ? "disconnected" : status),
      // Sent in order on one connection, so the streams store them in order; acknowledged together.
      publishAll: (messages) => Effect.promise(() => batches.publishAll(messages, 5_000)),
      subscribe: (pattern) =>
        Stream.unwrapScoped(Effect.gen(function*() {
          const subscription = yield* Effect.acquireRelease(
            Effect.sync(() => nc.subscribe(pattern)),
            (sub) => Effect.sync(() => sub.unsubscribe())
          )
          return Stream.fromAsyncIterable(subscription, (cause) => new NatsError({ message: String(cause), cause })).pipe(
            Stream.map((message) => ({ subject: message.subject, data: message.data })),
            Stream.catchAll(() => Stream.empty)
          )
        }))
    })
    return Context.make(EventBus, bus).pipe(Context.add(Nats, Option.some({ nc, js, jsm, config })))
  })

export const layer = (url: Redacted.Redacted) => Layer.scopedContext(make(url))

export const NatsUrl = Config.option(Config.redacted("NATS_URL"))
