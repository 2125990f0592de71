/**
 * Caches of the registry's hot lookups (patient by id, device by id, threshold profile by
 * patient, ML service by id), shared by REST and gRPC. Every Vigil process listens on the `vigil_registry_changed`
 * channel, which the database's triggers notify on each update or delete (and, for threshold
 * profiles, insert: their misses are cached), so a change made by any process is dropped from
 * every process's cache. The caches cache only while those notices arrive: until the channel is
 * listened on, and from the moment the listening connection is lost until it is back, every
 * lookup goes to the database (and fails with it), and the caches start empty again. Entries also
 * expire after `REGISTRY_CACHE_TTL`.
 */
import { Config, Duration, Effect, Queue } from "effect"
import type { Device } from "../domain/Device.ts"
import type { RegisteredService } from "../domain/MlService.ts"
import type { Patient } from "../domain/Patient.ts"
import type { ThresholdProfile } from "../domain/ThresholdProfile.ts"
import { type Notice, Notifications } from "./Notifications.ts"
import { ReadCache } from "./ReadCache.ts"

export const CHANNEL = "vigil_registry_changed"

const CacheConfig = Config.all({
  capacity: Config.integer("REGISTRY_CACHE_CAPACITY").pipe(Config.withDefault(50_000)),
  ttl: Config.duration("REGISTRY_CACHE_TTL").pipe(Config.withDefault(Duration.seconds(30)))
})

export class RegistryCache extends Effect.Service<RegistryCache>()("vigil/RegistryCache", {
  scoped: Effect.gen(function*() {
    const notifications = yield* Notifications
    const { capacity, ttl } = yield* CacheConfig
    const ttlMillis = Duration.toMillis(ttl)
    const patients = new ReadCache<Patient>(capacity, ttlMillis)
    const devices = new ReadCache<Device>(capacity, ttlMillis)
    // Profiles' inserts notify too, so "no profile" is cached (the default profile's patients).
    const thresholds = new ReadCache<ThresholdProfile>(capacity, ttlMillis, { cacheMisses: true })
    const services = new ReadCache<RegisteredService>(capacity, ttlMillis)
    const byTable: Record<string, ReadCache<unknown>> = {
      patients,
      devices,
      threshold_profiles: thresholds,
      ml_services: services
    } as Record<string, ReadCache<unknown>>
    const caches = Object.values(byTable)
    for (const cache of caches) cache.suspend()
    const apply = (notice: Notice) => {
      switch (notice._tag) {
        case "Listening":
          return caches.forEach((cache) => cache.resume())
        case "Lost":
          return caches.forEach((cache) => cache.suspend())
        case "Notice": {
          const separator = notice.payload.indexOf(":")
          byTable[notice.payload.slice(0, separator)]?.invalidate(notice.payload.slice(separator + 1))
        }
      }
    }

    const notices = yield* notifications.subscribe(CHANNEL)
    // What has come already (`Listening`, when the connection is up) applies before the caches are used.
    for (const notice of yield* Queue.takeAll(notices)) apply(notice)
    yield* Queue.take(notices).pipe(Effect.map(apply), Effect.forever, Effect.interruptible, Effect.forkScoped)
    return {
      patients,
      devices,
      thresholds,
      services,
      /** `connected` while the caches hear of every change, and so cache. */
      status: () => (patients.caching ? "connected" as const : "disconnected" as const)
    } as const
  }),
  dependencies: [Notifications.Default]
}) {}
