/**
 * The ML service registry (seed 001), for every door: registrations, heartbeats and
 * deregistrations go to the service's MlService actor; reads come from the table with the beats
 * this process has seen since the last written one (`actors/LeaseBoard.ts`), so a lease reads as
 * it is here, not as it was last written. `/api/v1/health/all` answers the last probes (the
 * prober's, every ML_REGISTRY_PROBE_INTERVAL); a service not probed yet is probed before the
 * answer, and `refresh` probes them all first.
 */
import { Clock, Duration, Effect, Option } from "effect"
import { CurrentCaller } from "../domain/Access.ts"
import { callActor } from "../actors/ActorCalls.ts"
import { HealthProbes } from "../actors/HealthProbes.ts"
import { LeaseBoard } from "../actors/LeaseBoard.ts"
import { MlService } from "../actors/MlService.ts"
import { MlRegistryConfig } from "../actors/MlRegistryConfig.ts"
import { type LeaseStatus, leaseStatus, metadataView, type RegisteredService, type ServiceHealthRow, type ServiceId, type ServiceRegistration } from "../domain/MlService.ts"
import { MlServiceRepo, type ServiceQuery } from "../persistence/MlServiceRepo.ts"

/** A service as this process sees it now: its metadata with its latest heartbeat, and its lease. */
export interface ServiceView {
  readonly service: RegisteredService
  readonly metadata: ReturnType<typeof metadataView>
  readonly status: LeaseStatus
}

/** A service's last probe, and its lease as this process sees it. */
export interface ServiceHealthView {
  readonly row: ServiceHealthRow
  readonly lastHeartbeat: string | null
  readonly lease: LeaseStatus
}

export interface Search extends ServiceQuery {
  readonly status?: LeaseStatus | undefined
}

export class MlRegistry extends Effect.Service<MlRegistry>()("vigil/MlRegistry", {
  effect: Effect.gen(function*() {
    const config = yield* MlRegistryConfig
    const repo = yield* MlServiceRepo
    const board = yield* LeaseBoard
    const probes = yield* HealthProbes
    const actors = yield* MlService.client
    const timeout = Duration.toMillis(config.timeout)

    const view = (service: RegisteredService, now: number): ServiceView => {
      const later = board.laterThan(service.service_id, service.heartbeat_at)
      return {
        service,
        metadata: metadataView(service, later?.text ?? service.last_heartbeat),
        status: leaseStatus(later?.at ?? service.heartbeat_at, now, timeout)
      }
    }
    const views = (services: ReadonlyArray<RegisteredService>) =>
      Effect.map(Clock.currentTimeMillis, (now) => services.map((service) => view(service, now)))

    const register = (registration: ServiceRegistration) =>
      Effect.flatMap(CurrentCaller, ({ actor }) => callActor(actors(registration.service_id).Register({ registration, by: actor })))
    // No time limit of its own (a timer per call cost a third of a heartbeat's CPU): the actor
    // bounds what can be slow in it, its database work (`MlServiceLive.ts`).
    const heartbeat = (id: ServiceId) => callActor(actors(id).Heartbeat(), null)
    const unregister = (id: ServiceId) => Effect.flatMap(CurrentCaller, ({ actor }) => callActor(actors(id).Deregister({ by: actor })))

    /** A lookup by id: the cache's, on the hot path of every client, so no span of its own. */
    const get = (id: ServiceId) =>
      Effect.flatMap(repo.find(id), (found) =>
        Option.isNone(found) ? Effect.succeedNone : Effect.map(Clock.currentTimeMillis, (now) => Option.some(view(found.value, now))))

    const list = Effect.fn("MlRegistry.list")(function*() {
      return yield* views(yield* repo.list())
    })

    const search = Effect.fn("MlRegistry.search")(function*(query: Search) {
      const found = yield* views(yield* repo.list(query))
      return query.status === undefined ? found : found.filter((v) => v.status === query.status)
    })

    /** Registered services, and how many of them have a passing lease (the seed's `/health`). */
    const counts = Effect.fn("MlRegistry.counts")(function*() {
      const all = yield* list()
      return { registered: all.length, healthy: all.filter((v) => v.status === "passing").length }
    })

    /** Every service with its last probe and its lease as seen here; `refresh`: all probed now, first. */
    const health = Effect.fn("MlRegistry.health")(function*(refresh: boolean) {
      const stored = yield* repo.healthList()
      const due = refresh ? stored : stored.filter((row) => row.probe_status === null)
      const probed = new Map((due.length === 0 ? [] : yield* probes.probeAll(due)).map((result) => [result.serviceId as string, result]))
      if (probed.size > 0) yield* repo.recordProbes([...probed.values()])
      const rows = stored.map((row): ServiceHealthRow => {
        const result = probed.get(row.service_id)
        return result === undefined ? row : { ...row, probe_status: result.status, probe_detail: result.detail, probed_at: result.at }
      })
      const now = yield* Clock.currentTimeMillis
      return rows.map((row): ServiceHealthView => {
        const later = board.laterThan(row.service_id, row.heartbeat_at)
        return { row, lastHeartbeat: later?.text ?? row.last_heartbeat, lease: leaseStatus(later?.at ?? row.heartbeat_at, now, timeout) }
      })
    })

    return { register, heartbeat, unregister, get, list, search, counts, health } as const
  }),
  dependencies: [MlServiceRepo.Default, LeaseBoard.Default, HealthProbes.Default]
}) {}
