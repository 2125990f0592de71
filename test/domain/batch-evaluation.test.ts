/** A patient's batch of readings through the rules (`src/domain/BatchEvaluation.ts`), pinned over generated batches. */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { type Bounds, initialState, type OpenAlert, step, type Transition } from "../../src/domain/Alerting.ts"
import { type AlertWrite, evaluateBatch, type MonitoredReading, type MonitorState } from "../../src/domain/BatchEvaluation.ts"
import { noVitalValues, perVitalSign, type VitalSign } from "../../src/domain/VitalSign.ts"

const bounds: Readonly<Record<VitalSign, Bounds>> = perVitalSign((sign) =>
  sign === "heart_rate" ? { lower: 50, upper: 110, critical_lower: 40, critical_upper: 130 } : sign === "spo2" ? { lower: 94, critical_lower: 90 } : {}
)
const empty: MonitorState = { open: new Map(), counters: {}, latest: {}, lastSeq: 0 }

const value = (min: number, max: number) => fc.option(fc.double({ min, max, noNaN: true }), { nil: null, freq: 3 })
/** Readings in `seq` order; times in any order (a device may upload late). */
const readingsArb = fc.array(fc.record({ heart_rate: value(20, 160), spo2: value(80, 100), gap: fc.integer({ min: 1, max: 3 }), at: fc.integer({ min: 0, max: 10_000 }) }), { maxLength: 80 })
  .map((rows) => {
    let seq = 0
    return rows.map((row): MonitoredReading => ({
      ...noVitalValues,
      heart_rate: row.heart_rate,
      spo2: row.spo2,
      seq: (seq += row.gap),
      measured_at: new Date(1_700_000_000_000 + row.at * 1000)
    }))
  })
const rulesArb = fc.record({ sustained: fc.integer({ min: 1, max: 4 }), clearAfter: fc.integer({ min: 1, max: 4 }) })

/** The state after `writes`, as the monitor keeps it. */
const applyWrites = (state: MonitorState, evaluation: ReturnType<typeof evaluateBatch>): MonitorState => {
  const open = new Map<VitalSign, OpenAlert>(state.open)
  for (const write of evaluation.writes) {
    if (write._tag === "resolve") open.delete(write.sign)
    else open.set(write.sign, write.alert)
  }
  return { open, counters: evaluation.counters, latest: evaluation.latest, lastSeq: evaluation.lastSeq }
}

/** Raises and resolves in order, per sign: what must not depend on how readings are batched. */
const lifecycle = (writes: ReadonlyArray<AlertWrite>) => writes.filter((write) => write._tag !== "worsen").map((write) => `${write._tag}:${write.sign}`)

describe("batch evaluation", () => {
  it("writes what the rules decide reading by reading: every raise and resolve, and an alert's updates as its last one", () => {
    fc.assert(fc.property(readingsArb, rulesArb, (readings, rules) => {
      const { writes } = evaluateBatch(empty, readings, bounds, rules)
      for (const sign of ["heart_rate", "spo2"] as const) {
        let state = initialState
        const transitions: Array<Transition> = []
        for (const reading of readings) {
          const v = reading[sign]
          if (v === null) continue
          const next = step(state, v, reading.measured_at, bounds[sign], rules)
          state = next.state
          if (next.transition !== null) transitions.push(next.transition)
        }
        // Runs of updates collapse to their last; raises and resolves stay as they come.
        const expected: Array<string> = []
        transitions.forEach((t, i) => {
          if (t._tag === "Updated" && transitions[i + 1]?._tag === "Updated") return
          expected.push(t._tag === "Raised" ? "raise" : t._tag === "Resolved" ? "resolve" : "worsen")
        })
        expect(writes.filter((w) => w.sign === sign).map((w) => w._tag)).toEqual(expected)
        const lastUpdate = [...transitions].reverse().find((t) => t._tag !== "Resolved")
        const lastWrite = [...writes].reverse().find((w) => w.sign === sign && w._tag !== "resolve")
        if (lastUpdate !== undefined && lastWrite !== undefined && lastWrite._tag !== "resolve") expect(lastWrite.alert).toEqual(lastUpdate.alert)
      }
    }))
  })

  it("ends in the same state, with the same raises and resolves, however the readings are split into batches", () => {
    fc.assert(fc.property(readingsArb, rulesArb, fc.nat(), (readings, rules, cut) => {
      const at = readings.length === 0 ? 0 : cut % (readings.length + 1)
      const whole = evaluateBatch(empty, readings, bounds, rules)
      const first = evaluateBatch(empty, readings.slice(0, at), bounds, rules)
      const second = evaluateBatch(applyWrites(empty, first), readings.slice(at), bounds, rules)
      expect(lifecycle([...first.writes, ...second.writes])).toEqual(lifecycle(whole.writes))
      const split = applyWrites(applyWrites(empty, first), second)
      const together = applyWrites(empty, whole)
      expect(split.counters).toEqual(together.counters)
      expect(split.latest).toEqual(together.latest)
      expect(split.lastSeq).toBe(together.lastSeq)
      expect([...split.open]).toEqual([...together.open])
    }))
  })

  it("keeps each sign's latest value by measurement time, and the watermark at the highest seq", () => {
    fc.assert(fc.property(readingsArb, rulesArb, (readings, rules) => {
      const evaluation = evaluateBatch({ ...empty, lastSeq: 1 }, readings, bounds, rules)
      expect(evaluation.lastSeq).toBe(Math.max(1, ...readings.map((r) => r.seq)))
      for (const sign of ["heart_rate", "spo2"] as const) {
        const measured = readings.filter((r) => r[sign] !== null)
        if (measured.length === 0) {
          expect(evaluation.latest[sign]).toBeUndefined()
          continue
        }
        const newest = Math.max(...measured.map((r) => r.measured_at.getTime()))
        expect(evaluation.latest[sign]!.measured_at.getTime()).toBe(newest)
        // Of readings measured at the same moment, the one stored last wins.
        expect(evaluation.latest[sign]!.value).toBe(measured.filter((r) => r.measured_at.getTime() === newest).at(-1)![sign])
      }
    }))
  })

  it("writes nothing and leaves the counters as they were for in-range readings with nothing open", () => {
    const normal = fc.array(fc.double({ min: 60, max: 100, noNaN: true }), { maxLength: 50 }).map((values) =>
      values.map((hr, i): MonitoredReading => ({ ...noVitalValues, heart_rate: hr, seq: i + 1, measured_at: new Date(i * 1000) })))
    fc.assert(fc.property(normal, rulesArb, (readings, rules) => {
      const evaluation = evaluateBatch(empty, readings, bounds, rules)
      expect(evaluation.writes).toEqual([])
      expect(evaluation.countersChanged).toBe(false)
    }))
  })
})
