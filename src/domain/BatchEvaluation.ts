/**
 * One batch of a patient's readings run through the alert rules (`Alerting.step`), pure: from
 * the monitor's state before the batch, the alert writes the batch calls for, the rules' new
 * counters, the latest value of each sign and the watermark. The PatientMonitor actor holds the
 * state and does the writes; everything it decides is here, where property tests reach it.
 *
 * Successive updates of one alert within a batch are written once, as the last: a batch of 500
 * breaching readings is one alert write, not 500.
 */
import { type Bounds, type OpenAlert, type Rules, step, type VitalAlertState } from "./Alerting.ts"
import { type VitalSign, vitalSigns, type VitalValues } from "./VitalSign.ts"

/** The rules' state of one sign between readings (besides its open alert). */
export interface Counter {
  readonly pending: OpenAlert | null
  readonly inRange: number
}
export type Counters = Partial<Record<VitalSign, Counter>>

export interface LatestValue {
  readonly value: number
  readonly measured_at: Date
}
export type LatestValues = Partial<Record<VitalSign, LatestValue>>

/** A committed reading as the rules read it. */
export interface MonitoredReading extends VitalValues {
  /** Its place in the store: readings are evaluated in `seq` order. */
  readonly seq: number
  readonly measured_at: Date
}

export interface MonitorState {
  /** The open (or acknowledged) alert of each sign that has one. */
  readonly open: ReadonlyMap<VitalSign, OpenAlert>
  readonly counters: Counters
  readonly latest: LatestValues
  /** `seq` of the last reading evaluated. */
  readonly lastSeq: number
}

export type AlertWrite =
  | { readonly _tag: "raise"; readonly sign: VitalSign; readonly alert: OpenAlert }
  | { readonly _tag: "worsen"; readonly sign: VitalSign; readonly alert: OpenAlert }
  | { readonly _tag: "resolve"; readonly sign: VitalSign }

export interface Evaluation {
  /** The alert writes, in the order the readings called for them. */
  readonly writes: ReadonlyArray<AlertWrite>
  readonly counters: Counters
  /** Whether `counters` differ from the state's (they must then be saved). */
  readonly countersChanged: boolean
  readonly latest: LatestValues
  readonly lastSeq: number
}

export const evaluateBatch = (
  state: MonitorState,
  readings: ReadonlyArray<MonitoredReading>,
  bounds: Readonly<Record<VitalSign, Bounds>>,
  rules: Rules
): Evaluation => {
  const open = new Map<VitalSign, OpenAlert | null>()
  const counters: Record<string, Counter> = { ...state.counters }
  const latest: Record<string, LatestValue> = { ...state.latest }
  const writes: Array<AlertWrite> = []
  let countersChanged = false
  let lastSeq = state.lastSeq
  for (const reading of readings) {
    lastSeq = Math.max(lastSeq, reading.seq)
    for (const sign of vitalSigns) {
      const value = reading[sign]
      if (value === null) continue
      const seen = latest[sign]
      if (seen === undefined || seen.measured_at <= reading.measured_at) latest[sign] = { value, measured_at: reading.measured_at }
      if (!open.has(sign)) open.set(sign, state.open.get(sign) ?? null)
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
      if (transition._tag === "Raised") writes.push({ _tag: "raise", sign, alert: transition.alert })
      else if (transition._tag === "Resolved") writes.push({ _tag: "resolve", sign })
      else {
        let previous = writes.length - 1
        while (previous >= 0 && writes[previous]!.sign !== sign) previous--
        if (previous >= 0 && writes[previous]!._tag === "worsen") writes.splice(previous, 1)
        writes.push({ _tag: "worsen", sign, alert: transition.alert })
      }
    }
  }
  return { writes, counters, countersChanged, latest, lastSeq }
}
