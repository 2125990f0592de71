/**
 * SQL for the ML service registry (seed 001): registrations (an upsert that keeps the service's
 * place in the list), the lease's beats as the RegisteredService actor writes them (at most once per lease
 * fraction), lease expiry and deregistration for the sweep, and probe results. Every change of a
 * service is an event and an audit row: `service.registered`, `service.deregistered`,
 * `service.health_changed` (its lease or its probe changed status). Beats themselves are not.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Option, Schema } from "effect"
import type { DataRefused, Unavailable } from "../domain/Errors.ts"
import { type LeaseStatus, metadataView, RegisteredService, type ProbeStatus, type ServiceId, ServiceHealthRow, type ServiceRegistration } from "../domain/MlService.ts"
import { type Change, ChangeLog } from "./ChangeLog.ts"
import { RegistryCache } from "./RegistryCache.ts"
import { classified } from "./SqlErrors.ts"

const decodeServices = Schema.decodeUnknown(Schema.Array(RegisteredService))
const decodeHealthRows = Schema.decodeUnknown(Schema.Array(ServiceHealthRow))

/** What a service's events and audit records carry: its metadata, lease and last probe. */
export const serviceRecord = (service: RegisteredService) => ({
  ...metadataView(service),
  lease_status: service.lease_status,
  critical_since: service.critical_since,
  probe_status: service.probe_status,
  probed_at: service.probed_at
})

const change = (action: string, before: RegisteredService | null, after: RegisteredService | null, extra: object = {}): Change => ({
  entityType: "service",
  entityId: (after ?? before)!.service_id,
  action,
  before: before === null ? null : serviceRecord(before),
  after: after === null ? null : { ...serviceRecord(after), ...extra }
})

export interface ServiceQuery {
  readonly tags: ReadonlyArray<string>
  readonly match: "any" | "all"
  /** Text in the name or the description, in any case. */
  readonly text?: string | undefined
}

export interface ProbeResult {
  readonly serviceId: ServiceId
  readonly status: ProbeStatus
  readonly detail: string
  readonly at: Date
}

const containing = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`

export class MlServiceRepo extends Effect.Service<MlServiceRepo>()("vigil/MlServiceRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const changes = yield* ChangeLog
    const { services: cache } = yield* RegistryCache
    /** After a change here, this process reads it at once (other processes when its notice comes). */
    const dropping = <A, E, R>(effect: Effect.Effect<A, E, R>, ids: ReadonlyArray<string>) =>
      Effect.ensuring(effect, Effect.sync(() => ids.forEach((id) => cache.invalidate(id))))

    const lock = (id: ServiceId) =>
      sql`SELECT * FROM ml_services WHERE service_id = ${id} FOR UPDATE`.pipe(Effect.flatMap(decodeServices), Effect.map((rows) => rows[0]))

    /**
     * Registers or replaces the service's metadata (a new place at the end of the list only the
     * first time), with a fresh lease beginning `now` and its probe to come.
     */
    /** `actor`: who registers it, for the audit (the caller's, though an actor writes it). */
    const register = Effect.fn("MlServiceRepo.register")(function*(input: ServiceRegistration, now: Date, actor?: string) {
      return yield* changes.transaction(Effect.gen(function*() {
        const before = yield* lock(input.service_id)
        const fields = {
          service_id: input.service_id,
          service_name: input.service_name,
          version: input.version,
          description: input.description,
          base_url: input.base_url,
          port: input.port,
          endpoints: JSON.stringify(input.endpoints),
          input_schema: JSON.stringify(input.input_schema),
          output_schema: JSON.stringify(input.output_schema),
          capabilities: input.capabilities === null ? null : JSON.stringify(input.capabilities),
          registered_at: input.registered_at ?? now.toISOString(),
          last_heartbeat: input.last_heartbeat
        }
        const [service] = yield* sql`
          INSERT INTO ml_services (service_id, service_name, version, description, base_url, port, endpoints, input_schema,
                                   output_schema, tags, capabilities, registered_at, last_heartbeat, heartbeat_at)
          VALUES (${fields.service_id}, ${fields.service_name}, ${fields.version}, ${fields.description}, ${fields.base_url},
                  ${fields.port}, ${fields.endpoints}::jsonb, ${fields.input_schema}::jsonb, ${fields.output_schema}::jsonb,
                  ${[...input.tags]}::text[], ${fields.capabilities}::jsonb, ${fields.registered_at}, ${fields.last_heartbeat}, ${now})
          ON CONFLICT (service_id) DO UPDATE SET
            service_name = EXCLUDED.service_name, version = EXCLUDED.version, description = EXCLUDED.description,
            base_url = EXCLUDED.base_url, port = EXCLUDED.port, endpoints = EXCLUDED.endpoints,
            input_schema = EXCLUDED.input_schema, output_schema = EXCLUDED.output_schema, tags = EXCLUDED.tags,
            capabilities = EXCLUDED.capabilities, registered_at = EXCLUDED.registered_at,
            last_heartbeat = EXCLUDED.last_heartbeat, heartbeat_at = EXCLUDED.heartbeat_at,
            lease_status = 'passing', critical_since = NULL, probe_status = NULL, probe_detail = NULL, probed_at = NULL,
            updated_at = now()
          RETURNING *`.pipe(Effect.flatMap(decodeServices))
        yield* changes.record(change("registered", before ?? null, service!), actor === undefined ? {} : { actor })
        return service!
      }))
    }, (effect, input) => dropping(effect, [input.service_id]), classified)

    const load = (id: ServiceId) =>
      sql`SELECT * FROM ml_services WHERE service_id = ${id}`.pipe(
        Effect.flatMap(decodeServices),
        Effect.map((rows) => Option.fromNullable(rows[0])),
        classified,
        Effect.withSpan("MlServiceRepo.find")
      )

    /** The service by id, from the cache when it holds it (a hit is a map lookup: no span). */
    const find = (id: ServiceId): Effect.Effect<Option.Option<RegisteredService>, Unavailable | DataRefused> => cache.getOrLoad(id, () => load(id))

    /** Every service, or those matching `query`, in registration order. */
    const list = Effect.fn("MlServiceRepo.list")(function*(query?: ServiceQuery) {
      const conditions = query === undefined ? [] : [
        ...(query.tags.length === 0 ? [] : [query.match === "all" ? sql`tags @> ${[...query.tags]}::text[]` : sql`tags && ${[...query.tags]}::text[]`]),
        ...(query.text === undefined ? [] : [sql`(service_name ILIKE ${containing(query.text)} OR description ILIKE ${containing(query.text)})`])
      ]
      return yield* sql`SELECT * FROM ml_services WHERE ${sql.and(conditions)} ORDER BY position`.pipe(Effect.flatMap(decodeServices))
    }, classified)

    /**
     * Every service's health (`ServiceHealthRow`), in registration order: the probes' route reads
     * this for all services on every call, so not their schemas and metadata.
     */
    const healthList = Effect.fn("MlServiceRepo.healthList")(function*() {
      return yield* sql`
        SELECT service_id, service_name, base_url, jsonb_strip_nulls(jsonb_build_object('health', endpoints->'health')) AS endpoints,
               last_heartbeat, heartbeat_at, probe_status, probe_detail, probed_at
        FROM ml_services ORDER BY position`.pipe(Effect.flatMap(decodeHealthRows))
    }, classified)

    /** Removes the service; `None` when it is not registered. */
    const remove = Effect.fn("MlServiceRepo.remove")(function*(id: ServiceId, actor?: string) {
      return yield* changes.transaction(Effect.gen(function*() {
        const [removed] = yield* sql`DELETE FROM ml_services WHERE service_id = ${id} RETURNING *`.pipe(Effect.flatMap(decodeServices))
        if (removed === undefined) return Option.none<RegisteredService>()
        yield* changes.record(change("deregistered", removed, null), actor === undefined ? {} : { actor })
        return Option.some(removed)
      }))
    }, (effect, id) => dropping(effect, [id]), classified)

    /**
     * The lease's beat at `at` (never moving it back: another process may have written a later
     * one), and `lastHeartbeat`, the metadata's field; a critical lease is passing again, with an
     * event. `None` when the service is not registered (any more).
     */
    const writeBeat = Effect.fn("MlServiceRepo.writeBeat")(function*(id: ServiceId, at: Date, lastHeartbeat: string) {
      return yield* changes.transaction(Effect.gen(function*() {
        const rows = yield* sql<{ readonly was: LeaseStatus; readonly was_critical_since: Date | null }>`
          UPDATE ml_services s SET heartbeat_at = GREATEST(s.heartbeat_at, ${at}), last_heartbeat = ${lastHeartbeat},
                 lease_status = 'passing', critical_since = NULL, updated_at = now()
          FROM (SELECT service_id, lease_status, critical_since FROM ml_services WHERE service_id = ${id} FOR UPDATE) AS before
          WHERE s.service_id = before.service_id
          RETURNING s.*, before.lease_status AS was, before.critical_since AS was_critical_since`
        if (rows.length === 0) return Option.none<RegisteredService>()
        const [service] = yield* decodeServices(rows)
        if (rows[0]!.was === "critical") {
          const before = { ...service!, lease_status: "critical" as const, critical_since: rows[0]!.was_critical_since }
          yield* changes.record(change("health_changed", before as RegisteredService, service!, { changed: "lease" }))
        }
        return Option.some(service!)
      }))
    }, (effect, id) => dropping(effect, [id]), classified)

    /** Passing services whose last written beat is not after `cutoff`: the leases that may have run out. */
    const lapsing = Effect.fn("MlServiceRepo.lapsing")(function*(cutoff: Date, limit: number) {
      return yield* sql<{ service_id: ServiceId; heartbeat_at: Date }>`
        SELECT service_id, heartbeat_at FROM ml_services WHERE lease_status = 'passing' AND heartbeat_at <= ${cutoff}
        ORDER BY heartbeat_at LIMIT ${limit}`
    }, classified)

    /** These leases ran out (`since`: when): critical, each with an event, unless a later beat was written meanwhile. */
    const markCritical = Effect.fn("MlServiceRepo.markCritical")(function*(ids: ReadonlyArray<ServiceId>, cutoff: Date, since: Date) {
      if (ids.length === 0) return []
      return yield* changes.transaction(Effect.gen(function*() {
        const critical = yield* sql`
          UPDATE ml_services SET lease_status = 'critical', critical_since = ${since}, updated_at = now()
          WHERE service_id = ANY(${[...ids]}::text[]) AND lease_status = 'passing' AND heartbeat_at <= ${cutoff}
          RETURNING *`.pipe(Effect.flatMap(decodeServices))
        yield* changes.recordAll(critical.map((service) =>
          change("health_changed", { ...service, lease_status: "passing", critical_since: null } as RegisteredService, service, { changed: "lease" })))
        return critical
      }))
    }, (effect, ids) => dropping(effect, ids), classified)

    /** Services critical since before `before`. */
    const criticalSince = Effect.fn("MlServiceRepo.criticalSince")(function*(before: Date, limit: number) {
      return yield* sql<{ service_id: ServiceId }>`
        SELECT service_id FROM ml_services WHERE lease_status = 'critical' AND critical_since < ${before} ORDER BY critical_since LIMIT ${limit}`
    }, classified)

    /** Deregisters a service critical since before `before` (checked again here), with an event; `None` otherwise. */
    const deregisterCritical = Effect.fn("MlServiceRepo.deregisterCritical")(function*(id: ServiceId, before: Date) {
      return yield* changes.transaction(Effect.gen(function*() {
        const [removed] = yield* sql`
          DELETE FROM ml_services WHERE service_id = ${id} AND lease_status = 'critical' AND critical_since < ${before}
          RETURNING *`.pipe(Effect.flatMap(decodeServices))
        if (removed === undefined) return Option.none<RegisteredService>()
        yield* changes.record(change("deregistered", removed, null))
        return Option.some(removed)
      }))
    }, (effect, id) => dropping(effect, [id]), classified)

    /** Stores probe results; a service whose probe status changed gets an event. */
    const recordProbes = Effect.fn("MlServiceRepo.recordProbes")(function*(results: ReadonlyArray<ProbeResult>) {
      if (results.length === 0) return
      yield* changes.transaction(Effect.gen(function*() {
        const rows = yield* sql<{ readonly was: ProbeStatus | null }>`
          UPDATE ml_services s SET probe_status = p.status, probe_detail = p.detail, probed_at = p.at
          FROM (SELECT * FROM unnest(${results.map((r) => r.serviceId)}::text[], ${results.map((r) => r.status)}::text[],
                                     ${results.map((r) => r.detail)}::text[], ${results.map((r) => r.at)}::timestamptz[])
                AS p(service_id, status, detail, at)) AS p,
               LATERAL (SELECT probe_status AS was FROM ml_services WHERE service_id = p.service_id FOR UPDATE) AS before
          WHERE s.service_id = p.service_id
          RETURNING s.*, before.was`
        const services = yield* decodeServices(rows)
        yield* changes.recordAll(services.flatMap((service, i) => {
          const was = rows[i]!.was
          return was === service.probe_status ? [] : [change("health_changed", { ...service, probe_status: was } as RegisteredService, service, { changed: "probe" })]
        }))
      }))
    }, (effect, results) => dropping(effect, results.map((r) => r.serviceId)), classified)

    return { register, find, list, healthList, remove, writeBeat, lapsing, markCritical, criticalSince, deregisterCritical, recordProbes } as const
  }),
  dependencies: [ChangeLog.Default, RegistryCache.Default]
}) {}
