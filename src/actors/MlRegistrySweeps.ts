/**
 * The ML service registry's scheduled fibers, singletons of the durable cluster (one in the whole
 * cluster, on the process holding its shards), supervised (a failed run is logged, the next comes
 * at the next interval). Time comes from `Clock`.
 * - The lease sweep, every SERVICE_CHECK_INTERVAL: a passing service whose last written beat is
 *   older than SERVICE_TIMEOUT_SECONDS is critical (`service.health_changed`), unless this
 *   process has seen a later beat, which it then writes. With SERVICE_DEREGISTER_AFTER, a service
 *   critical that long is deregistered (`service.deregistered`).
 * - The prober, every ML_REGISTRY_PROBE_INTERVAL: every service's health URL, many at once
 *   (`HealthProbes.ts`); the results are what `/api/v1/health/all` answers.
 */
import * as Singleton from "@effect/cluster/Singleton"
import { Clock, Duration, Effect, Layer, Option } from "effect"
import { MlServiceRepo } from "../persistence/MlServiceRepo.ts"
import { HealthProbes } from "./HealthProbes.ts"
import { LeaseBoard } from "./LeaseBoard.ts"
import { MlRegistryConfig } from "./MlRegistryConfig.ts"
import { supervised } from "./Supervised.ts"

/** Per run: more than this waits for the next. */
const BATCH = 1000

/** One run of the lease sweep (what the singleton repeats), on the repository, the board and the settings it is given. */
export const leaseSweep = Effect.gen(function*() {
  const config = yield* Effect.orDie(MlRegistryConfig)
  const repo = yield* MlServiceRepo
  const board = yield* LeaseBoard
  return Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const cutoff = new Date(now - Duration.toMillis(config.timeout))
    const lapsing = yield* repo.lapsing(cutoff, BATCH)
    const expired = []
    for (const service of lapsing) {
      const later = board.laterThan(service.service_id, cutoff)
      if (later === undefined) expired.push(service.service_id)
      else yield* repo.writeBeat(service.service_id, later.at, later.text)
    }
    const critical = yield* repo.markCritical(expired, cutoff, new Date(now))
    if (critical.length > 0) yield* Effect.logInfo("ML services critical").pipe(Effect.annotateLogs({ services: critical.map((s) => s.service_id).join(",") }))
    if (Option.isNone(config.deregisterAfter)) return
    const before = new Date(now - Duration.toMillis(config.deregisterAfter.value))
    for (const { service_id } of yield* repo.criticalSince(before, BATCH)) {
      const removed = yield* repo.deregisterCritical(service_id, before)
      if (Option.isSome(removed)) {
        board.forget(service_id)
        yield* Effect.logInfo("ML service deregistered after being critical").pipe(Effect.annotateLogs({ service: service_id }))
      }
    }
  })
})

const leases = Layer.unwrapEffect(Effect.gen(function*() {
  const config = yield* Effect.orDie(MlRegistryConfig)
  return Singleton.make("vigil/ml-service-leases", supervised("ML service lease sweep", config.checkInterval, yield* leaseSweep))
}))

const prober = Layer.unwrapEffect(Effect.gen(function*() {
  const config = yield* Effect.orDie(MlRegistryConfig)
  const repo = yield* MlServiceRepo
  const probes = yield* HealthProbes
  const round = Effect.flatMap(repo.healthList(), probes.probeAll).pipe(Effect.flatMap(repo.recordProbes))
  return Singleton.make("vigil/ml-service-prober", supervised("ML service probe round", config.probeInterval, round))
}))

export const layer = Layer.mergeAll(leases, prober)
