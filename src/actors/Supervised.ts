/** A scheduled fiber's run, repeated: a failed run is logged, the next comes at the next interval. */
import { type Duration, Effect, Schedule } from "effect"

export const supervised = <R>(name: string, interval: Duration.Duration, run: Effect.Effect<void, unknown, R>) =>
  run.pipe(
    Effect.catchAllCause((cause) => Effect.logWarning(`${name} failed; retrying at the next interval`, cause)),
    Effect.repeat(Schedule.spaced(interval)),
    Effect.asVoid
  )
