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
import { ConfigProvider, Effect, Layer, TestClock } from "effect"
import { LeaseBoard } from "../../src/actors/LeaseBoard.ts"
import { MlService } from "../../src/actors/MlService.ts"
import { leaseSweep } from "../../src/actors/MlRegistrySweeps.ts"
import * as MlServiceLive from "../../src/actors/MlServiceLive.ts"
import { ServiceRegistration } from "../../src/domain/MlService.ts"
import { MlServiceRepo } from "../../src/persistence/MlServiceRepo.ts"
import * as TestDatabase from "../support/test-database.ts"

const config = Layer.setConfigProvider(ConfigProvider.fromMap(new Map([
  ["SERVICE_TIMEOUT_SECONDS", "60"],
  ["SERVICE_DEREGISTER_AFTER", "2 minutes"]
])))

const Leases = Layer.mergeAll(MlServiceRepo.Default, LeaseBoard.Default, ShardingConfig.layer()).pipe(
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
      yield* service.Register({ registration: registration(id) })
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
})
