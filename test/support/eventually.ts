/**
 * The one way tests wait for something to happen: `check` again (every 20 ms) until it succeeds,
 * failing with its last error after `seconds`. Never a fixed sleep. On Effect's clock: a test on
 * a `TestClock` waits for real work (a database, a server) with `TestServices.provideLive`.
 */
import { type Duration, Effect, Schedule } from "effect"

export const eventually = <A, E, R>(
  check: Effect.Effect<A, E, R>,
  seconds = 15,
  every: Duration.DurationInput = "20 millis"
): Effect.Effect<A, E, R> => Effect.retry(check, Schedule.spaced(every).pipe(Schedule.upTo(`${seconds} seconds`)))

/**
 * `eventually` for tests written with promises: `check` again (every 100 ms: these checks are
 * heavier) until it answers a value (not `undefined`), failing after `timeoutMs` with what was awaited. A `check` that throws ends the
 * wait at once, with its error.
 */
export const until = <A>(what: string, timeoutMs: number, check: () => Promise<A | undefined>): Promise<A> =>
  Effect.runPromise(
    eventually(
      Effect.flatMap(Effect.promise(check), (value) => (value === undefined ? Effect.fail(`timed out after ${timeoutMs} ms waiting for ${what}`) : Effect.succeed(value))),
      timeoutMs / 1000,
      "100 millis"
    )
  )
