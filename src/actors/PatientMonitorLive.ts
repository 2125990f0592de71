/**
 * The PatientMonitor's behaviour. On activation it loads its patient's active alerts and counters
 * from PostgreSQL; its first message then evaluates any reading stored but never evaluated (a
 * crash between a reading's commit and its evaluation) with its own, in `seq` order, so no stored
 * reading escapes the rules and a patient's first reading answers the alerts it raised. Each message's
 * alert changes, audit rows, events and counters are written in one transaction; the in-memory
 * state moves only once that commits, and if a write fails the state is reloaded before the next
 * message. Bounds come from the threshold profile on every message (a cache hit, invalidated
 * across processes), so a new profile applies at once.
 */
import * as Entity from "@effect/cluster/Entity"
import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import { Cause, Effect, Option } from "effect"
import type { Alert } from "../domain/Alert.ts"
import { AlertNotFound, AlertStateConflict } from "../domain/Alert.ts"
import { type OpenAlert, step, type VitalAlertState, type VitalSign } from "../domain/Alerting.ts"
import { PatientId } from "../domain/Patient.ts"
import { boundsOf, type ProfileBounds } from "../domain/ThresholdProfile.ts"
import { vitalSigns } from "../domain/Vitals.ts"
import { AlertRepo } from "../persistence/AlertRepo.ts"
import { type Counters, MonitorStateRepo } from "../persistence/MonitorStateRepo.ts"
import { ThresholdProfileRepo } from "../persistence/ThresholdProfileRepo.ts"
import { type LatestValues, VitalsRepo } from "../persistence/VitalsRepo.ts"
import { AlertConfig } from "./AlertConfig.ts"
import { type AlertChanges, MonitorUnavailable, PatientMonitor, type Reading } from "./PatientMonitor.ts"

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

/** How long a caught-up reading's own message may still come (another process's never does). */
const CAUGHT_UP_MEMORY_MS = 60_000

/** Drops caught-up entries old enough that their messages will not come (oldest first: a Map keeps insertion order). */
const forgetStale = (caughtUp: Map<number, number>) => {
  const horizon = Date.now() - CAUGHT_UP_MEMORY_MS
  for (const [seq, at] of caughtUp) {
    if (at > horizon) break
    caughtUp.delete(seq)
  }
}

const noChanges: AlertChanges = { raised: [], updated: [], resolved: [] }

interface Loaded {
  readonly state: State
  /** Readings a catch-up evaluated on behalf of messages still queued: `seq` → when. */
  readonly caughtUp: Map<number, number>
  /** Whether readings stored after the saved watermark may still await evaluation. */
  pendingCatchUp: boolean
}

type Operation =
  | { readonly _tag: "raise"; readonly sign: VitalSign; readonly alert: OpenAlert }
  | { readonly _tag: "worsen"; readonly sign: VitalSign; readonly alert: OpenAlert }
  | { readonly _tag: "resolve"; readonly sign: VitalSign }

const openOf = (alert: Alert): OpenAlert => ({
  severity: alert.severity,
  peak: alert.peak,
  count: alert.count,
  first_seen: alert.first_seen,
  last_seen: alert.last_seen
})

export const layer = PatientMonitor.toLayer(
  Effect.gen(function*() {
    const address = yield* Entity.CurrentAddress
    const patientId = PatientId.make(address.entityId)
    const sql = yield* SqlClient.SqlClient
    const alertRepo = yield* AlertRepo
    const monitors = yield* MonitorStateRepo
    const vitals = yield* VitalsRepo
    const profiles = yield* ThresholdProfileRepo
    const config = yield* Effect.orDie(AlertConfig)
    const rules = { sustained: config.sustained, clearAfter: config.clearAfter }
    const defaultBounds = boundsOf(config.defaultProfile)

    const currentBounds = Effect.map(profiles.findByPatient(patientId), Option.match({
      onNone: () => ({ bounds: defaultBounds, profile: "default" as const }),
      onSome: (profile) => ({ bounds: boundsOf(profile), profile: "patient" as const })
    }))

    /** Runs the rules over `readings` from `state` (not changed): the operations and the new counters. */
    const evaluate = (state: State, readings: ReadonlyArray<typeof Reading.Type>, bounds: ProfileBounds) => {
      const open = new Map<VitalSign, OpenAlert | null>()
      const counters: Counters = { ...state.counters }
      const latest: LatestValues = { ...state.latest }
      const operations: Array<Operation> = []
      let countersChanged = false
      let lastSeq = state.lastSeq
      for (const reading of readings) {
        lastSeq = Math.max(lastSeq, reading.seq)
        for (const sign of vitalSigns) {
          const value = reading[sign]
          if (value === null) continue
          const seen = latest[sign]
          if (seen === undefined || seen.measured_at <= reading.measured_at) latest[sign] = { value, measured_at: reading.measured_at }
          if (!open.has(sign)) {
            const alert = state.alerts.get(sign)
            open.set(sign, alert === undefined ? null : openOf(alert))
          }
          const counter = counters[sign]
          const before: VitalAlertState = { open: open.get(sign)!, pending: counter?.pending ?? null, inRange: counter?.inRange ?? 0 }
          const next = step(before, value, reading.measured_at, bounds[sign], rules)
          open.set(sign, next.state.open)
          if (next.state.pending !== before.pending || next.state.inRange !== before.inRange) {
            countersChanged = true
            counters[sign] = { pending: next.state.pending, inRange: next.state.inRange }
          }
          const transition = next.transition
          if (transition === null) continue
          if (transition._tag === "Raised") operations.push({ _tag: "raise", sign, alert: transition.alert })
          else if (transition._tag === "Resolved") operations.push({ _tag: "resolve", sign })
          else {
            // Successive updates of one alert within a message are written once, as the last.
            let previous = operations.length - 1
            while (previous >= 0 && operations[previous]!.sign !== sign) previous--
            if (previous >= 0 && operations[previous]!._tag === "worsen") operations.splice(previous, 1)
            operations.push({ _tag: "worsen", sign, alert: transition.alert })
          }
        }
      }
      return { operations, counters, countersChanged, latest, lastSeq }
    }

    /**
     * Writes the operations and the counters in one transaction; answers the alerts as written.
     * Counters alone are one statement, atomic by itself: no transaction round trips.
     */
    const persist = (state: State, result: ReturnType<typeof evaluate>, bounds: ProfileBounds) =>
      result.operations.length === 0
        ? Effect.as(monitors.save(patientId, result.lastSeq, result.counters), { alerts: state.alerts, changes: noChanges })
        : sql.withTransaction(Effect.gen(function*() {
        const alerts = new Map(state.alerts)
        const changes = { raised: [] as Array<Alert>, updated: [] as Array<Alert>, resolved: [] as Array<Alert> }
        for (const op of result.operations) {
          if (op._tag === "raise") {
            const alert = yield* alertRepo.raise(patientId, op.sign, op.alert, bounds[op.sign])
            alerts.set(op.sign, alert)
            changes.raised.push(alert)
          } else if (op._tag === "worsen") {
            const alert = yield* alertRepo.worsen(alerts.get(op.sign)!, op.alert)
            alerts.set(op.sign, alert)
            changes.updated.push(alert)
          } else {
            const alert = yield* alertRepo.transition(alerts.get(op.sign)!, { action: "resolved", by: "auto" })
            alerts.delete(op.sign)
            changes.resolved.push(alert)
          }
        }
        yield* monitors.save(patientId, result.lastSeq, result.counters)
        return { alerts, changes }
      }))

    const apply = (state: State, readings: ReadonlyArray<typeof Reading.Type>) =>
      Effect.gen(function*() {
        const { bounds } = yield* currentBounds
        const result = evaluate(state, readings, bounds)
        const quiet = result.operations.length === 0 && !result.countersChanged &&
          state.unsaved + readings.length < SAVE_WATERMARK_EVERY
        // Most readings change nothing: then nothing is written.
        const { alerts, changes } = quiet ? { alerts: state.alerts, changes: noChanges } : yield* persist(state, result, bounds)
        if (alerts !== state.alerts) {
          state.alerts.clear()
          for (const [sign, alert] of alerts) state.alerts.set(sign, alert)
        }
        state.counters = result.counters
        state.latest = result.latest
        state.lastSeq = result.lastSeq
        state.unsaved = quiet ? state.unsaved + readings.length : 0
        return changes as AlertChanges
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
      return { state, caughtUp: new Map<number, number>(), pendingCatchUp: true }
    })

    /**
     * Evaluates, in `seq` order, every reading stored after the saved watermark (their evaluation
     * was lost with a process, or their messages are still queued behind this one) together with
     * the message's own `incoming` readings, and answers all the alert changes that made. Readings
     * of other queued messages are remembered in `caughtUp`, so those messages do not evaluate
     * them twice.
     *
     * Limit: the watermark is a `seq`. A reading whose transaction committed after one with a
     * higher `seq` had been evaluated, and whose own evaluation was then lost with the process, is
     * below the watermark and not caught up. One process's NATS ingest draws its batches' `seq`s in
     * the order it takes them and evaluates them in that order (whatever order they commit in), so
     * this takes concurrent writers (HTTP) and a crash in between.
     */
    const catchUp = (loaded: Loaded, incoming: ReadonlyArray<typeof Reading.Type>) =>
      Effect.gen(function*() {
        const { state, caughtUp } = loaded
        const own = new Set(incoming.map((reading) => reading.seq))
        // Readings at or below the saved watermark were evaluated before this (re)load.
        const watermark = state.lastSeq
        const evaluated = new Set<number>()
        const total = { raised: [] as Array<Alert>, updated: [] as Array<Alert>, resolved: [] as Array<Alert> }
        const add = (changes: AlertChanges) => {
          total.raised.push(...changes.raised)
          total.updated.push(...changes.updated)
          total.resolved.push(...changes.resolved)
        }
        while (true) {
          const missed = yield* vitals.after(patientId, state.lastSeq, CATCH_UP_PAGE)
          if (missed.length === 0) break
          for (const reading of missed) {
            evaluated.add(reading.seq)
            if (!own.has(reading.seq)) caughtUp.set(reading.seq, Date.now())
          }
          add(yield* apply(state, missed))
          if (missed.length < CATCH_UP_PAGE) break
        }
        const rest = incoming.filter((reading) => !evaluated.has(reading.seq) && reading.seq > watermark)
        if (rest.length > 0) add(yield* apply(state, rest))
        loaded.pendingCatchUp = false
        return total as AlertChanges
      })

    // Never fail the build (callers would wait forever): a failed load is retried by the next message.
    let loaded: Loaded | undefined
    const ready = Effect.suspend(() =>
      loaded !== undefined ? Effect.succeed(loaded) : Effect.tap(load, (value) => Effect.sync(() => loaded = value))
    )
    const unavailable = (cause: Cause.Cause<unknown>) => {
      loaded = undefined // reload before the next message: memory may be ahead of or behind the database
      return Effect.zipRight(
        Effect.logWarning("PatientMonitor state unavailable", cause).pipe(Effect.annotateLogs({ patientId })),
        Effect.fail(new MonitorUnavailable({ reason: Cause.pretty(cause).split("\n")[0] ?? "unknown" }))
      )
    }
    /** Infrastructure failures become `MonitorUnavailable` (and a reload before the next message). */
    const guarded = <A, E>(effect: Effect.Effect<A, E | SqlError>) =>
      effect.pipe(
        Effect.catchIf((error): error is SqlError => error instanceof SqlError, (error) => unavailable(Cause.fail(error))),
        Effect.catchAllDefect((defect) => unavailable(Cause.die(defect)))
      ) as Effect.Effect<A, Exclude<E, SqlError> | MonitorUnavailable>
    /** Runs `f` on loaded, caught-up state. */
    const withState = <A, E>(f: (loaded: Loaded) => Effect.Effect<A, E | SqlError>) =>
      guarded(ready.pipe(
        Effect.tap((value) => value.pendingCatchUp ? catchUp(value, []) : Effect.void),
        Effect.flatMap(f)
      ))
    yield* Effect.ignore(Effect.catchAllDefect(ready, () => Effect.sync(() => loaded = undefined)))

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
          const fresh = value.caughtUp.size === 0 ? payload.readings : payload.readings.filter((reading) => !value.caughtUp.delete(reading.seq))
          forgetStale(value.caughtUp)
          // The first message after a (re)load answers the catch-up's changes with its own.
          return value.pendingCatchUp ? catchUp(value, fresh) : apply(value.state, fresh)
        })),
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
            const updated = yield* sql.withTransaction(alertRepo.transition(alert, { action: "acknowledged", by: payload.by }))
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
            const updated = yield* sql.withTransaction(Effect.zipLeft(
              alertRepo.transition(alert, { action: "resolved", by: payload.by }),
              monitors.save(patientId, state.lastSeq, counters)
            ))
            state.alerts.delete(alert.vital_sign)
            state.counters = counters
            state.unsaved = 0
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
            const updated = yield* sql.withTransaction(alertRepo.transition(alert, { action: "escalated", by: "system" }))
            state.alerts.set(updated.vital_sign, updated)
            return true
          })
        )
    })
  }),
  { disableFatalDefects: true }
)
