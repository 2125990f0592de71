/**
 * Caches of the registry's hot lookups (patient by id, device by id, threshold profile by
 * patient), shared by REST and gRPC. Every Vigil process listens on the `vigil_registry_changed`
 * channel, which the database's triggers notify on each update or delete (and, for threshold
 * profiles, insert: their misses are cached), so a change made by any
 * process is dropped from every process's cache. If the listening connection is lost, the caches
 * are cleared on reconnect (notices may have been missed); entries also expire after
 * `REGISTRY_CACHE_TTL`, which bounds staleness should a notice ever be lost.
 */
import { PgClient } from "@effect/sql-pg"
import { Config, Duration, Effect, Schedule, Stream } from "effect"
import type { Device } from "../domain/Device.ts"
import type { Patient } from "../domain/Patient.ts"
import type { ThresholdProfile } from "../domain/ThresholdProfile.ts"
import { ReadCache } from "./ReadCache.ts"

export const CHANNEL = "vigil_registry_changed"

const CacheConfig = Config.all({
  capacity: Config.integer("REGISTRY_CACHE_CAPACITY").pipe(Config.withDefault(50_000)),
  ttl: Config.duration("REGISTRY_CACHE_TTL").pipe(Config.withDefault(Duration.seconds(30)))
})

export class RegistryCache extends Effect.Service<RegistryCache>()("vigil/RegistryCache", {
  scoped: Effect.gen(function*() {
    const pg = yield* PgClient.PgClient
    const { capacity, ttl } = yield* CacheConfig
    const ttlMillis = Duration.toMillis(ttl)
    const patients = new ReadCache<Patient>(capacity, ttlMillis)
    const devices = new ReadCache<Device>(capacity, ttlMillis)
    // Profiles' inserts notify too, so "no profile" is cached (the default profile's patients).
    const thresholds = new ReadCache<ThresholdProfile>(capacity, ttlMillis, { cacheMisses: true })
    const byTable: Record<string, ReadCache<unknown>> = {
      patients,
      devices,
      threshold_profiles: thresholds
    } as Record<string, ReadCache<unknown>>
    const clearAll = () => Object.values(byTable).forEach((cache) => cache.clear())
    const onNotice = (payload: string) => {
      const separator = payload.indexOf(":")
      const cache = byTable[payload.slice(0, separator)]
      if (cache === undefined) return
      cache.invalidate(payload.slice(separator + 1))
    }

    yield* Effect.sync(clearAll).pipe(
      Effect.zipRight(pg.listen(CHANNEL).pipe(Stream.runForEach((payload) => Effect.sync(() => onNotice(payload))))),
      Effect.tapErrorCause((cause) => Effect.logWarning("registry cache listener lost; caches cleared, retrying", cause)),
      Effect.retry(Schedule.exponential("200 millis").pipe(Schedule.union(Schedule.spaced("10 seconds")))),
      Effect.interruptible,
      Effect.forkScoped
    )
    return { patients, devices, thresholds } as const
  })
}) {}
