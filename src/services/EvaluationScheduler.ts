/**
 * Hands committed readings to their patients' PatientMonitors: the one evaluation scheduler, for
 * every door (HTTP batches and single readings, NATS ingest).
 *
 * - Batches are put in line in the order they are submitted. Each patient's calls form a chain:
 *   a call waits for the patient's previous one, never for other patients', so a monitor gets its
 *   readings in submission order (NATS ingest submits in `seq` order, which the catch-up
 *   watermark needs) and a patient whose alert is slow to write holds up only that patient.
 * - A large batch (`LARGE_BATCH` readings or more) is evaluated alone unless it takes longer than
 *   `OVERLAP_AFTER`; then the next starts beside it. Overlapping large batches at once shared the
 *   CPU among them under load and finished each later (bench:ingest at 2,000 readings/s, one run
 *   each: p50 2.9 s against 1.6 s). Small batches (a light load: a reading or a few per batch)
 *   start at once beside what runs: one at a time, each waited for its alert's commit before the
 *   next began, which queued readings at 250/s. At most `BATCHES_AT_ONCE` run at once, and at
 *   most `WAITING` batches wait to start: beyond that, `submit` waits, and so does its door.
 * - A batch's calls share one time limit (a timer per call doubled a call's CPU) of
 *   `CALL_TIMEOUT`. Evaluation never fails its caller: the readings are committed, and a monitor
 *   that could not evaluate them (unavailable, a defect, no answer in time) catches up when it
 *   reloads. An unavailable monitor is a warning; a defect is logged as the error it is.
 * - Shutdown waits (up to `DRAIN_TIMEOUT`) for what is in line; what is cut short is caught up on
 *   the next activation.
 */
import { Array as Arr, Cause, Deferred, Duration, Effect, Exit, Fiber, FiberId, Option, Queue, Schedule, type Tracer } from "effect"
import { CALL_TIMEOUT, callActor } from "../actors/ActorCalls.ts"
import { PatientMonitor } from "../actors/PatientMonitor.ts"
import type { Alert } from "../domain/Alert.ts"
import type { StoredReading } from "../domain/Vitals.ts"

export interface AlertSummary {
  readonly raised: ReadonlyArray<Alert>
  readonly updated: ReadonlyArray<Alert>
  readonly resolved: ReadonlyArray<Alert>
}

const OVERLAP_AFTER = Duration.seconds(1)
const LARGE_BATCH = 100
const BATCHES_AT_ONCE = 16
const WAITING = 2
/** Monitor calls running at once, across all batches. */
const CALLS_AT_ONCE = 32
const DRAIN_TIMEOUT = Duration.seconds(10)

interface Batch {
  readonly stored: ReadonlyArray<StoredReading>
  readonly summary: Deferred.Deferred<AlertSummary>
  /** The submitter's span (a traced request's, a traced ingest batch's): the evaluation continues its trace. */
  readonly span: Option.Option<Tracer.AnySpan>
}

export class EvaluationScheduler extends Effect.Service<EvaluationScheduler>()("vigil/EvaluationScheduler", {
  scoped: Effect.gen(function*() {
    const monitors = yield* PatientMonitor.client
    const chains = new Map<string, Deferred.Deferred<void>>()
    const calls = yield* Effect.makeSemaphore(CALLS_AT_ONCE)
    const running = yield* Effect.makeSemaphore(BATCHES_AT_ONCE)
    const waiting = yield* Queue.bounded<Batch>(WAITING)
    /** Batches submitted and not yet evaluated. */
    let outstanding = 0

    /** Links the batch's readings onto their patients' chains now; answers its evaluation. */
    const line = ({ stored, summary }: Batch) => {
      const links = Object.entries(Arr.groupBy(stored, (reading) => reading.patient_id)).map(([patientId, readings]) => {
        const previous = chains.get(patientId)
        const done = Deferred.unsafeMake<void>(FiberId.none)
        chains.set(patientId, done)
        return { patientId, readings, previous, done }
      })
      /** Ends every link however the evaluation ends: a link not ended would hold its patient's chain forever. */
      const release = Effect.sync(() => {
        for (const link of links) {
          Deferred.unsafeDone(link.done, Exit.void)
          if (chains.get(link.patientId) === link.done) chains.delete(link.patientId)
        }
      })
      const result = { raised: [] as Array<Alert>, updated: [] as Array<Alert>, resolved: [] as Array<Alert> }
      const evaluateLink = (link: typeof links[number]) =>
        Effect.zipRight(
          link.previous === undefined ? Effect.void : Deferred.await(link.previous),
          calls.withPermits(1)(callActor(monitors(link.patientId).RecordVitals({ readings: link.readings }), null)).pipe(
            Effect.matchCauseEffect({
              onFailure: (cause) =>
                (Cause.isFailType(cause) || Cause.isInterruptedOnly(cause)
                  ? Effect.logWarning("readings stored but not evaluated yet; the monitor catches up when it reloads", cause)
                  : Effect.logError("a monitor failed to evaluate stored readings; it catches up when it reloads", cause)).pipe(
                    Effect.annotateLogs({ patientId: link.patientId, readings: link.readings.length })
                  ),
              onSuccess: (changes) =>
                Effect.sync(() => {
                  result.raised.push(...changes.raised)
                  result.updated.push(...changes.updated)
                  result.resolved.push(...changes.resolved)
                })
            })
          )
        ).pipe(Effect.ensuring(Deferred.done(link.done, Exit.void)))
      return Effect.forEach(links, evaluateLink, { concurrency: "unbounded", discard: true }).pipe(
        Effect.timeoutOption(CALL_TIMEOUT),
        Effect.tap((finished) =>
          finished._tag === "None"
            ? Effect.logWarning("monitors did not answer in time; their readings are stored and caught up when they reload").pipe(
              Effect.annotateLogs({ readings: stored.length })
            )
            : Effect.void
        ),
        Effect.ensuring(release),
        Effect.zipRight(Deferred.succeed(summary, result)),
        Effect.ensuring(Effect.sync(() => outstanding--))
      )
    }

    // Takes the batches in order, links each at once, and lets the next start beside a large one
    // only once it has run for OVERLAP_AFTER.
    const dispatcher = yield* Queue.take(waiting).pipe(
      Effect.flatMap((batch) =>
        Effect.uninterruptible(Effect.zipRight(
          running.take(1),
          Effect.map(
            Effect.forkDaemon(Effect.ensuring(Option.match(batch.span, { onNone: () => line(batch), onSome: (span) => Effect.withParentSpan(line(batch), span) }), running.release(1))),
            (evaluation) => ({ batch, evaluation })
          )
        ))
      ),
      Effect.flatMap(({ batch, evaluation }) =>
        batch.stored.length < LARGE_BATCH ? Effect.void : Effect.timeoutOption(Fiber.await(evaluation), OVERLAP_AFTER)
      ),
      Effect.forever,
      Effect.forkDaemon
    )
    // What is in line is evaluated before the monitors stop.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => (outstanding === 0 ? Effect.void : Effect.fail("evaluations in line"))).pipe(
        Effect.retry(Schedule.spaced("10 millis")),
        Effect.timeout(DRAIN_TIMEOUT),
        Effect.ignore,
        Effect.zipRight(Fiber.interrupt(dispatcher))
      )
    )

    /**
     * Puts the readings in line behind every batch submitted before; answers the wait for their
     * alert changes (which the NATS consumer does not wait for).
     */
    const submit = (stored: ReadonlyArray<StoredReading>): Effect.Effect<Effect.Effect<AlertSummary>> =>
      Effect.gen(function*() {
        const summary = yield* Deferred.make<AlertSummary>()
        if (stored.length === 0) yield* Deferred.succeed(summary, { raised: [], updated: [], resolved: [] })
        else {
          outstanding++
          const span = yield* Effect.option(Effect.currentSpan)
          yield* Queue.offer(waiting, { stored, summary, span }).pipe(Effect.onInterrupt(() => Effect.sync(() => outstanding--)))
        }
        return Deferred.await(summary)
      })

    /** Submits the readings and waits for their alert changes. */
    const evaluate = (stored: ReadonlyArray<StoredReading>) => Effect.flatten(submit(stored))

    return { submit, evaluate } as const
  })
}) {}
