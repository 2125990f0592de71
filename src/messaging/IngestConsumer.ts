/**
 * Device readings over NATS: one durable pull consumer (`vigil-ingest-vitals`) on the work-queue
 * stream `VIGIL_INGEST`, shared by every Vigil process, so each message goes to one of them.
 *
 * Messages are taken in batches (whatever has arrived, up to `INGEST_BATCH_SIZE`) and stored in
 * one statement per batch, up to `INGEST_STORES_IN_FLIGHT` batches at once. Each batch's places in
 * the store (`seq`) are drawn in the order batches are taken; batches are acknowledged in that
 * order and reach each patient's monitor in that order (a slow monitor's batch may overlap the
 * next), so the PatientMonitors' catch-up watermark (a `seq`) holds. A message is acknowledged
 * only after its reading is committed (or found already stored: a redelivery). A message that can
 * never be stored (not JSON, not a valid reading, an unknown or unlinked device) is dead-lettered
 * to `<prefix>.deadletter.ingest...` with its reason in the `Vigil-Dead-Letter-Reason` header,
 * then acknowledged: it is never retried forever. When the database is down, the batch is
 * negatively acknowledged with a delay and comes back.
 */
import { AckPolicy, type JsMsg } from "@nats-io/jetstream"
import { headers as natsHeaders } from "@nats-io/nats-core"
import { Cause, Chunk, Config, Deferred, Duration, Effect, Either, Exit, Fiber, Layer, Option, Queue, Schema } from "effect"
import { type Committed, type DeviceSubmission, type IngestUnavailable, type Outcome, VitalsIngest } from "../actors/VitalsIngest.ts"
import { DeviceId } from "../domain/Device.ts"
import { fromParseIssue } from "../domain/ValidationDetail.ts"
import { DeviceReading } from "../domain/Vitals.ts"
import { Nats, NatsError } from "./NatsBus.ts"
import { deadLetterSubject, ingestStream } from "./Subjects.ts"

export const CONSUMER = "vigil-ingest-vitals"
/** Committed batches whose evaluations run at once (each patient's readings still in order). */
const EVALUATIONS_IN_FLIGHT = 4
/**
 * How long a batch's evaluation runs alone before the next batch's may start beside it: batches
 * are evaluated one after another unless a monitor is slow (a lock, a busy pool). Overlapping them
 * at once shared the CPU among batches under load and finished each later (bench:ingest at 2,000
 * readings/s, one run each: p50 2.9 s against 1.6 s; single runs vary widely on a 2-core machine).
 */
const OVERLAP_AFTER = Duration.seconds(1)
/** Batches smaller than this (or than a full batch) are stored alone, without drawing their places in the store first. */
const OVERLAP_FROM = 64
export const REASON_HEADER = "Vigil-Dead-Letter-Reason"

const IngestConfig = Config.all({
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
  ackWait: Config.duration("INGEST_ACK_WAIT").pipe(Config.withDefault("30 seconds"))
})

const utf8 = new TextDecoder()
const decodeDeviceId = Schema.decodeUnknownEither(DeviceId)
const decodeReading = Schema.decodeUnknownEither(DeviceReading, { errors: "all", onExcessProperty: "ignore" })

type Decoded =
  | { readonly _tag: "Valid"; readonly msg: JsMsg; readonly submission: DeviceSubmission }
  | { readonly _tag: "Invalid"; readonly msg: JsMsg; readonly reason: string }

/** Reads one message; the reason of a refusal names the field, as an HTTP 422 would. */
export const decode = (msg: JsMsg): Decoded => {
  const deviceToken = msg.subject.slice(msg.subject.lastIndexOf(".") + 1)
  const deviceId = decodeDeviceId(deviceToken)
  if (Either.isLeft(deviceId)) return { _tag: "Invalid", msg, reason: `subject: the last token '${deviceToken}' is not a device id (UUID)` }
  let json: unknown
  try {
    json = JSON.parse(utf8.decode(msg.data))
  } catch (error) {
    return { _tag: "Invalid", msg, reason: `body: not JSON (${error instanceof Error ? error.message : String(error)})` }
  }
  const reading = decodeReading(json)
  if (Either.isLeft(reading)) {
    const problems = fromParseIssue("body", reading.left.issue).map((detail) => `${detail.loc.join(".")}: ${detail.msg}`)
    return { _tag: "Invalid", msg, reason: problems.join("; ") }
  }
  return { _tag: "Valid", msg, submission: { deviceId: deviceId.right, reading: reading.right } }
}

export const layer = Layer.scopedDiscard(Effect.gen(function*() {
  const nats = yield* Nats
  if (Option.isNone(nats)) return
  const { config: messaging, js, jsm } = nats.value
  const config = yield* IngestConfig
  const ingest = yield* VitalsIngest
  const stream = ingestStream(messaging)

  const consumerConfig = {
    durable_name: CONSUMER,
    ack_policy: AckPolicy.Explicit,
    filter_subject: `${messaging.subjectPrefix}.ingest.vitals.>`,
    ack_wait: Math.round(Duration.toMillis(config.ackWait) * 1_000_000),
    max_ack_pending: 20_000
  }
  const consumer = yield* Effect.tryPromise({
    try: async () => {
      await jsm.consumers.add(stream, consumerConfig).catch(() => jsm.consumers.update(stream, CONSUMER, consumerConfig))
      return js.consumers.get(stream, CONSUMER)
    },
    catch: (cause) => new NatsError({ message: `cannot create the ingest consumer on ${stream}: ${String(cause)}`, cause })
  })
  // Messages arrive by callback into a queue (no fiber per message); the worker takes them in batches.
  // `null` marks the end: the consumer has been closed and nothing more arrives.
  const inbox = yield* Queue.unbounded<JsMsg | null>()
  const messages = yield* Effect.tryPromise({
    try: () => consumer.consume({ max_messages: config.batchSize * 2, callback: (msg) => void Queue.unsafeOffer(inbox, msg) }),
    catch: (cause) => new NatsError({ message: `cannot consume ${stream}: ${String(cause)}`, cause })
  })

  const deadLetter = (msg: JsMsg, reason: string) =>
    Effect.tryPromise(() => {
      const h = natsHeaders()
      h.set(REASON_HEADER, reason.slice(0, 4000))
      h.set("Vigil-Original-Subject", msg.subject)
      return js.publish(deadLetterSubject(messaging, msg.subject), msg.data, { headers: h })
    }).pipe(
      Effect.matchEffect({
        onSuccess: () => Effect.sync(() => msg.ack()),
        // Not dead-lettered yet: keep it, try again later.
        onFailure: () => Effect.sync(() => msg.nak(5_000))
      }),
      Effect.zipRight(Effect.logWarning("ingest message dead-lettered").pipe(Effect.annotateLogs({ subject: msg.subject, reason })))
    )

  type Valid = Extract<Decoded, { _tag: "Valid" }>
  /** A batch routed, its places in the store drawn (or it stores alone), and its store running. */
  interface InFlight {
    readonly batch: Chunk.Chunk<JsMsg>
    /** The slots it holds: one, or all of them when it is stored alone. */
    readonly slots: number
    readonly valid: ReadonlyArray<Valid>
    readonly storing: Fiber.Fiber<Committed<ReadonlyArray<Outcome>>, IngestUnavailable>
  }
  const nakAll = (batch: Chunk.Chunk<JsMsg>, message: string) => (cause: Cause.Cause<unknown>) =>
    Effect.zipRight(
      Effect.logError(message, cause),
      Effect.sync(() => Chunk.forEach(batch, (msg) => msg.nak(2_000)))
    )
  const redeliver = (valid: ReadonlyArray<Valid>, reason: string) =>
    Effect.zipRight(
      Effect.logWarning("ingest batch not stored; it will be redelivered").pipe(
        Effect.annotateLogs({ messages: valid.length, reason })
      ),
      Effect.sync(() => valid.forEach((d) => d.msg.nak(2_000)))
    )

  /**
   * Stage one, in the order batches are taken: dead-letters what cannot be read, routes the rest
   * and starts storing them. `undefined`: nothing left in flight (all dead-lettered, or the batch
   * was handed back for redelivery). A batch stored `alone` (nothing else in flight until it
   * completes) takes its places at insert, which saves the round trip that draws them.
   */
  const prepare = (batch: Chunk.Chunk<JsMsg>, slots: number, alone: boolean): Effect.Effect<InFlight | undefined> =>
    Effect.gen(function*() {
      const decoded = Chunk.toReadonlyArray(batch).map(decode)
      const valid = decoded.filter((d): d is Valid => d._tag === "Valid")
      yield* Effect.forEach(decoded, (d) => d._tag === "Invalid" ? deadLetter(d.msg, d.reason) : Effect.void, { discard: true })
      if (valid.length === 0) return undefined
      const prepared = yield* ingest.prepareDeviceReadings(valid.map((d) => d.submission), { drawSeqs: !alone }).pipe(
        Effect.catchTag("IngestUnavailable", (error) => Effect.as(redeliver(valid, error.reason), undefined))
      )
      if (prepared === undefined) return undefined
      // A daemon: a child of the worker would be interrupted when the worker ends (at shutdown,
      // with its last batches still storing); stage two always waits for it.
      return { batch, slots, valid, storing: yield* Effect.forkDaemon(prepared.store) }
    }).pipe(Effect.catchAllCause((cause) => Effect.as(nakAll(batch, "ingest batch failed; its messages will be redelivered")(cause), undefined)))

  /**
   * Stage two, in the same order: waits for the batch's commit, acknowledges its messages (an
   * evaluation lost with the process is caught up), dead-letters the readings refused, and queues
   * the evaluation. Answers the messages to store again one at a time: PostgreSQL refused
   * something in the batch, so redelivering it whole would fail forever.
   */
  const complete = ({ batch, storing, valid }: InFlight): Effect.Effect<ReadonlyArray<JsMsg>> =>
    Effect.gen(function*() {
      const exit = yield* Fiber.await(storing)
      if (Exit.isFailure(exit)) {
        const failure = Cause.failureOption(exit.cause)
        if (Option.isNone(failure)) return yield* Effect.failCause(exit.cause)
        const error = failure.value
        if (!error.rejected) return yield* Effect.as(redeliver(valid, error.reason), [])
        if (valid.length > 1) return valid.map((d) => d.msg)
        return yield* Effect.as(deadLetter(valid[0]!.msg, error.reason), [])
      }
      const committed = exit.value
      const rejected: Array<Effect.Effect<void>> = []
      committed.result.forEach((outcome, i) => {
        if (outcome._tag === "Rejected") rejected.push(deadLetter(valid[i]!.msg, outcome.reason))
        else valid[i]!.msg.ack()
      })
      yield* Effect.all(rejected, { discard: true })
      // Evaluated in order, batch after batch, while the next batches are taken and stored.
      yield* Queue.offer(evaluations, committed.startEvaluation)
      return []
    }).pipe(Effect.catchAllCause((cause) => Effect.as(nakAll(batch, "ingest batch failed; its messages will be redelivered")(cause), [])))

  /** One batch from start to end, with nothing else in flight (the one-at-a-time retry). */
  const processAlone = (batch: Chunk.Chunk<JsMsg>) =>
    Effect.flatMap(prepare(batch, 0, true), (entry) => entry === undefined ? Effect.void : Effect.asVoid(complete(entry)))

  // Batches between the two stages (each holds a slot from taken to completed). Stage one draws
  // places in the store under `drawing`; a one-at-a-time retry takes it too, so its readings are
  // drawn after, and evaluated after, every batch already in flight.
  const slots = yield* Effect.makeSemaphore(config.storesInFlight)
  const drawing = yield* Effect.makeSemaphore(1)
  const inFlight = yield* Queue.unbounded<InFlight | null>()

  const completer: Effect.Effect<void> = Effect.gen(function*() {
    while (true) {
      const entry = yield* Queue.take(inFlight)
      if (entry === null) return
      const retry = [...yield* complete(entry)]
      yield* slots.release(entry.slots)
      if (retry.length === 0) continue
      const ended = yield* drawing.withPermits(1)(Effect.gen(function*() {
        let ended = false
        for (const next of yield* Queue.takeAll(inFlight)) {
          if (next === null) {
            ended = true
            continue
          }
          retry.push(...yield* complete(next))
          yield* slots.release(next.slots)
        }
        yield* Effect.forEach(retry, (msg) => processAlone(Chunk.of(msg)), { discard: true })
        return ended
      }))
      if (ended) return
    }
  })

  // Committed batches are put in line at their monitors in order (each `start` does that and
  // answers the evaluation to run). One runs at a time unless it takes longer than OVERLAP_AFTER;
  // then up to EVALUATIONS_IN_FLIGHT run at once: a patient whose monitor is slow to write an alert
  // holds up its own later readings, not the other patients'. At most two more wait to start:
  // beyond that, storing waits too.
  const evaluations = yield* Queue.bounded<Effect.Effect<Effect.Effect<unknown>>>(2)
  const evaluating = yield* Effect.makeSemaphore(EVALUATIONS_IN_FLIGHT)
  const evaluator = yield* Queue.take(evaluations).pipe(
    Effect.flatMap((start) =>
      Effect.uninterruptible(Effect.flatMap(start, (run) =>
        Effect.zipRight(
          evaluating.take(1),
          Effect.forkDaemon(run.pipe(
            Effect.catchAllCause((cause) => Effect.logWarning("batch evaluation failed; its monitors catch up when they reload", cause)),
            Effect.ensuring(evaluating.release(1))
          ))
        )))
    ),
    Effect.flatMap((running) => Effect.timeoutOption(Fiber.await(running), OVERLAP_AFTER)),
    Effect.forever,
    Effect.forkDaemon
  )
  /** A `start` whose evaluation runs once every evaluation started before it has finished. */
  const afterEvaluations = (then: Effect.Effect<unknown>) =>
    Effect.as(evaluating.withPermits(EVALUATIONS_IN_FLIGHT)(Effect.void), then)

  /** What has arrived, up to a batch; when that is less, what else arrives within the linger. */
  const nextBatch = Effect.gen(function*() {
    const first = yield* Queue.takeBetween(inbox, 1, config.batchSize)
    if (first.length >= config.batchSize || Duration.toMillis(config.linger) === 0) return first
    yield* Effect.sleep(config.linger)
    return Chunk.appendAll(first, yield* Queue.takeUpTo(inbox, config.batchSize - first.length))
  })
  /**
   * Stage one's loop: a batch waits for a slot, then is prepared and handed to stage two. A small
   * batch (light load: overlapping stores gain nothing) takes every slot and is stored alone.
   */
  const take = (msgs: Chunk.Chunk<JsMsg>) => {
    const alone = config.storesInFlight === 1 || Chunk.size(msgs) < Math.min(OVERLAP_FROM, config.batchSize)
    const held = alone ? config.storesInFlight : 1
    return Effect.zipRight(
      slots.take(held),
      drawing.withPermits(1)(Effect.flatMap(prepare(msgs, held, alone), (entry): Effect.Effect<void> =>
        entry === undefined ? Effect.asVoid(slots.release(held)) : Effect.asVoid(Queue.offer(inFlight, entry))))
    )
  }
  const work: Effect.Effect<void> = nextBatch.pipe(Effect.flatMap((batch) => {
    const msgs = Chunk.filter(batch, (msg): msg is JsMsg => msg !== null)
    const ended = Chunk.size(msgs) < Chunk.size(batch)
    return Effect.zipRight(Chunk.isEmpty(msgs) ? Effect.void : take(msgs), ended ? Effect.void : Effect.suspend(() => work))
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
  // Shutdown: stop taking messages, let the batch in hand finish (ack after commit) and the
  // committed batches be evaluated, then go. What is cut short is caught up on the next start.
  yield* Effect.addFinalizer(() =>
    Effect.promise(() => messages.close().catch(() => undefined)).pipe(
      // What has arrived is stored (and acknowledged) before the worker ends.
      Effect.zipRight(Queue.offer(inbox, null)),
      Effect.zipRight(Fiber.join(worker)),
      Effect.zipRight(Fiber.join(completing)),
      Effect.zipRight(Deferred.make<void>()),
      Effect.tap((drained) => Queue.offer(evaluations, afterEvaluations(Deferred.succeed(drained, undefined)))),
      Effect.flatMap(Deferred.await),
      Effect.timeout("10 seconds"),
      Effect.ignore,
      Effect.zipRight(Fiber.interrupt(worker)),
      Effect.zipRight(Fiber.interrupt(completing)),
      Effect.zipRight(Fiber.interrupt(evaluator))
    )
  )
}))
