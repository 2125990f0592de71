/**
 * ML services' heartbeat leases on Effect's `Clock`: the test steps a `TestClock` instead of
 * waiting. A service is passing while its last beat is younger than SERVICE_TIMEOUT_SECONDS and
 * critical from then, exactly, by the clock, though beats are written at most once per lease
 * fraction; a beat makes it passing again; SERVICE_DEREGISTER_AFTER later it is deregistered.
 * Each transition once, with its event. The MlService actor runs on a test client, the sweep is
 * run step by step.
 */
import * as Entity from "@effect/cluster/Entity"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { ConfigProvider, Deferred, Effect, Fiber, Layer, TestClock, TestServices } from "effect"
import { LeaseBoard } from "../../src/actors/LeaseBoard.ts"
import { MlService } from "../../src/actors/MlService.ts"
import { leaseSweep } from "../../src/actors/MlRegistrySweeps.ts"
import * as MlServiceLive from "../../src/actors/MlServiceLive.ts"
import { type ServiceId, ServiceRegistration } from "../../src/domain/MlService.ts"
import { MlServiceRepo } from "../../src/persistence/MlServiceRepo.ts"
import { eventually } from "../support/eventually.ts"
import { OutboxSignal } from "../../src/persistence/OutboxSignal.ts"
import * as TestDatabase from "../support/test-database.ts"

const config = Layer.setConfigProvider(ConfigProvider.fromMap(new Map([
  ["SERVICE_TIMEOUT_SECONDS", "60"],
  ["SERVICE_DEREGISTER_AFTER", "2 minutes"]
])))

const Leases = Layer.mergeAll(MlServiceRepo.Default, LeaseBoard.Default, ShardingConfig.layer()).pipe(
  Layer.provideMerge(OutboxSignal.Default),
  Layer.provideMerge(TestDatabase.layer),
  Layer.provide(config)
)

const registration = (serviceId: string) =>
  ServiceRegistration.make({
    service_id: serviceId as never,
    service_name: "Leased",
    version: "1.0.0",
    description: "",
    base_url: "http://127.0.0.1:9",
    port: 9,
    endpoints: {},
    input_schema: {},
    output_schema: {},
    tags: [],
    capabilities: null,
    last_heartbeat: null
  })

layer(Leases, { timeout: 60_000 })("ML service leases on the test clock", (it) => {
  it.scoped("turns critical exactly a timeout after the last beat, passing again with a beat, and is deregistered after SERVICE_DEREGISTER_AFTER", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const makeClient = yield* Entity.makeTestClient(MlService, MlServiceLive.layer.pipe(Layer.provide(config)))
      const sweep = yield* leaseSweep.pipe(Effect.provide(config))
      const id = `leased_${Date.now().toString(36)}`
      const service = yield* makeClient(id)
      const at = (seconds: number) => TestClock.setTime(seconds * 1000)
      const lease = Effect.map(sql<{ lease_status: string; heartbeat_at: Date }>`
        SELECT lease_status, heartbeat_at FROM ml_services WHERE service_id = ${id}`, ([row]) => row)
      const actions = Effect.map(sql<{ action: string; lease: string }>`
        SELECT action, after->>'lease_status' AS lease FROM audit_events WHERE entity_type = 'service' AND entity_id = ${id} ORDER BY seq`,
      (rows) => rows.map((r) => `${r.action}${r.lease === null ? "" : `:${r.lease}`}`))

      yield* at(0)
      yield* service.Register({ registration: registration(id), by: "test" })
      // A beat at 10 s: younger than a lease fraction (20 s) since the last written beat, so not written.
      yield* at(10)
      expect(yield* service.Heartbeat()).toBe(new Date(10_000).toISOString())
      expect((yield* lease)!.heartbeat_at.getTime()).toBe(0)

      // At 65 s the written beat (0 s) is older than the timeout, but this process saw one at 10 s: still passing.
      yield* at(65)
      yield* sweep
      expect(yield* lease).toMatchObject({ lease_status: "passing", heartbeat_at: new Date(10_000) })
      yield* at(69)
      yield* sweep
      expect((yield* lease)!.lease_status).toBe("passing")
      // 70 s after the last beat (at 10 s): critical.
      yield* at(70)
      yield* sweep
      expect((yield* lease)!.lease_status).toBe("critical")
      yield* sweep
      expect(yield* actions).toEqual(["registered:passing", "health_changed:critical"])

      // A beat: passing again, at once, with its event.
      yield* at(80)
      yield* service.Heartbeat()
      expect(yield* lease).toMatchObject({ lease_status: "passing", heartbeat_at: new Date(80_000) })
      // Silent from then: critical at 140 s, deregistered two minutes after.
      yield* at(140)
      yield* sweep
      yield* at(259)
      yield* sweep
      expect((yield* lease)!.lease_status).toBe("critical")
      yield* at(261)
      yield* sweep
      expect(yield* lease).toBeUndefined()
      expect(yield* actions).toEqual([
        "registered:passing",
        "health_changed:critical",
        "health_changed:passing",
        "health_changed:critical",
        "deregistered"
      ])
      const gone = yield* Effect.flip(service.Heartbeat())
      expect(gone._tag).toBe("ServiceNotFound")
    }))

  it.scoped("takes a beat whose write the database does not answer in time, and writes the lease with the next", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const makeClient = yield* Entity.makeTestClient(MlService, MlServiceLive.layer.pipe(Layer.provide(config)))
      const board = yield* LeaseBoard
      const id = `stalled_${Date.now().toString(36)}`
      const service = yield* makeClient(id)
      const writtenBeat = Effect.map(sql<{ heartbeat_at: Date }>`SELECT heartbeat_at FROM ml_services WHERE service_id = ${id}`, ([row]) => row!.heartbeat_at.getTime())
      yield* TestClock.setTime(0)
      yield* service.Register({ registration: registration(id), by: "test" })

      // Another connection holds the service's row, so the beat's write waits for it.
      const release = yield* Deferred.make<void>()
      const locked = yield* Deferred.make<void>()
      yield* sql.withTransaction(
        sql`SELECT 1 FROM ml_services WHERE service_id = ${id} FOR UPDATE`.pipe(Effect.zipRight(Deferred.succeed(locked, undefined)), Effect.zipRight(Deferred.await(release)))
      ).pipe(Effect.forkScoped)
      yield* Deferred.await(locked)
      // At 25 s a beat is due to be written (a lease fraction is 20 s).
      yield* TestClock.setTime(25_000)
      const beat = yield* Effect.fork(service.Heartbeat())
      yield* TestServices.provideLive(eventually(Effect.flatMap(
        sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        ([row]) => (row!.n > 0 ? Effect.void : Effect.fail("the write is not waiting yet"))
      )))
      // The actor's time limit on its database work passes: the beat is taken all the same.
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(beat)).toBe(new Date(25_000).toISOString())
      expect(board.laterThan(id as ServiceId, new Date(0))?.at).toEqual(new Date(25_000))
      yield* Deferred.succeed(release, undefined)

      // The next beat finds the lease's write still due, and writes it.
      yield* TestClock.setTime(40_000)
      expect(yield* service.Heartbeat()).toBe(new Date(40_000).toISOString())
      expect(yield* writtenBeat).toBe(40_000)
    }))
})
