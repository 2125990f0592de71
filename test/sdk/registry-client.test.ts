/**
 * The registry's TypeScript SDK (`vigil/sdk`) against a real Vigil: every method on the registry's
 * own port, its typed errors (an unknown service, metadata that breaks the schema, a registry that
 * refuses connections or never answers), and `keepAlive`, which heartbeats at a third of the
 * lease, registers again after the registry forgets the service, and unregisters when stopped.
 */
import { FetchHttpClient } from "@effect/platform"
import { describe, expect, layer } from "@effect/vitest"
import { type Duration, Effect, Fiber } from "effect"
import { createRegistryClient, InvalidMetadata, NotFound, RegistryClient, RegistryError } from "vigil/sdk"
import { healthServer, metadata, refusedBaseUrl, registryUrl } from "../support/ml-services.ts"
import { eventually } from "../support/eventually.ts"
import * as TestApp from "../support/test-app.ts"

let ids = 0
const unique = (prefix: string) => `${prefix}_${Date.now().toString(36)}_${ids++}`

/** The SDK's client of the registry under test. */
const client = (options: { timeout?: Duration.DurationInput } = {}) =>
  Effect.flatMap(registryUrl, (baseUrl) => RegistryClient.make({ baseUrl, ...options }).pipe(Effect.provide(FetchHttpClient.layer)))

const clientAt = (baseUrl: string, timeout: Duration.DurationInput = "5 seconds") => RegistryClient.make({ baseUrl, timeout }).pipe(Effect.provide(FetchHttpClient.layer))

describe("RegistryClient (vigil/sdk)", () => {
  layer(TestApp.layer({ ML_REGISTRY_PROBE_INTERVAL: "1 hour", ML_REGISTRY_PROBE_TIMEOUT: "1 second" }), { timeout: 60_000, excludeTestServices: true })(
    "against a real registry",
    (it) => {
      it.scoped("registers, gets, lists, searches, heartbeats, reads health and unregisters", () =>
        Effect.gen(function*() {
          const registry = yield* client()
          const health = yield* healthServer
          const tag = unique("sdk")
          const sepsis = metadata(unique("sepsis"), "Sepsis Early Warning", health.baseUrl, [tag, "icu"])
          const retina = metadata(unique("retina"), "Retina Grader", health.baseUrl, [tag])
          expect(yield* registry.register(sepsis)).toEqual({
            service_id: sepsis.service_id,
            message: `Service 'Sepsis Early Warning' registered successfully`
          })
          yield* registry.register(retina)
          const got = yield* registry.get(sepsis.service_id)
          expect(got).toMatchObject({ ...sepsis, status: "passing", last_heartbeat: null })
          const listed = (yield* registry.list).map((s): string => s.service_id)
          expect(listed.indexOf(sepsis.service_id)).toBeGreaterThanOrEqual(0)
          expect(listed.indexOf(sepsis.service_id)).toBeLessThan(listed.indexOf(retina.service_id))
          const found = (query: Parameters<typeof registry.search>[0]) => Effect.map(registry.search(query), (r) => r.map((s) => s.service_id))
          expect(yield* found({ tags: [tag] })).toEqual([sepsis.service_id, retina.service_id])
          expect(yield* found({ tags: [tag, "icu"], match: "all" })).toEqual([sepsis.service_id])
          expect(yield* found({ tags: [tag], q: "RETINA", status: "passing" })).toEqual([retina.service_id])
          expect(yield* found({ tags: [tag], status: "critical" })).toEqual([])
          const timestamp = yield* registry.heartbeat(sepsis.service_id)
          expect((yield* registry.get(sepsis.service_id)).last_heartbeat).toBe(timestamp)
          const probed = yield* registry.health({ refresh: true })
          expect(probed[sepsis.service_id]).toMatchObject({ status: "healthy", lease: "passing", last_heartbeat: timestamp })
          for (const s of [sepsis, retina]) yield* registry.unregister(s.service_id)
          const gone = yield* Effect.flip(registry.get(sepsis.service_id))
          expect(gone).toBeInstanceOf(NotFound)
          expect(gone).toMatchObject({ detail: `Service '${sepsis.service_id}' not found` })
          expect(yield* Effect.flip(registry.unregister(sepsis.service_id))).toBeInstanceOf(NotFound)
          expect(yield* Effect.flip(registry.heartbeat(sepsis.service_id))).toBeInstanceOf(NotFound)
        }))

      it.effect("refuses metadata that breaks the schema before sending it, naming the field", () =>
        Effect.gen(function*() {
          const registry = yield* client()
          const { version: _, ...noVersion } = metadata(unique("noversion"), "No Version", "http://127.0.0.1:1", ["x"])
          const refused = yield* Effect.flip(registry.register(noVersion as any))
          expect(refused).toBeInstanceOf(InvalidMetadata)
          expect(refused.reason).toContain("version")
          const badPort = yield* Effect.flip(registry.register({ ...metadata(unique("badport"), "Bad Port", "http://127.0.0.1:1", ["x"]), port: "eighty" as any }))
          expect(badPort.reason).toContain("port")
          expect((yield* registry.list).map((s) => s.service_id).filter((id) => id.startsWith("noversion") || id.startsWith("badport"))).toEqual([])
        }))

      it.scoped("fails with a RegistryError saying why when the registry refuses connections or never answers", () =>
        Effect.gen(function*() {
          const refused = yield* Effect.flip((yield* clientAt(yield* refusedBaseUrl)).list)
          expect(refused).toBeInstanceOf(RegistryError)
          expect(refused.reason).toMatch(/^list: /)
          const health = yield* healthServer
          const started = Date.now()
          const silent = yield* Effect.flip((yield* clientAt(`${health.baseUrl}/hang`, "300 millis")).get("anything"))
          expect(silent).toEqual(new RegistryError({ reason: "get: no answer within 300ms" }))
          expect(Date.now() - started).toBeLessThan(2_000)
        }))

      it.effect("keepAlive heartbeats at a third of the lease, registers again when forgotten, and unregisters when stopped", () =>
        Effect.gen(function*() {
          const registry = yield* client()
          const service = metadata(unique("kept"), "Kept Alive", "http://127.0.0.1:1", ["keep"])
          const keeping = yield* Effect.fork(registry.keepAlive(service, { lease: "900 millis" }))
          /** The service's last heartbeat once it is registered and has one other than `not`. */
          const heartbeatOtherThan = (not: string | null) =>
            Effect.flatMap(registry.get(service.service_id), (s) => s.last_heartbeat === null || s.last_heartbeat === not ? Effect.fail("no new beat") : Effect.succeed(s.last_heartbeat))
          const beat = yield* eventually(heartbeatOtherThan(null), 3)
          // Another beat within about a third of the lease (300 ms), not the whole lease.
          const next = yield* eventually(heartbeatOtherThan(beat), 0.8)
          expect(Date.parse(next) - Date.parse(beat)).toBeLessThan(600)
          // The registry forgets it (another client deregisters it): keepAlive registers it again.
          yield* registry.unregister(service.service_id)
          const back = yield* eventually(registry.get(service.service_id), 2)
          expect(back).toMatchObject({ service_id: service.service_id, status: "passing" })
          yield* Fiber.interrupt(keeping)
          expect(yield* Effect.flip(registry.get(service.service_id))).toBeInstanceOf(NotFound)
          // Told not to, stopping leaves the service registered.
          const kept = yield* Effect.fork(registry.keepAlive(service, { lease: "900 millis", unregisterOnStop: false }))
          yield* eventually(registry.get(service.service_id), 2)
          yield* Fiber.interrupt(kept)
          expect((yield* registry.get(service.service_id)).service_id).toBe(service.service_id)
          yield* registry.unregister(service.service_id)
        }))

      it.effect("keepAlive keeps trying while the registry is unreachable, and refuses bad metadata at once", () =>
        Effect.gen(function*() {
          const unreachable = yield* clientAt(yield* refusedBaseUrl, "200 millis")
          const service = metadata(unique("patient"), "Patient", "http://127.0.0.1:1", ["keep"])
          const trying = yield* Effect.fork(unreachable.keepAlive(service, { lease: "300 millis" }))
          yield* Effect.sleep("500 millis")
          expect(trying.unsafePoll(), "still trying, not given up").toBeNull()
          yield* Fiber.interrupt(trying)
          const { version: _, ...noVersion } = service
          expect(yield* Effect.flip(unreachable.keepAlive(noVersion as any))).toBeInstanceOf(InvalidMetadata)
        }))

      it.effect("works for code that is not an Effect program: promises that reject with the typed errors", () =>
        Effect.gen(function*() {
          const registryUrlText = yield* registryUrl
          const sdk = createRegistryClient({ baseUrl: registryUrlText })
          const service = metadata(unique("promised"), "Promised", "http://127.0.0.1:1", ["promise"])
          yield* Effect.promise(async () => {
            await sdk.register(service)
            expect((await sdk.get(service.service_id)).service_name).toBe("Promised")
            expect((await sdk.search({ tags: ["promise"] })).map((s) => s.service_id)).toContain(service.service_id)
            await sdk.unregister(service.service_id)
            await expect(sdk.get(service.service_id)).rejects.toBeInstanceOf(NotFound)
            const alive = sdk.keepAlive(service, { lease: "900 millis" })
            for (let i = 0; i < 30 && !(await sdk.list()).some((s) => s.service_id === service.service_id); i++) {
              await new Promise((resolve) => setTimeout(resolve, 100))
            }
            expect((await sdk.get(service.service_id)).service_id).toBe(service.service_id)
            await alive.stop()
            await expect(sdk.get(service.service_id)).rejects.toBeInstanceOf(NotFound)
            // Closing the client stops what it still keeps alive (and so unregisters it).
            sdk.keepAlive(service, { lease: "900 millis" })
            for (let i = 0; i < 30 && !(await sdk.list()).some((s) => s.service_id === service.service_id); i++) {
              await new Promise((resolve) => setTimeout(resolve, 100))
            }
            await sdk.close()
            const other = createRegistryClient({ baseUrl: registryUrlText })
            await expect(other.get(service.service_id)).rejects.toBeInstanceOf(NotFound)
            await other.close()
          })
        }))
    }
  )
})

describe("RegistryClient with authentication required", () => {
  const superadmin = { email: "root@sdk.example.org", password: "superadmin secret" }
  layer(
    TestApp.layer({ VIGIL_AUTH: "required", PASSWORD_SCRYPT_LOG_N: "10", SUPERADMIN_EMAIL: superadmin.email, SUPERADMIN_PASSWORD: superadmin.password }),
    { timeout: 60_000, excludeTestServices: true }
  )("a guarded registry", (it) => {
    it.effect("sends the service's own token; without it, or for another service, the registry refuses", () =>
      Effect.gen(function*() {
        const serviceId = unique("guarded")
        const login = yield* TestApp.call("POST", "/api/v1/auth/login", superadmin)
        const issued = yield* TestApp.call("POST", "/api/v1/auth/machine-tokens", { kind: "service", id: serviceId }, { authorization: `Bearer ${login.body.access_token}` })
        expect(issued.status).toBe(201)
        const baseUrl = yield* registryUrl
        const own = yield* RegistryClient.make({ baseUrl, token: issued.body.access_token }).pipe(Effect.provide(FetchHttpClient.layer))
        const meta = metadata(serviceId, "Guarded", "http://127.0.0.1:9", ["guarded"])
        expect(yield* own.register(meta)).toMatchObject({ service_id: serviceId })
        expect(yield* own.heartbeat(serviceId)).toEqual(expect.any(String))
        const other = yield* Effect.flip(own.register(metadata(`${serviceId}-other`, "Not mine", "http://127.0.0.1:9", [])))
        expect(other).toBeInstanceOf(RegistryError)
        expect(other.reason).toContain("403")
        const anonymous = yield* clientAt(baseUrl)
        const refused = yield* Effect.flip(anonymous.list)
        expect(refused).toBeInstanceOf(RegistryError)
        expect(refused.reason).toContain("401")
      }))
  })
})
