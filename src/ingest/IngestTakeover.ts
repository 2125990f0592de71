/** The NATS ingest consumer's takeover by the process the cluster gives it to (`IngestConsumer.ts`). */
import { type ConsumerConfig, type JetStreamManager } from "@nats-io/jetstream"
import { Effect, Schedule } from "effect"
import { callActor } from "../actors/ActorCalls.ts"
import { PatientMonitor } from "../actors/PatientMonitor.ts"
import { NatsError } from "../messaging/NatsBus.ts"
import { VitalsRepo } from "../persistence/VitalsRepo.ts"

/**
 * The consumer's takeover, where the previous holder left off (it stopped, or was killed): the
 * durable consumer is made again, so that what the previous holder took and did not acknowledge
 * is delivered again now, in stream order, ahead of anything newer (JetStream would otherwise
 * redeliver it only after `ack_wait`, behind newer messages); then every monitor that may hold
 * stored readings it has not evaluated (stored by the previous holder, which stopped before their
 * evaluation) evaluates them, before any newer reading reaches it.
 */
export const takeOver = (
  stream: string,
  name: string,
  consumerConfig: Partial<ConsumerConfig> & { durable_name: string },
  jsm: JetStreamManager
) =>
  Effect.gen(function*() {
    yield* Effect.tryPromise({
      try: async () => {
        await jsm.consumers.delete(stream, name).catch(() => false)
        await jsm.consumers.add(stream, consumerConfig)
      },
      catch: (cause) => new NatsError({ message: `cannot create the ingest consumer on ${stream}: ${String(cause)}`, cause })
    }).pipe(
      Effect.tapError((error) => Effect.logWarning("ingest consumer not created; retrying", error)),
      Effect.retry(Schedule.exponential("200 millis").pipe(Schedule.either(Schedule.spaced("5 seconds"))))
    )
    const vitals = yield* VitalsRepo
    const monitors = yield* PatientMonitor.client
    const behind = yield* vitals.patientsBehind().pipe(Effect.retry(Schedule.spaced("1 second")), Effect.orDie)
    const failed = yield* Effect.forEach(behind, (patientId) =>
      callActor(monitors(patientId).CatchUp()).pipe(
        Effect.retry({ times: 3, schedule: Schedule.spaced("1 second") }),
        Effect.as(0),
        Effect.catchAllCause((cause) => Effect.as(Effect.logWarning("a monitor could not catch up before the ingest resumed", cause), 1))
      ), { concurrency: 8 })
    yield* Effect.logInfo("ingest consumer taken over").pipe(Effect.annotateLogs({
      monitorsCaughtUp: behind.length,
      monitorsFailed: failed.reduce((a, b) => a + b, 0)
    }))
  })

