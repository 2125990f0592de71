/**
 * The catch-up's bookkeeping, without I/O: which readings a PatientMonitor evaluates after it
 * (re)loads, so that every stored reading above its saved watermark is evaluated exactly once, in
 * `seq` order, whether its own message is still queued, was lost with a process, or never comes.
 *
 * On its first message after a load, the monitor evaluates every reading stored after the saved
 * watermark (`pages` from the store, in `seq` order) together with that message's own readings.
 * Readings of other messages still queued are remembered (`CaughtUp`), so those messages do not
 * evaluate them again. A remembered reading whose message never comes (another process's) is
 * forgotten after `CAUGHT_UP_MEMORY_MS`.
 *
 * Limit: the watermark is a `seq`. A reading whose transaction committed after one with a higher
 * `seq` had been evaluated, and whose own evaluation was then lost with the process, is below the
 * watermark and not caught up. NATS ingest draws each batch's `seq`s in the order it takes the
 * batches and evaluates them in that order, so this takes concurrent writers and a crash between.
 */

/** How long a caught-up reading's own message may still come. */
export const CAUGHT_UP_MEMORY_MS = 60_000

/** Readings a catch-up evaluated on behalf of messages still queued: `seq` → when (ms). Insertion order is time order. */
export type CaughtUp = Map<number, number>

interface Sequenced {
  readonly seq: number
}

/** A message's readings that no catch-up has evaluated; forgets the ones it finds and the entries too old to be waited for. */
export const notCaughtUp = <R extends Sequenced>(caughtUp: CaughtUp, readings: ReadonlyArray<R>, now: number): ReadonlyArray<R> => {
  const fresh = caughtUp.size === 0 ? readings : readings.filter((reading) => !caughtUp.delete(reading.seq))
  const horizon = now - CAUGHT_UP_MEMORY_MS
  for (const [seq, at] of caughtUp) {
    if (at > horizon) break
    caughtUp.delete(seq)
  }
  return fresh
}

/** One page of the catch-up, about to be evaluated: remembers its readings that belong to other messages. */
export const rememberCaughtUp = (
  caughtUp: CaughtUp,
  page: ReadonlyArray<Sequenced>,
  own: ReadonlySet<number>,
  now: number
): void => {
  for (const reading of page) if (!own.has(reading.seq)) caughtUp.set(reading.seq, now)
}

/** The message's own readings the catch-up did not evaluate, above the watermark it started from. */
export const leftAfterCatchUp = <R extends Sequenced>(
  incoming: ReadonlyArray<R>,
  evaluated: ReadonlySet<number>,
  watermark: number
): ReadonlyArray<R> => incoming.filter((reading) => !evaluated.has(reading.seq) && reading.seq > watermark)
