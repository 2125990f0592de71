/**
 * Device readings over NATS: one durable pull consumer (`vigil-ingest-vitals`) on the work-queue
 * stream `VIGIL_INGEST`, shared by every Vigil process, so each message goes to one of them.
 *
 * Messages are taken in batches (whatever has arrived, up to `INGEST_BATCH_SIZE`) and stored in
 * one transaction per batch. A message is acknowledged only after its reading is committed (or
 * found already stored: a redelivery). A message that can never be stored (not JSON, not a valid
 * reading, an unknown or unlinked device) is dead-lettered to `<prefix>.deadletter.ingest...`
 * with its reason in the `Vigil-Dead-Letter-Reason` header, then acknowledged: it is never
 * retried forever. When the database is down, the batch is negatively acknowledged with a delay
 * and comes back.
 */
import { AckPolicy, type JsMsg } from "@nats-io/jetstream"
import { headers as natsHeaders } from "@nats-io/nats-core"
import { Chunk, Config, Deferred, Duration, Effect, Either, Fiber, Layer, Option, Queue, Schema } from "effect"
import { type DeviceSubmission, VitalsIngest } from "../actors/VitalsIngest.ts"
import { DeviceId } from "../domain/Device.ts"
import { fromParseIssue } from "../domain/ValidationDetail.ts"
import { DeviceReading } from "../domain/Vitals.ts"
import { Nats, NatsError } from "./NatsBus.ts"
import { deadLetterSubject, ingestStream } from "./Subjects.ts"

export const CONSUMER = "vigil-ingest-vitals"
export const REASON_HEADER = "Vigil-Dead-Letter-Reason"

const IngestConfig = Config.all({
  batchSize: Config.integer("INGEST_BATCH_SIZE").pipe(
    Config.validate({ message: "INGEST_BATCH_SIZE must be from 1 to 5000", validation: (n) => n >= 1 && n <= 5000 }),
    // Under load a batch fills at once; most of a batch's cost is per patient, not per reading.
    Config.withDefault(2000)
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

  const processBatch = (batch: Chunk.Chunk<JsMsg>): Effect.Effect<void> =>
    Effect.gen(function*() {
      const decoded = Chunk.toReadonlyArray(batch).map(decode)
      const valid = decoded.filter((d): d is Extract<Decoded, { _tag: "Valid" }> => d._tag === "Valid")
      yield* Effect.forEach(decoded, (d) => d._tag === "Invalid" ? deadLetter(d.msg, d.reason) : Effect.void, { discard: true })
      if (valid.length === 0) return
      const committed = yield* ingest.recordDeviceReadings(valid.map((d) => d.submission)).pipe(
        Effect.catchTag("IngestUnavailable", (error) =>
          (error.rejected
            // The database refuses something in the batch: find it, one message at a time, and
            // dead-letter it; the others are stored. Redelivering the batch would fail forever.
            ? valid.length === 1
              ? deadLetter(valid[0]!.msg, error.reason)
              : Effect.forEach(valid, (d) => processBatch(Chunk.of(d.msg)), { discard: true })
            : Effect.zipRight(
              Effect.logWarning("ingest batch not stored; it will be redelivered").pipe(
                Effect.annotateLogs({ messages: valid.length, reason: error.reason })
              ),
              Effect.sync(() => valid.forEach((d) => d.msg.nak(2_000)))
            )).pipe(Effect.as(undefined)))
      )
      if (committed === undefined) return
      // Committed: acknowledge now, then evaluate (an evaluation lost with the process is caught up).
      const rejected: Array<Effect.Effect<void>> = []
      committed.result.forEach((outcome, i) => {
        if (outcome._tag === "Rejected") rejected.push(deadLetter(valid[i]!.msg, outcome.reason))
        else valid[i]!.msg.ack()
      })
      yield* Effect.all(rejected, { discard: true })
      // Evaluated in order, batch after batch, while the next batch is taken and stored.
      yield* Queue.offer(evaluations, committed.evaluate)
    }).pipe(
      Effect.catchAllCause((cause) =>
        Effect.zipRight(
          Effect.logError("ingest batch failed; its messages will be redelivered", cause),
          Effect.sync(() => Chunk.forEach(batch, (msg) => msg.nak(2_000)))
        ))
    )

  // At most two committed batches wait for their evaluation: beyond that, storing waits too.
  const evaluations = yield* Queue.bounded<Effect.Effect<unknown>>(2)
  const evaluator = yield* Queue.take(evaluations).pipe(
    Effect.flatten,
    Effect.catchAllCause((cause) => Effect.logWarning("batch evaluation failed; its monitors catch up when they reload", cause)),
    Effect.forever,
    Effect.forkDaemon
  )

  /** What has arrived, up to a batch; when that is less, what else arrives within the linger. */
  const nextBatch = Effect.gen(function*() {
    const first = yield* Queue.takeBetween(inbox, 1, config.batchSize)
    if (first.length >= config.batchSize || Duration.toMillis(config.linger) === 0) return first
    yield* Effect.sleep(config.linger)
    return Chunk.appendAll(first, yield* Queue.takeUpTo(inbox, config.batchSize - first.length))
  })
  const work: Effect.Effect<void> = nextBatch.pipe(Effect.flatMap((batch) => {
    const msgs = Chunk.filter(batch, (msg): msg is JsMsg => msg !== null)
    const ended = Chunk.size(msgs) < Chunk.size(batch)
    return Effect.zipRight(Chunk.isEmpty(msgs) ? Effect.void : processBatch(msgs), ended ? Effect.void : Effect.suspend(() => work))
  }))
  const worker = yield* work.pipe(
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
      Effect.zipRight(Deferred.make<void>()),
      Effect.tap((drained) => Queue.offer(evaluations, Deferred.succeed(drained, undefined))),
      Effect.flatMap(Deferred.await),
      Effect.timeout("10 seconds"),
      Effect.ignore,
      Effect.zipRight(Fiber.interrupt(worker)),
      Effect.zipRight(Fiber.interrupt(evaluator))
    )
  )
}))
