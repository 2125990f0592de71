/**
 * The threshold alerting rules, pure: how one vital sign's readings raise, update and resolve an
 * alert for one patient. The PatientMonitor actor keeps one `VitalAlertState` per vital sign and
 * feeds it each reading in order; everything here is deterministic, so the rules are pinned by
 * property tests rather than by examples alone.
 *
 * - A reading outside `[lower, upper]` is a warning breach; outside `[critical_lower,
 *   critical_upper]` a critical one. Bounds left out do not constrain.
 * - An alert is raised only after `sustained` consecutive breaching readings (1: at once).
 * - While an alert is open, a further breach updates it (count, peak, last seen) and may raise its
 *   severity to critical; it never opens a second alert for the same vital sign.
 * - It resolves itself after `clearAfter` consecutive in-range readings (hysteresis); a breach in
 *   between starts the count again.
 */
import { Schema } from "effect"

export const Severity = Schema.Literal("warning", "critical")
export type Severity = typeof Severity.Type

export interface Bounds {
  readonly lower?: number | undefined
  readonly upper?: number | undefined
  readonly critical_lower?: number | undefined
  readonly critical_upper?: number | undefined
}

export interface Rules {
  /** Consecutive breaching readings before an alert is raised (at least 1). */
  readonly sustained: number
  /** Consecutive in-range readings before an open alert resolves itself (at least 1). */
  readonly clearAfter: number
}

export type Classification = "normal" | Severity

/** Where a value stands against its bounds; a critical bound wins over a warning one. */
export const classify = (value: number, bounds: Bounds): Classification => {
  if (
    (bounds.critical_lower !== undefined && value < bounds.critical_lower) ||
    (bounds.critical_upper !== undefined && value > bounds.critical_upper)
  ) return "critical"
  if ((bounds.lower !== undefined && value < bounds.lower) || (bounds.upper !== undefined && value > bounds.upper)) {
    return "warning"
  }
  return "normal"
}

/** How far outside the normal range a value lies (0 inside it): what makes one breach worse than another. */
export const deviation = (value: number, bounds: Bounds): number =>
  Math.max(
    bounds.lower !== undefined ? bounds.lower - value : 0,
    bounds.upper !== undefined ? value - bounds.upper : 0,
    0
  )

export interface OpenAlert {
  readonly severity: Severity
  /** The reading furthest outside the range so far. */
  readonly peak: number
  readonly count: number
  readonly first_seen: Date
  readonly last_seen: Date
}

export interface VitalAlertState {
  readonly open: OpenAlert | null
  /**
   * The run of consecutive breaches not yet raised (the "sustained" rule), gathered as the alert
   * it will become: raised, it keeps the run's worst reading and its first time. Never set while
   * an alert is open.
   */
  readonly pending: OpenAlert | null
  /** Consecutive in-range readings, counted while an alert is open (hysteresis). */
  readonly inRange: number
}

export const initialState: VitalAlertState = { open: null, pending: null, inRange: 0 }

export type Transition =
  | { readonly _tag: "Raised"; readonly alert: OpenAlert }
  | { readonly _tag: "Updated"; readonly alert: OpenAlert; readonly escalated: boolean }
  | { readonly _tag: "Resolved"; readonly alert: OpenAlert }

export interface Step {
  readonly state: VitalAlertState
  readonly transition: Transition | null
}

/** `alert` (open or pending) after one more breaching reading; a new one when there is none. */
const worsen = (alert: OpenAlert | null, level: Severity, value: number, at: Date, bounds: Bounds): OpenAlert =>
  alert === null
    ? { severity: level, peak: value, count: 1, first_seen: at, last_seen: at }
    : {
      severity: alert.severity === "critical" || level === "critical" ? "critical" : "warning",
      peak: deviation(value, bounds) > deviation(alert.peak, bounds) ? value : alert.peak,
      count: alert.count + 1,
      first_seen: alert.first_seen,
      last_seen: at
    }

/** Applies one reading of one vital sign. */
export const step = (state: VitalAlertState, value: number, at: Date, bounds: Bounds, rules: Rules): Step => {
  const level = classify(value, bounds)
  const open = state.open
  if (level === "normal") {
    if (open === null) return { state: state.pending === null ? state : initialState, transition: null }
    const inRange = state.inRange + 1
    if (inRange >= Math.max(1, rules.clearAfter)) return { state: initialState, transition: { _tag: "Resolved", alert: open } }
    return { state: { open, pending: null, inRange }, transition: null }
  }
  if (open !== null) {
    const alert = worsen(open, level, value, at, bounds)
    return {
      state: { open: alert, pending: null, inRange: 0 },
      transition: { _tag: "Updated", alert, escalated: alert.severity !== open.severity }
    }
  }
  const pending = worsen(state.pending, level, value, at, bounds)
  if (pending.count < Math.max(1, rules.sustained)) return { state: { open: null, pending, inRange: 0 }, transition: null }
  return { state: { open: pending, pending: null, inRange: 0 }, transition: { _tag: "Raised", alert: pending } }
}
