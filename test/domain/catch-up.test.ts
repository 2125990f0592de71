/**
 * The catch-up's bookkeeping (`src/domain/CatchUp.ts`), run as the PatientMonitor runs it over
 * generated histories: readings stored after the saved watermark, some with their messages still
 * queued (in `seq` order), some whose messages were lost with a process. Every such reading is
 * evaluated exactly once, in `seq` order, and nothing at or below the watermark again.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { CAUGHT_UP_MEMORY_MS, type CaughtUp, leftAfterCatchUp, notCaughtUp, rememberCaughtUp } from "../../src/domain/CatchUp.ts"

interface Reading {
  readonly seq: number
}

/**
 * The monitor after a (re)load: its first message catches up from the store (pages of `page`
 * readings after the watermark) with its own readings; later messages are filtered. Answers the
 * `seq`s evaluated, in order.
 */
const run = (stored: number, watermark: number, messages: ReadonlyArray<ReadonlyArray<Reading>>, page: number, firstIsCommand: boolean) => {
  const evaluated: Array<number> = []
  const caughtUp: CaughtUp = new Map()
  let lastSeq = watermark
  let pending = true
  const apply = (readings: ReadonlyArray<Reading>) => {
    for (const reading of readings) {
      evaluated.push(reading.seq)
      lastSeq = Math.max(lastSeq, reading.seq)
    }
  }
  const catchUp = (incoming: ReadonlyArray<Reading>) => {
    const own = new Set(incoming.map((r) => r.seq))
    const start = lastSeq
    const done = new Set<number>()
    while (true) {
      const next: Array<Reading> = []
      for (let seq = lastSeq + 1; seq <= stored && next.length < page; seq++) next.push({ seq })
      if (next.length === 0) break
      for (const reading of next) done.add(reading.seq)
      rememberCaughtUp(caughtUp, next, own, 0)
      apply(next)
      if (next.length < page) break
    }
    apply(leftAfterCatchUp(incoming, done, start))
    pending = false
  }
  const deliver = (readings: ReadonlyArray<Reading>) => {
    const fresh = notCaughtUp(caughtUp, readings, 1)
    if (pending) catchUp(fresh)
    else apply(fresh)
  }
  // A snapshot or an alert command may be the first message: it catches up with nothing of its own.
  if (firstIsCommand) catchUp([])
  for (const message of messages) deliver(message)
  return { evaluated, caughtUp }
}

/** A history: `stored` readings, a watermark, and the messages still queued (some readings have none). */
const history = fc.record({
  stored: fc.integer({ min: 0, max: 60 }),
  watermarkAt: fc.double({ min: 0, max: 1, noNaN: true }),
  queued: fc.array(fc.boolean(), { maxLength: 60 }),
  cuts: fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 60 }),
  page: fc.integer({ min: 1, max: 8 }),
  firstIsCommand: fc.boolean()
}).map(({ cuts, firstIsCommand, page, queued, stored, watermarkAt }) => {
  const watermark = Math.floor(stored * watermarkAt)
  const pendingSeqs = Array.from({ length: stored - watermark }, (_, i) => watermark + 1 + i).filter((_, i) => queued[i] ?? true)
  const messages: Array<Array<Reading>> = []
  let at = 0
  for (const size of cuts) {
    if (at >= pendingSeqs.length) break
    messages.push(pendingSeqs.slice(at, at + size).map((seq) => ({ seq })))
    at += size
  }
  if (at < pendingSeqs.length) messages.push(pendingSeqs.slice(at).map((seq) => ({ seq })))
  // Something must reach the monitor: without any message it never runs (and catches up on the next).
  return { stored, watermark, messages, page, firstIsCommand: firstIsCommand || messages.length === 0 }
})

describe("catch-up", () => {
  it("evaluates every reading above the watermark exactly once, in seq order, whether its message comes or not", () => {
    fc.assert(fc.property(history, ({ firstIsCommand, messages, page, stored, watermark }) => {
      const { evaluated } = run(stored, watermark, messages, page, firstIsCommand)
      const expected = Array.from({ length: stored - watermark }, (_, i) => watermark + 1 + i)
      // Once each: sorted, they are exactly the readings above the watermark.
      expect([...evaluated].sort((a, b) => a - b)).toEqual(expected)
      // In order: the catch-up runs through the store in seq order, and queued messages bring nothing again.
      expect(evaluated).toEqual(expected)
    }))
  })

  it("remembers only readings whose messages are still to come, and forgets each when its message comes", () => {
    fc.assert(fc.property(history, ({ firstIsCommand, messages, page, stored, watermark }) => {
      const { caughtUp } = run(stored, watermark, messages, page, firstIsCommand)
      const delivered = new Set(messages.flat().map((r) => r.seq))
      // What is left is readings whose message never came (another process's, or lost).
      for (const seq of caughtUp.keys()) expect(delivered.has(seq)).toBe(false)
    }))
  })

  it("forgets remembered readings whose message has not come within the memory, oldest first", () => {
    const caughtUp: CaughtUp = new Map([[1, 0], [2, 10], [3, CAUGHT_UP_MEMORY_MS + 5]])
    expect(notCaughtUp(caughtUp, [{ seq: 9 }], CAUGHT_UP_MEMORY_MS + 10)).toEqual([{ seq: 9 }])
    expect([...caughtUp.keys()]).toEqual([3])
  })
})
