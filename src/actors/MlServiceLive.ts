/**
 * The MlService actor's behaviour. Its state is when the lease's beat was last written (loaded
 * from the table when it activates) and whether the service exists; every beat is recorded on the
 * process's `LeaseBoard` and written when the written one is a lease fraction old, or when the
 * lease is critical (so that it is passing again at once, with its event). A beat that finds the
 * service gone (deregistered by another process, or by the sweep) answers not found from then on.
 * Its database work is time-limited here (CALL_TIMEOUT, then `Unavailable`), so its callers need
 * no timer of their own on every heartbeat; a beat whose write fails so is taken all the same. Time comes from `Clock`.
 */
import * as Entity from "@effect/cluster/Entity"
import { Clock, Duration, Effect, Layer, Option } from "effect"
import { ActorConfig } from "./ActorConfig.ts"
import { Unavailable } from "../domain/Errors.ts"
import type { ServiceId } from "../domain/MlService.ts"
import { MlServiceRepo } from "../persistence/MlServiceRepo.ts"
import { CALL_TIMEOUT } from "./ActorCalls.ts"
import { LeaseBoard } from "./LeaseBoard.ts"
import { MlService, ServiceNotFound } from "./MlService.ts"
import { leaseFraction, MlRegistryConfig } from "./MlRegistryConfig.ts"

interface Lease {
  /** When the lease's beat was last written (by this actor, or as it was when loaded). */
  readonly written: number
  readonly critical: boolean
}

// Their own idle time: the cluster's default is the durable entities' (DurableCluster.ts).
export const layer = Layer.unwrapEffect(Effect.map(Effect.orDie(ActorConfig), ({ maxIdleTime }) => MlService.toLayer(
  Effect.gen(function*() {
    const address = yield* Entity.CurrentAddress
    const repo = yield* MlServiceRepo
    const board = yield* LeaseBoard
    const config = yield* Effect.orDie(MlRegistryConfig)
    const fraction = Duration.toMillis(leaseFraction(config))
    // Entity ids are service ids the doors have decoded already.
    const id = String(address.entityId) as ServiceId
    const notFound = new ServiceNotFound({ serviceId: id })
    let lease: Lease | undefined

    const bounded = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.timeoutFail(effect, { duration: CALL_TIMEOUT, onTimeout: () => new Unavailable({ reason: "the database did not answer in time" }) })

    const gone = Effect.suspend(() => {
      lease = undefined
      board.forget(id)
      return Effect.fail(notFound)
    })

    const loaded = Effect.gen(function*() {
      if (lease !== undefined) return lease
      const service = yield* bounded(repo.find(id))
      if (Option.isNone(service)) return yield* gone
      lease = { written: service.value.heartbeat_at.getTime(), critical: service.value.lease_status === "critical" }
      return lease
    })

    // The last beat, if this actor has not written it.
    yield* Effect.addFinalizer(() => {
      const last = lease === undefined ? undefined : board.laterThan(id, new Date(lease.written))
      return last === undefined
        ? Effect.void
        : bounded(repo.writeBeat(id, last.at, last.text)).pipe(Effect.catchAllCause((cause) => Effect.logWarning("last heartbeat not written", cause)))
    })

    return MlService.of({
      Register: ({ payload }) =>
        Effect.gen(function*() {
          const now = new Date(yield* Clock.currentTimeMillis)
          const service = yield* bounded(repo.register(payload.registration, now, payload.by))
          lease = { written: now.getTime(), critical: false }
          board.forget(id)
          return service
        }),
      Heartbeat: () =>
        Effect.gen(function*() {
          const current = yield* loaded.pipe(Effect.catchTag("DataRefused", Effect.die))
          const at = new Date(yield* Clock.currentTimeMillis)
          const text = at.toISOString()
          board.record(id, { at, text })
          if (current.critical || at.getTime() - current.written >= fraction) {
            // The database down, the beat is still taken: it is on the board (this process reads
            // it), and the next beat, or the actor's end, writes it.
            const written = yield* bounded(repo.writeBeat(id, at, text)).pipe(
              Effect.catchTag("DataRefused", Effect.die),
              Effect.catchTag("Unavailable", (error) => Effect.as(Effect.logWarning("heartbeat not written yet", error.reason), undefined))
            )
            if (written === undefined) return text
            if (Option.isNone(written)) return yield* gone
            lease = { written: at.getTime(), critical: false }
          }
          return text
        }),
      Deregister: ({ payload }) =>
        Effect.gen(function*() {
          const removed = yield* bounded(repo.remove(id, payload.by)).pipe(Effect.catchTag("DataRefused", Effect.die))
          lease = undefined
          board.forget(id)
          return yield* Option.match(removed, { onNone: () => Effect.fail(notFound), onSome: Effect.succeed })
        })
    })
  }),
  { disableFatalDefects: true, maxIdleTime }
)))
