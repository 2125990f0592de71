/**
 * Device readings over NATS, a front door like HTTP: one durable pull consumer
 * (`vigil-ingest-vitals`) on the work-queue stream `<PREFIX>_INGEST`, run by one process of the
 * cluster at a time (a singleton), which stores the readings and hands their evaluation to each
 * patient's monitor wherever in the cluster it lives. One consumer keeps each device's readings
 * in publish order through storing and evaluation; the cost is that one process decodes and
 * stores every NATS reading (NATS 2.10's subject partitioning would allow one consumer per
 * partition: the servers here are 2.9).
 *
 * - Messages are taken in batches (whatever has arrived, up to `INGEST_BATCH_SIZE`) and stored in
 *   one statement per batch, up to `INGEST_STORES_IN_FLIGHT` batches at once. Each batch's places
 *   in the store (`seq`) are drawn in the order batches are taken; batches are acknowledged and
 *   handed to the `EvaluationScheduler` in that order, so each patient's monitor gets them in
 *   `seq` order (the catch-up watermark needs it).
 * - A message is acknowledged only after its reading is committed (or found already stored: a
 *   redelivery).
 * - A message that can never be stored (not JSON, not a valid reading, an unknown or unlinked
 *   device, data the database refuses) is dead-lettered (`DeadLetters.ts`) and acknowledged.
 * - While the database is unavailable, the batch in hand is held and retried with back-off, its
 *   messages kept from redelivery (`working`), so an outage costs no delivery attempts; behind it,
 *   nothing more is taken.
 * - A message whose batch fails on a bug (a defect) is retried alone, and redelivered after a
 *   delay, at most `INGEST_MAX_DELIVER` deliveries in all; at the last it is dead-lettered with its
 *   delivery count and the last error. The consumer's own `max_deliver` is one more: should the
 *   process die on the message every time, JetStream stops delivering it and announces it, and
 *   the advisory's handler (one process of the cluster, by queue group) dead-letters it from the
 *   stream.
 */
import * as Singleton from "@effect/cluster/Singleton"
import { AckPolicy, type JsMsg } from "@nats-io/jetstream"
import { Cause, Chunk, Config, Duration, Effect, Fiber, Layer, Option, Queue, Runtime, Schedule, Schema } from "effect"
import type { DataRefused, Unavailable } from "../domain/Errors.ts"
import { Nats, type NatsConnected, NatsError } from "../messaging/NatsBus.ts"
import { ingestStream } from "../messaging/Subjects.ts"
import { EvaluationScheduler } from "../services/EvaluationScheduler.ts"
import { type Committed, type Outcome, VitalsIngest } from "../services/VitalsIngest.ts"
import { describeCause, makeDeadLetters } from "./DeadLetters.ts"
import { takeOver } from "./IngestTakeover.ts"
import { type Decoded, decode } from "./IngestMessages.ts"
import { countIngested, ingestBatchSize } from "../observability/Metrics.ts"
import { parentOf, TracingEnabled } from "../observability/Tracing.ts"

export const CONSUMER = "vigil-ingest-vitals"
/** Batches smaller than this (or than a full batch) are stored alone, without drawing their places in the store first. */
const OVERLAP_FROM = 64
/** How long a message that failed on a bug waits before it is delivered again. */
const REDELIVERY_DELAY = Duration.seconds(2)
const SHUTDOWN_TIMEOUT = Duration.seconds(10)

export const IngestConfig = Config.all({
  batchSize: Config.integer("INGEST_BATCH_SIZE").pipe(
    Config.validate({ message: "INGEST_BATCH_SIZE must be from 1 to 5000", validation: (n) => n >= 1 && n <= 5000 }),
    // Under load a batch fills at once; most of a batch's cost is per patient, not per reading.
    Config.withDefault(2000)
  ),
  /**
   * Batches stored at once. Each batch's places in the store (`seq`) are drawn in the order
   * batches are taken, and batches are acknowledged and put in line at their monitors in that order.
   */
  storesInFlight: Config.integer("INGEST_STORES_IN_FLIGHT").pipe(
    Config.validate({ message: "INGEST_STORES_IN_FLIGHT must be from 1 to 8", validation: (n) => n >= 1 && n <= 8 }),
    Config.withDefault(2)
  ),
  /** How long a batch waits for more messages once its first has arrived. */
  linger: Config.duration("INGEST_LINGER").pipe(Config.withDefault("2 millis")),
  /** How long a message stays with a process that took it before JetStream redelivers it. */
  ackWait: Config.duration("INGEST_ACK_WAIT").pipe(Config.withDefault("30 seconds")),
  /** Deliveries of a message that keeps failing on a bug before it is dead-lettered. */
  maxDeliver: Config.integer("INGEST_MAX_DELIVER").pipe(
    Config.validate({ message: "INGEST_MAX_DELIVER must be from 1 to 100", validation: (n) => n >= 1 && n <= 100 }),
    Config.withDefault(5)
  )
})

/** JetStream's advisory for a message that reached the consumer's `max_deliver`. */
const MaxDeliveriesAdvisory = Schema.parseJson(Schema.Struct({ stream_seq: Schema.Number, deliveries: Schema.Number }))
const decodeAdvisory = Schema.decodeUnknownOption(MaxDeliveriesAdvisory)

type Valid = Extract<Decoded, { _tag: "Valid" }>
type StoreFailure = Unavailable | DataRefused

const isUnavailable = (error: StoreFailure) => error._tag === "Unavailable"

/**
 * One consumer in the cluster, a singleton: readings of one device are stored, acknowledged and
 * evaluated in the order they were published however many processes there are, and the consumer
 * moves to another process when its own stops (`takeOver`).
 */
export const layer = Layer.unwrapEffect(Effect.map(Nats, (nats) =>
  Option.isNone(nats) ? Layer.empty : Singleton.make("vigil/ingest-consumer", consume(nats.value))
))

const consume = ({ config: messaging, js, jsm, nc }: NatsConnected) => Effect.gen(function*() {
  const tracing = yield* TracingEnabled
  const config = yield* IngestConfig
  const ingest = yield* VitalsIngest
  const scheduler = yield* EvaluationScheduler
  const stream = ingestStream(messaging)
  const { deadLetter, publish } = makeDeadLetters(js, messaging)

  const consumerConfig = {
    durable_name: CONSUMER,
    ack_policy: AckPolicy.Explicit,
    filter_subject: `${messaging.subjectPrefix}.ingest.vitals.>`,
    ack_wait: Math.round(Duration.toMillis(config.ackWait) * 1_000_000),
    max_ack_pending: 20_000,
    // One more than Vigil's own limit: reached only when the process never got to answer.
    max_deliver: config.maxDeliver + 1
  }
  yield* takeOver(stream, CONSUMER, consumerConfig, jsm)
  const consumer = yield* Effect.tryPromise({
    try: () => js.consumers.get(stream, CONSUMER),
    catch: (cause) => new NatsError({ message: `cannot open the ingest consumer on ${stream}: ${String(cause)}`, cause })
  })

  // A message JetStream gave up on: dead-lettered from the stream by one process of the cluster.
  const onAdvisory = (data: Uint8Array) =>
    Effect.gen(function*() {
      const advisory = decodeAdvisory(new TextDecoder().decode(data))
      if (Option.isNone(advisory)) return
      const seq = advisory.value.stream_seq
      const stored = yield* Effect.tryPromise(() => jsm.streams.getMessage(stream, { seq }))
      if (stored === null) return
      yield* publish({
        subject: stored.subject,
        data: stored.data,
        streamSequence: seq,
        deliveries: advisory.value.deliveries,
        reason: `delivered ${advisory.value.deliveries} times without an answer (the process handling it stopped each time)`
      })
      yield* Effect.tryPromise(() => jsm.streams.deleteMessage(stream, seq))
    }).pipe(Effect.catchAllCause((cause) => Effect.logError("a message JetStream stopped delivering could not be dead-lettered", cause)))
  // By callback, run in this layer's runtime (Vigil's logger), as the ingest messages are.
  const runFork = Runtime.runFork(yield* Effect.runtime<never>())
  yield* Effect.acquireRelease(
    Effect.sync(() =>
      nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${CONSUMER}`, {
        queue: `${CONSUMER}-advisories`,
        callback: (error, message) => {
          if (error === null) runFork(onAdvisory(message.data))
        }
      })
    ),
    (subscription) => Effect.sync(() => subscription.unsubscribe())
  )

  // Messages arrive by callback into a queue (no fiber per message); the worker takes them in batches.
  // `null` marks the end: the consumer has been closed and nothing more arrives. `waiting` holds the
  // messages received and not yet taken, which an outage must keep from redelivery too.
  const inbox = yield* Queue.unbounded<JsMsg | null>()
  const waiting = new Set<JsMsg>()
  const messages = yield* Effect.tryPromise({
    try: () =>
      consumer.consume({
        max_messages: config.batchSize * 2,
        callback: (msg) => {
          waiting.add(msg)
          Queue.unsafeOffer(inbox, msg)
        }
      }),
    catch: (cause) => new NatsError({ message: `cannot consume ${stream}: ${String(cause)}`, cause })
  })

  /**
   * Runs `work` until the database takes it, holding `msgs`, and the messages waiting behind them,
   * meanwhile: JetStream is told they are being worked on, so it neither redelivers them nor counts
   * a delivery (an outage of any length costs none). Interrupted (shutdown), `msgs` are handed back
   * at once for another process.
   */
  const heldThroughOutages = <A>(msgs: ReadonlyArray<JsMsg>, work: Effect.Effect<A, StoreFailure>) =>
    Effect.scoped(Effect.gen(function*() {
      const scope = yield* Effect.scope
      const keepAlive = Effect.sync(() => {
        for (const msg of msgs) msg.working()
        for (const msg of waiting) msg.working()
      }).pipe(
        Effect.delay(Duration.times(config.ackWait, 1 / 3)),
        Effect.forever
      )
      let holding = false
      const hold = Effect.suspend(() => {
        if (holding) return Effect.void
        holding = true
        return Effect.zipRight(
          Effect.logWarning("database unavailable; ingest holds its messages and retries").pipe(Effect.annotateLogs({ messages: msgs.length })),
          Effect.asVoid(Effect.forkIn(keepAlive, scope))
        )
      })
      return yield* work.pipe(
        Effect.tapError((error) => (isUnavailable(error) ? hold : Effect.void)),
        Effect.retry({
          while: isUnavailable,
          schedule: Schedule.exponential("100 millis").pipe(Schedule.either(Schedule.spaced("5 seconds")))
        }),
        Effect.onInterrupt(() => Effect.sync(() => msgs.forEach((msg) => msg.nak())))
      )
    }))

  /**
   * A message that failed on a bug, alone: delivered again after a delay, or, at its last
   * delivery, dead-lettered with the error.
   */
  const failedOnBug = (msg: JsMsg, cause: Cause.Cause<unknown>) =>
    Effect.zipRight(
      Effect.logError("ingest message failed on a bug", cause).pipe(
        Effect.annotateLogs({ subject: msg.subject, delivery: msg.info.deliveryCount, maxDeliver: config.maxDeliver })
      ),
      msg.info.deliveryCount >= config.maxDeliver
        ? deadLetter(msg, `failed on every one of ${msg.info.deliveryCount} deliveries; last error: ${describeCause(cause)}`)
        : Effect.sync(() => msg.nak(Duration.toMillis(REDELIVERY_DELAY)))
    )

  /** A batch routed, its places in the store drawn (or it stores alone), and its store running. */
  interface Storing {
    readonly _tag: "Storing"
    readonly valid: ReadonlyArray<Valid>
    /** Stores the batch; run again (same places in the store) after an outage. */
    readonly store: Effect.Effect<Committed<ReadonlyArray<Outcome>>, StoreFailure>
    readonly storing: Fiber.Fiber<Committed<ReadonlyArray<Outcome>>, StoreFailure>
  }
  /** Messages to store one at a time: their batch failed on its data or on a bug. */
  interface OneAtATime {
    readonly _tag: "OneAtATime"
    readonly msgs: ReadonlyArray<JsMsg>
  }
  type Staged = Storing | OneAtATime | undefined

  const refused = (error: DataRefused) => `the database refused the reading (SQLSTATE ${error.sqlState}): ${error.reason}`

  /** A batch that failed on a bug or on its data: one at a time, or, alone already, its end. */
  const failed = (msgs: ReadonlyArray<JsMsg>, cause: Cause.Cause<StoreFailure>): Effect.Effect<Staged> => {
    if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
    if (msgs.length > 1) {
      return Effect.as(Effect.logWarning("ingest batch failed; its messages are retried one at a time", cause), { _tag: "OneAtATime", msgs } as const)
    }
    const failure = Cause.failureOption(cause)
    return Effect.as(
      Option.isSome(failure) && failure.value._tag === "DataRefused" ? deadLetter(msgs[0]!, refused(failure.value)) : failedOnBug(msgs[0]!, cause),
      undefined
    )
  }

  /**
   * Stage one, in the order batches are taken: dead-letters what cannot be read, routes the rest
   * and starts storing them. A batch stored `alone` (nothing else in flight until it completes)
   * takes its places at insert, which saves the round trip that draws them.
   */
  const prepare = (batch: ReadonlyArray<JsMsg>, alone: boolean): Effect.Effect<Staged> =>
    tracing ? Effect.withSpan(prepareBatch(batch, alone), "ingest vitals", batchSpan(batch)) : prepareBatch(batch, alone)

  /**
   * A traced batch's span: its parent the first reading's `traceparent` (the device's trace), the
   * others' as links. Its store, and the events it writes, are in it.
   */
  const batchSpan = (batch: ReadonlyArray<JsMsg>) => {
    const parents = batch.flatMap((msg) => {
      const parent = parentOf(msg.headers?.get("traceparent"))
      return parent === undefined ? [] : [parent]
    })
    return {
      kind: "consumer" as const,
      ...(parents[0] === undefined ? {} : { parent: parents[0] }),
      links: parents.slice(1).map((span) => ({ _tag: "SpanLink" as const, span, attributes: {} })),
      attributes: { "messaging.system": "nats", "messaging.operation.type": "process", "messaging.batch.message_count": batch.length }
    }
  }

  const prepareBatch = (batch: ReadonlyArray<JsMsg>, alone: boolean): Effect.Effect<Staged> =>
    Effect.gen(function*() {
      ingestBatchSize.unsafeUpdate(batch.length, [])
      const decoded = batch.map(decode)
      const valid = decoded.filter((d): d is Valid => d._tag === "Valid")
      yield* Effect.forEach(decoded, (d) => d._tag === "Invalid" ? deadLetter(d.msg, d.reason) : Effect.void, { discard: true })
      if (valid.length === 0) return undefined
      const msgs = valid.map((d) => d.msg)
      return yield* heldThroughOutages(msgs, ingest.prepareDeviceReadings(valid.map((d) => d.submission), { drawSeqs: !alone })).pipe(
        // A daemon: a child of the worker would be interrupted when the worker ends (at shutdown,
        // with its last batches still storing); stage two always waits for it.
        Effect.flatMap(({ store }) => Effect.map(Effect.forkDaemon(store), (storing): Staged => ({ _tag: "Storing", valid, store, storing }))),
        Effect.catchAllCause((cause) => failed(msgs, cause))
      )
    })

  /**
   * Stage two, in the same order: waits for the batch's commit (storing it again through an
   * outage), acknowledges its messages (an evaluation lost with the process is caught up),
   * dead-letters the readings refused, and puts the batch in line for evaluation. Answers the
   * messages to store again one at a time.
   */
  const complete = ({ store, storing, valid }: Storing): Effect.Effect<ReadonlyArray<JsMsg>> => {
    const msgs = valid.map((d) => d.msg)
    return Fiber.join(storing).pipe(
      Effect.catchTag("Unavailable", () => heldThroughOutages(msgs, store)),
      Effect.flatMap((committed) =>
        Effect.gen(function*() {
          const rejected: Array<Effect.Effect<void>> = []
          committed.result.forEach((outcome, i) => {
            if (outcome._tag === "Rejected") rejected.push(deadLetter(msgs[i]!, outcome.reason))
            else msgs[i]!.ack()
          })
          yield* Effect.all(rejected, { discard: true })
          countIngested("nats", committed.stored.length)
          yield* scheduler.submit(committed.stored)
          return [] as ReadonlyArray<JsMsg>
        })
      ),
      Effect.catchAllCause((cause) => Effect.map(failed(msgs, cause), (staged) => (staged?._tag === "OneAtATime" ? staged.msgs : [])))
    )
  }

  /** One message from start to end, with nothing else in flight (the one-at-a-time retry). */
  const processAlone = (msg: JsMsg) =>
    Effect.flatMap(prepare([msg], true), (staged) => (staged?._tag === "Storing" ? Effect.asVoid(complete(staged)) : Effect.void))

  // Batches between the two stages, each with the slots it holds from taken to completed. Stage
  // one draws places in the store under `drawing`; a one-at-a-time retry takes it too, so its
  // readings are drawn after, and evaluated after, every batch already in flight.
  const slots = yield* Effect.makeSemaphore(config.storesInFlight)
  const drawing = yield* Effect.makeSemaphore(1)
  const inFlight = yield* Queue.unbounded<{ readonly staged: Storing | OneAtATime; readonly slots: number } | null>()

  const completeEntry = (entry: { readonly staged: Storing | OneAtATime; readonly slots: number }) =>
    Effect.zipLeft(entry.staged._tag === "Storing" ? complete(entry.staged) : Effect.succeed(entry.staged.msgs), slots.release(entry.slots))

  const completer: Effect.Effect<void> = Effect.gen(function*() {
    while (true) {
      const entry = yield* Queue.take(inFlight)
      if (entry === null) return
      const retry = [...yield* completeEntry(entry)]
      if (retry.length === 0) continue
      const ended = yield* drawing.withPermits(1)(Effect.gen(function*() {
        let ended = false
        for (const next of yield* Queue.takeAll(inFlight)) {
          if (next === null) ended = true
          else retry.push(...yield* completeEntry(next))
        }
        yield* Effect.forEach(retry, processAlone, { discard: true })
        return ended
      }))
      if (ended) return
    }
  })

  /** What has arrived, up to a batch; when that is less, what else arrives within the linger. */
  const nextBatch = Effect.gen(function*() {
    const first = yield* Queue.takeBetween(inbox, 1, config.batchSize)
    const batch = first.length >= config.batchSize || Duration.toMillis(config.linger) === 0
      ? first
      : Chunk.appendAll(first, yield* Effect.zipRight(Effect.sleep(config.linger), Queue.takeUpTo(inbox, config.batchSize - first.length)))
    Chunk.forEach(batch, (msg) => msg !== null && waiting.delete(msg))
    return batch
  })
  /**
   * Stage one's loop: a batch waits for a slot, then is prepared and handed to stage two. A small
   * batch (light load: overlapping stores gain nothing) takes every slot and is stored alone.
   */
  const take = (msgs: ReadonlyArray<JsMsg>) => {
    const alone = config.storesInFlight === 1 || msgs.length < Math.min(OVERLAP_FROM, config.batchSize)
    const held = alone ? config.storesInFlight : 1
    return Effect.zipRight(
      slots.take(held),
      drawing.withPermits(1)(Effect.flatMap(prepare(msgs, alone), (staged): Effect.Effect<void> =>
        staged === undefined ? Effect.asVoid(slots.release(held)) : Effect.asVoid(Queue.offer(inFlight, { staged, slots: held }))))
    )
  }
  const work: Effect.Effect<void> = nextBatch.pipe(Effect.flatMap((batch) => {
    const msgs = Chunk.toReadonlyArray(batch).filter((msg): msg is JsMsg => msg !== null)
    const ended = msgs.length < Chunk.size(batch)
    return Effect.zipRight(msgs.length === 0 ? Effect.void : take(msgs), ended ? Effect.void : Effect.suspend(() => work))
  }))
  const completing = yield* completer.pipe(
    Effect.catchAllCause((cause) => Effect.logError("ingest consumer stopped (completing)", cause)),
    Effect.forkDaemon
  )
  const worker = yield* work.pipe(
    Effect.ensuring(Queue.offer(inFlight, null)),
    Effect.catchAllCause((cause) => Effect.logError("ingest consumer stopped", cause)),
    Effect.forkDaemon
  )
  yield* Effect.logInfo("ingest consumer started").pipe(Effect.annotateLogs({ stream, consumer: CONSUMER }))
  // Shutdown: stop taking messages, let what has arrived be stored and acknowledged, and its
  // evaluations be put in line (the scheduler finishes them); then go. What is cut short is
  // redelivered, or caught up on the next start.
  yield* Effect.addFinalizer(() =>
    Effect.promise(() => messages.close().catch(() => undefined)).pipe(
      Effect.zipRight(Queue.offer(inbox, null)),
      Effect.zipRight(Fiber.join(worker)),
      Effect.zipRight(Fiber.join(completing)),
      Effect.timeout(SHUTDOWN_TIMEOUT),
      Effect.ignore,
      Effect.zipRight(Fiber.interrupt(worker)),
      Effect.zipRight(Fiber.interrupt(completing))
    )
  )
}).pipe(
  Effect.catchAllCause((cause) => Effect.logError("ingest consumer stopped; it starts again where the cluster places it next", cause))
)
