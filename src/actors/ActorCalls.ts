/**
 * An actor call as its callers see it: the cluster's own failures (a full mailbox, a message
 * already in process, its storage) and no answer within `timeout` become `Unavailable`, so the
 * doors answer 503 and never wait past the time limit. An actor's defect stays a defect. Callers
 * that make many calls at once bound them together instead (`timeout: null`): a timer per call
 * doubled a call's CPU (130 -> 270 us).
 */
import { Duration, Effect } from "effect"
import { Unavailable } from "../domain/Errors.ts"

export const CALL_TIMEOUT = Duration.seconds(10)

/** The cluster's own errors (`@effect/cluster/ClusterError`) that a call may fail with. */
const CLUSTER_FAILURES = ["MailboxFull", "AlreadyProcessingMessage", "PersistenceError", "EntityNotAssignedToRunner", "RunnerUnavailable"] as const

type ClusterFailure = { readonly _tag: typeof CLUSTER_FAILURES[number] }

const isClusterFailure = (error: unknown): error is ClusterFailure =>
  typeof error === "object" && error !== null && (CLUSTER_FAILURES as ReadonlyArray<unknown>).includes((error as { _tag?: unknown })._tag)

export const callActor = <A, E, R>(
  call: Effect.Effect<A, E, R>,
  timeout: Duration.DurationInput | null = CALL_TIMEOUT
): Effect.Effect<A, Exclude<E, ClusterFailure> | Unavailable, R> => {
  const mapped = Effect.catchIf(call, isClusterFailure, (error) =>
    Effect.fail(new Unavailable({ reason: `the actor cannot take the message (${error._tag})` })))
  return (timeout === null
    ? mapped
    : Effect.timeoutFail(mapped, { duration: timeout, onTimeout: () => new Unavailable({ reason: "the actor did not answer in time" }) })) as Effect.Effect<
      A,
      Exclude<E, ClusterFailure> | Unavailable,
      R
    >
}
