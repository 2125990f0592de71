/**
 * The PatientMonitor's behaviour: it holds the patient's state and does the I/O; what the rules
 * decide is `domain/BatchEvaluation.ts` and what the catch-up evaluates is `domain/CatchUp.ts`.
 *
 * On activation it loads its patient's active alerts and counters from PostgreSQL; its first
 * message then evaluates any reading stored but never evaluated (a crash between a reading's
 * commit and its evaluation) with its own, in `seq` order. Each message's alert changes, audit
 * rows, events and counters are written in one transaction; the in-memory state moves only once
 * that commits. Bounds come from the threshold profile on every message (a cache hit,
 * invalidated across processes), so a new profile applies at once.
 *
 * Failures: after any of them the state is reloaded before the next message (memory may be ahead
 * of or behind the database). `Unavailable` goes back to the caller; a stale alert (another
 * process's monitor changed it) reloads and runs the message once more; anything else, data of
 * its own that the database refuses included, is a bug and stays a defect.
 */
import * as Entity from "@effect/cluster/Entity"
import { Effect, Layer, Option } from "effect"
import { ActorConfig } from "./ActorConfig.ts"
import type { Alert } from "../domain/Alert.ts"
import { AlertNotFound, AlertStateConflict, StaleAlertState } from "../domain/Alert.ts"
import type { OpenAlert } from "../domain/Alerting.ts"
import { type Counters, evaluateBatch, type Evaluation, type LatestValues } from "../domain/BatchEvaluation.ts"
import { type CaughtUp, leftAfterCatchUp, notCaughtUp, rememberCaughtUp } from "../domain/CatchUp.ts"
import { DataRefused, type Unavailable } from "../domain/Errors.ts"
import { PatientId } from "../domain/Patient.ts"
import { boundsOf, type ProfileBounds } from "../domain/ThresholdProfile.ts"
import type { VitalSign } from "../domain/VitalSign.ts"
import { AlertRepo, type EvaluationWrite } from "../persistence/AlertRepo.ts"
import { MonitorStateRepo } from "../persistence/MonitorStateRepo.ts"
import { classified } from "../persistence/SqlErrors.ts"
import { ThresholdProfileRepo } from "../persistence/ThresholdProfileRepo.ts"
import { VitalsRepo } from "../persistence/VitalsRepo.ts"
import { AlertConfig } from "./AlertConfig.ts"
import { type AlertChanges, PatientMonitor, type Reading } from "./PatientMonitor.ts"
import { countRaised, countResolved } from "../observability/Metrics.ts"

/** Readings evaluated per catch-up query. */
const CATCH_UP_PAGE = 5_000
/**
 * The watermark is saved with every alert or counter change, and otherwise after this many
 * readings: readings after the saved watermark changed nothing, so evaluating them again after a
 * crash changes nothing either; this bounds how many there are.
 */
const SAVE_WATERMARK_EVERY = 1_000

interface State {
  readonly alerts: Map<VitalSign, Alert>
  counters: Counters
  latest: LatestValues
  lastSeq: number
  /** Readings evaluated since `patient_monitors` was last saved. */
  unsaved: number
}

interface Loaded {
  readonly state: State
  readonly caughtUp: CaughtUp
  /** Whether readings stored after the saved watermark may still await evaluation. */
  pendingCatchUp: boolean
}

const noChanges: AlertChanges = { raised: [], updated: [], resolved: [] }

const openOf = (alert: Alert): OpenAlert => ({
  severity: alert.severity,
  peak: alert.peak,
  count: alert.count,
  first_seen: alert.first_seen,
  last_seen: alert.last_seen
})

const merge = (changes: ReadonlyArray<AlertChanges>): AlertChanges => ({
  raised: changes.flatMap((c) => c.raised),
  updated: changes.flatMap((c) => c.updated),
  resolved: changes.flatMap((c) => c.resolved)
})

const isStale = (error: unknown): error is StaleAlertState => error instanceof StaleAlertState
const isRefused = (error: unknown): error is DataRefused => error instanceof DataRefused

// Their own idle time: the cluster's default is the durable entities' (DurableCluster.ts).
export const layer = Layer.unwrapEffect(Effect.map(Effect.orDie(ActorConfig), ({ maxIdleTime }) => PatientMonitor.toLayer(
  Effect.gen(function*() {
    const address = yield* Entity.CurrentAddress
    const patientId = PatientId.make(address.entityId)
    const alertRepo = yield* AlertRepo
    const monitors = yield* MonitorStateRepo
    const vitals = yield* VitalsRepo
    const profiles = yield* ThresholdProfileRepo
    const config = yield* Effect.orDie(AlertConfig)
    const rules = { sustained: config.sustained, clearAfter: config.clearAfter }
    const defaultBounds = boundsOf(config.defaultProfile)
    const transaction = <A, E, R>(effect: Effect.Effect<A, E, R>) => classified(alertRepo.transaction(effect))

    const currentBounds = Effect.map(profiles.findByPatient(patientId), Option.match({
      onNone: () => ({ bounds: defaultBounds, profile: "default" as const }),
      onSome: (profile) => ({ bounds: boundsOf(profile), profile: "patient" as const })
    }))

    /** The alerts and changes after `written` (the alerts as `writes` wrote them, in order). */
    const afterWrites = (state: State, writes: Evaluation["writes"], written: ReadonlyArray<Alert>) => {
      const alerts = new Map(state.alerts)
      const changes = { raised: [] as Array<Alert>, updated: [] as Array<Alert>, resolved: [] as Array<Alert> }
      writes.forEach((write, i) => {
        const alert = written[i]!
        if (write._tag === "raise") {
          alerts.set(write.sign, alert)
          changes.raised.push(alert)
        } else if (write._tag === "worsen") {
          alerts.set(write.sign, alert)
          changes.updated.push(alert)
        } else {
          alerts.delete(write.sign)
          changes.resolved.push(alert)
        }
      })
      return { alerts, changes }
    }

    /**
     * Writes the evaluation's alert changes and counters atomically; answers the alerts as
     * written. Counters alone are one statement. So are alert changes of different vital signs
     * with the counters (the usual case: no transaction round trips); several changes of one vital
     * sign (a long batch that raised and resolved it) are written in order in one transaction.
     */
    const persist = (state: State, evaluation: Evaluation, bounds: ProfileBounds) => {
      const { writes } = evaluation
      if (writes.length === 0) {
        return Effect.as(monitors.save(patientId, evaluation.lastSeq, evaluation.counters), { alerts: state.alerts, changes: noChanges })
      }
      if (new Set(writes.map((write) => write.sign)).size === writes.length) {
        const specs = writes.map((write): EvaluationWrite =>
          write._tag === "raise"
            ? { _tag: "raise", sign: write.sign, alert: write.alert, bounds: bounds[write.sign] }
            : write._tag === "worsen"
            ? { _tag: "worsen", current: state.alerts.get(write.sign)!, alert: write.alert }
            : { _tag: "resolve", current: state.alerts.get(write.sign)!, by: "auto" }
        )
        return Effect.map(
          alertRepo.writeEvaluation(patientId, specs, (when) => monitors.saving(patientId, evaluation.lastSeq, evaluation.counters, when)),
          (written) => afterWrites(state, writes, written)
        )
      }
      return transaction(Effect.gen(function*() {
        const written: Array<Alert> = []
        const alerts = new Map(state.alerts)
        for (const write of writes) {
          const alert = write._tag === "raise"
            ? yield* alertRepo.raise(patientId, write.sign, write.alert, bounds[write.sign])
            : write._tag === "worsen"
            ? yield* alertRepo.worsen(alerts.get(write.sign)!, write.alert)
            : yield* alertRepo.transition(alerts.get(write.sign)!, { action: "resolved", by: "auto" })
          if (write._tag === "resolve") alerts.delete(write.sign)
          else alerts.set(write.sign, alert)
          written.push(alert)
        }
        yield* monitors.save(patientId, evaluation.lastSeq, evaluation.counters)
        return afterWrites(state, writes, written)
      }))
    }

    /** Evaluates `readings` and writes what that changes; the state moves once it is written. */
    const apply = (state: State, readings: ReadonlyArray<Reading>) =>
      Effect.gen(function*() {
        const { bounds } = yield* currentBounds
        const open = new Map([...state.alerts].map(([sign, alert]) => [sign, openOf(alert)]))
        const evaluation = evaluateBatch({ open, counters: state.counters, latest: state.latest, lastSeq: state.lastSeq }, readings, bounds, rules)
        const quiet = evaluation.writes.length === 0 && !evaluation.countersChanged &&
          state.unsaved + readings.length < SAVE_WATERMARK_EVERY
        // Most readings change nothing: then nothing is written.
        const { alerts, changes } = quiet ? { alerts: state.alerts, changes: noChanges } : yield* persist(state, evaluation, bounds)
        for (const alert of changes.raised) countRaised(alert.severity)
        for (let i = 0; i < changes.resolved.length; i++) countResolved("auto")
        if (alerts !== state.alerts) {
          state.alerts.clear()
          for (const [sign, alert] of alerts) state.alerts.set(sign, alert)
        }
        state.counters = evaluation.counters
        state.latest = evaluation.latest
        state.lastSeq = evaluation.lastSeq
        state.unsaved = quiet ? state.unsaved + readings.length : 0
        return changes
      })

    const load = Effect.gen(function*() {
      const [active, saved, latest] = yield* Effect.all([alertRepo.active(patientId), monitors.load(patientId), vitals.latest(patientId)], {
        concurrency: 3
      })
      const state: State = {
        alerts: new Map(active.map((alert) => [alert.vital_sign, alert])),
        counters: saved.counters,
        latest,
        lastSeq: saved.lastSeq,
        unsaved: 0
      }
      return { state, caughtUp: new Map(), pendingCatchUp: true } satisfies Loaded
    })

    /**
     * Evaluates, in `seq` order, every reading stored after the saved watermark together with the
     * message's own `incoming` readings, and answers all the alert changes that made.
     */
    const catchUp = (loaded: Loaded, incoming: ReadonlyArray<Reading>) =>
      Effect.gen(function*() {
        const { state, caughtUp } = loaded
        const own = new Set(incoming.map((reading) => reading.seq))
        const watermark = state.lastSeq
        const evaluated = new Set<number>()
        const changes: Array<AlertChanges> = []
        while (true) {
          const page = yield* vitals.after(patientId, state.lastSeq, CATCH_UP_PAGE)
          if (page.length === 0) break
          for (const reading of page) evaluated.add(reading.seq)
          rememberCaughtUp(caughtUp, page, own, Date.now())
          changes.push(yield* apply(state, page))
          if (page.length < CATCH_UP_PAGE) break
        }
        const rest = leftAfterCatchUp(incoming, evaluated, watermark)
        if (rest.length > 0) changes.push(yield* apply(state, rest))
        loaded.pendingCatchUp = false
        return merge(changes)
      })

    // Never fail the build (callers would wait forever): a failed load is retried by the next message.
    let loaded: Loaded | undefined
    const ready = Effect.suspend(() =>
      loaded !== undefined ? Effect.succeed(loaded) : Effect.tap(load, (value) => Effect.sync(() => loaded = value))
    )
    const forget = Effect.sync(() => {
      loaded = undefined
    })

    /** Runs a message's work under the failure policy of the header. */
    const guarded = <A, E>(
      work: Effect.Effect<A, E | Unavailable | DataRefused | StaleAlertState>
    ): Effect.Effect<A, Exclude<E, DataRefused | StaleAlertState> | Unavailable> => {
      const attempt: Effect.Effect<A, unknown> = Effect.onError(work, () => forget)
      const policy = (error: unknown) => (isStale(error) || isRefused(error) ? Effect.die(error) : Effect.fail(error))
      return Effect.catchAll(attempt, (error) => (isStale(error) ? Effect.catchAll(attempt, policy) : policy(error))) as Effect.Effect<
        A,
        Exclude<E, DataRefused | StaleAlertState> | Unavailable
      >
    }
    /** Runs `f` on loaded, caught-up state. */
    const withState = <A, E>(f: (loaded: Loaded) => Effect.Effect<A, E | Unavailable | DataRefused | StaleAlertState>) =>
      guarded(ready.pipe(
        Effect.tap((value) => value.pendingCatchUp ? catchUp(value, []) : Effect.void),
        Effect.flatMap(f)
      ))
    yield* Effect.ignore(Effect.catchAllDefect(ready, () => forget))

    const alertCommand = (alertId: string) => (state: State) =>
      Effect.gen(function*() {
        const alert = [...state.alerts.values()].find((candidate) => candidate.id === alertId)
        if (alert !== undefined) return alert
        const stored = yield* alertRepo.findById(alertId as Alert["id"])
        if (Option.isSome(stored) && stored.value.patient_id === patientId) {
          return yield* Effect.fail(new AlertStateConflict({ alertId, status: stored.value.status }))
        }
        return yield* Effect.fail(new AlertNotFound({ alertId }))
      })

    return PatientMonitor.of({
      RecordVitals: ({ payload }) =>
        guarded(Effect.flatMap(ready, (value) => {
          const fresh = notCaughtUp(value.caughtUp, payload.readings, Date.now())
          // The first message after a (re)load answers the catch-up's changes with its own.
          return value.pendingCatchUp ? catchUp(value, fresh) : apply(value.state, fresh)
        })),
      CatchUp: () => guarded(Effect.flatMap(ready, (value) => catchUp(value, []))),
      GetSnapshot: () =>
        withState(({ state }) =>
          Effect.map(currentBounds, ({ bounds, profile }) => ({
            patient_id: patientId,
            profile,
            bounds,
            latest: state.latest,
            active_alerts: [...state.alerts.values()],
            evaluated_through: state.lastSeq
          }))
        ),
      AcknowledgeAlert: ({ payload }) =>
        withState(({ state }) =>
          Effect.gen(function*() {
            const alert = yield* alertCommand(payload.alert_id)(state)
            if (alert.status === "acknowledged") return alert
            const updated = yield* transaction(alertRepo.transition(alert, { action: "acknowledged", by: payload.by }))
            state.alerts.set(updated.vital_sign, updated)
            return updated
          })
        ),
      ResolveAlert: ({ payload }) =>
        withState(({ state }) =>
          Effect.gen(function*() {
            const alert = yield* alertCommand(payload.alert_id)(state)
            const counters = { ...state.counters }
            delete counters[alert.vital_sign]
            const updated = yield* transaction(Effect.zipLeft(
              alertRepo.transition(alert, { action: "resolved", by: payload.by }),
              monitors.save(patientId, state.lastSeq, counters)
            ))
            state.alerts.delete(alert.vital_sign)
            state.counters = counters
            state.unsaved = 0
            countResolved("clinician")
            return updated
          })
        ),
      EscalateAlert: ({ payload }) =>
        withState(({ state }) =>
          Effect.gen(function*() {
            const alert = [...state.alerts.values()].find((candidate) => candidate.id === payload.alert_id)
            if (alert === undefined || alert.status !== "open" || alert.severity !== "critical" || alert.escalated_at !== null) {
              return false
            }
            const updated = yield* transaction(alertRepo.transition(alert, { action: "escalated", by: "system" }))
            state.alerts.set(updated.vital_sign, updated)
            return true
          })
        )
    })
  }),
  { disableFatalDefects: true, maxIdleTime }
)))
