/** The alert rules of `src/domain/Alerting.ts`, pinned over many generated reading sequences. */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { type Bounds, classify, initialState, type Rules, step, type Transition } from "../../src/domain/Alerting.ts"

const heartRate: Bounds = { lower: 50, upper: 110, critical_lower: 35, critical_upper: 150 }

const run = (values: ReadonlyArray<number>, bounds: Bounds, rules: Rules) => {
  let state = initialState
  const transitions: Array<{ readonly index: number; readonly transition: Transition }> = []
  values.forEach((value, index) => {
    const next = step(state, value, new Date(1_700_000_000_000 + index * 1000), bounds, rules)
    state = next.state
    if (next.transition !== null) transitions.push({ index, transition: next.transition })
  })
  return { state, transitions }
}

const inRangeValue = fc.double({ min: 50, max: 110, noNaN: true })
const anyValue = fc.oneof(inRangeValue, fc.double({ min: 0, max: 49.99, noNaN: true }), fc.double({ min: 110.01, max: 250, noNaN: true }))
const rules = fc.record({ sustained: fc.integer({ min: 1, max: 5 }), clearAfter: fc.integer({ min: 1, max: 5 }) })
const readings = fc.array(anyValue, { maxLength: 200 })

/** The `length` readings ending at `end`, checked to be all in range (or all breaches). */
const runEndingAt = (values: ReadonlyArray<number>, end: number, length: number, inRange: boolean) => {
  const run = values.slice(end - length + 1, end + 1)
  expect(run).toHaveLength(length)
  expect(run.every((v) => (classify(v, heartRate) === "normal") === inRange)).toBe(true)
}

describe("alert rules", () => {
  it("classify: inside the bounds is normal, outside is a warning, outside the critical bounds is critical", () => {
    expect(classify(80, heartRate)).toBe("normal")
    expect(classify(50, heartRate)).toBe("normal")
    expect(classify(110, heartRate)).toBe("normal")
    expect(classify(111, heartRate)).toBe("warning")
    expect(classify(40, heartRate)).toBe("warning")
    expect(classify(151, heartRate)).toBe("critical")
    expect(classify(34, heartRate)).toBe("critical")
    expect(classify(1000, {})).toBe("normal")
  })

  it("never has two open alerts for one vital sign: raises and resolves alternate", () => {
    fc.assert(fc.property(readings, rules, (values, r) => {
      let open = 0
      for (const { transition } of run(values, heartRate, r).transitions) {
        if (transition._tag === "Raised") open++
        if (transition._tag === "Resolved") open--
        if (transition._tag === "Updated") expect(open).toBe(1)
        expect(open === 0 || open === 1).toBe(true)
      }
    }))
  })

  it("raises nothing for in-range readings", () => {
    fc.assert(fc.property(fc.array(inRangeValue, { maxLength: 200 }), rules, (values, r) => {
      expect(run(values, heartRate, r).transitions).toEqual([])
    }))
  })

  it("resolves only after the hysteresis count of consecutive in-range readings", () => {
    fc.assert(fc.property(readings, rules, (values, r) => {
      for (const { index, transition } of run(values, heartRate, r).transitions) {
        if (transition._tag !== "Resolved") continue
        runEndingAt(values, index, r.clearAfter, true)
        // ...and not one reading earlier: the reading before that window was a breach.
        expect(classify(values[index - r.clearAfter]!, heartRate)).not.toBe("normal")
      }
    }))
  })

  it("raises only after the sustained count of consecutive breaches", () => {
    fc.assert(fc.property(readings, rules, (values, r) => {
      for (const { index, transition } of run(values, heartRate, r).transitions) {
        if (transition._tag !== "Raised") continue
        runEndingAt(values, index, r.sustained, false)
        expect(transition.alert.count).toBe(r.sustained)
      }
    }))
  })

  it("a repeat breach updates the open alert: count, peak furthest out, last seen, and escalation to critical", () => {
    const { state, transitions } = run([120, 130, 125, 160, 80], heartRate, { sustained: 1, clearAfter: 3 })
    expect(transitions.map((t) => t.transition._tag)).toEqual(["Raised", "Updated", "Updated", "Updated"])
    const last = transitions[3]!.transition
    expect(last).toMatchObject({ _tag: "Updated", escalated: true, alert: { severity: "critical", peak: 160, count: 4 } })
    expect(state.open).not.toBeNull()
    expect(state.inRange).toBe(1)
  })

  it("an alert raised after a sustained run keeps the run's worst reading, severity and first time", () => {
    const { transitions } = run([160, 120, 115], heartRate, { sustained: 3, clearAfter: 1 })
    expect(transitions).toHaveLength(1)
    const raised = transitions[0]!.transition
    expect(raised).toMatchObject({ _tag: "Raised", alert: { severity: "critical", peak: 160, count: 3 } })
    expect(raised.alert.first_seen).toEqual(new Date(1_700_000_000_000))
    expect(raised.alert.last_seen).toEqual(new Date(1_700_000_002_000))
  })

  it("a breach during hysteresis restarts the in-range count", () => {
    const { transitions } = run([120, 80, 80, 120, 80, 80, 80], heartRate, { sustained: 1, clearAfter: 3 })
    expect(transitions.map((t) => `${t.index}:${t.transition._tag}`)).toEqual(["0:Raised", "3:Updated", "6:Resolved"])
  })

  it("an in-range reading resets the sustained count", () => {
    const { transitions } = run([120, 120, 80, 120, 120, 120], heartRate, { sustained: 3, clearAfter: 1 })
    expect(transitions.map((t) => `${t.index}:${t.transition._tag}`)).toEqual(["5:Raised"])
  })
})
