/** The registry caches: read-through, dropped by any process's writes through NOTIFY. */
import { describe, expect, it, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Option } from "effect"
import type { PatientId } from "../../src/domain/Patient.ts"
import { PatientRepo } from "../../src/persistence/PatientRepo.ts"
import { ReadCache } from "../../src/persistence/ReadCache.ts"
import { ThresholdProfileRepo } from "../../src/persistence/ThresholdProfileRepo.ts"
import { RegistryCache } from "../../src/persistence/RegistryCache.ts"
import { OutboxSignal } from "../../src/persistence/OutboxSignal.ts"
import * as TestDatabase from "../support/test-database.ts"
import { eventually } from "../support/eventually.ts"

describe("ReadCache", () => {
  const load = (value: string) => Effect.succeed(Option.some(value))

  it.effect("serves a stored value without loading again", () =>
    Effect.gen(function*() {
      const cache = new ReadCache<string>(10, 60_000)
      let loads = 0
      const counting = Effect.sync(() => ++loads).pipe(Effect.as(Option.some("v")))
      yield* cache.getOrLoad("k", () => counting)
      yield* cache.getOrLoad("k", () => counting)
      expect(loads).toBe(1)
    }))

  it.effect("does not cache misses", () =>
    Effect.gen(function*() {
      const cache = new ReadCache<string>(10, 60_000)
      yield* cache.getOrLoad("k", () => Effect.succeed(Option.none()))
      expect(cache.size).toBe(0)
      expect(yield* cache.getOrLoad("k", () => load("now"))).toEqual(Option.some("now"))
    }))

  it.effect("caches misses when asked to, until invalidated", () =>
    Effect.gen(function*() {
      const cache = new ReadCache<string>(10, 60_000, { cacheMisses: true })
      let loads = 0
      const none = Effect.sync(() => ++loads).pipe(Effect.as(Option.none<string>()))
      yield* cache.getOrLoad("k", () => none)
      expect(yield* cache.getOrLoad("k", () => none)).toEqual(Option.none())
      expect(loads).toBe(1)
      cache.invalidate("k")
      expect(yield* cache.getOrLoad("k", () => load("now"))).toEqual(Option.some("now"))
    }))

  it.effect("never stores a load that raced an invalidation", () =>
    Effect.gen(function*() {
      const cache = new ReadCache<string>(10, 60_000)
      const stale = Effect.sync(() => cache.invalidate("k")).pipe(Effect.as(Option.some("stale")))
      expect(yield* cache.getOrLoad("k", () => stale)).toEqual(Option.some("stale"))
      expect(cache.size).toBe(0)
    }))

  it.effect("evicts the oldest entry beyond capacity and expires entries", () =>
    Effect.gen(function*() {
      const cache = new ReadCache<string>(2, 60_000)
      for (const key of ["a", "b", "c"]) yield* cache.getOrLoad(key, () => load(key))
      expect(cache.size).toBe(2)
      let reloaded = false
      yield* cache.getOrLoad("a", () => Effect.sync(() => (reloaded = true)).pipe(Effect.as(Option.some("a"))))
      expect(reloaded).toBe(true)
      const expiring = new ReadCache<string>(10, -1)
      yield* expiring.getOrLoad("k", () => load("old"))
      expect(yield* expiring.getOrLoad("k", () => load("new"))).toEqual(Option.some("new"))
    }))
})

const Repos = Layer.mergeAll(PatientRepo.Default, ThresholdProfileRepo.Default, RegistryCache.Default).pipe(Layer.provideMerge(OutboxSignal.Default),
  Layer.provideMerge(TestDatabase.layer))

layer(Repos, { timeout: 60_000, excludeTestServices: true })("RegistryCache", (it) => {
  it.effect("drops a patient when any connection updates it", () =>
    Effect.gen(function*() {
      const repo = yield* PatientRepo
      const { patients: cache } = yield* RegistryCache
      const sql = yield* SqlClient.SqlClient
      const patient = yield* repo.insert({ full_name: "Cached", age: 30, sex: "F" })
      yield* repo.findById(patient.id)
      expect(cache.size).toBe(1)
      yield* sql`UPDATE patients SET full_name = 'Changed' WHERE id = ${patient.id}`
      yield* Effect.suspend(() => (cache.size === 0 ? Effect.void : Effect.fail("still cached"))).pipe(
        (check) => eventually(check, 5)
      )
      const reloaded = yield* repo.findById(patient.id)
      expect(Option.map(reloaded, (p) => p.full_name)).toEqual(Option.some("Changed"))
    }))

  it.effect("hears every change again after its listening connection is lost: nothing stale is served for the cache's lifetime", () =>
    Effect.gen(function*() {
      const repo = yield* PatientRepo
      const cache = yield* RegistryCache
      const sql = yield* SqlClient.SqlClient
      const patient = yield* repo.insert({ full_name: "Before the loss", age: 30, sex: "F" })
      yield* repo.findById(patient.id)
      expect(cache.patients.size).toBeGreaterThan(0)
      // What a database restart does to every connection, to this database's listener alone.
      const [ended] = yield* sql<{ n: string }>`
        SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
        WHERE application_name = 'vigil-listen' AND datname = current_database()`
      expect(ended!.n).toBe("1")
      // Changed while nobody listens, or just after: either way it must not be served stale.
      yield* sql`UPDATE patients SET full_name = 'After the loss' WHERE id = ${patient.id}`
      const name = yield* repo.findById(patient.id).pipe(
        Effect.map(Option.map((p) => p.full_name)),
        Effect.flatMap((name) => Option.contains(name, "After the loss") ? Effect.succeed(name) : Effect.fail(`still ${String(name)}`)),
        (check) => eventually(check, 5)
      )
      expect(name).toEqual(Option.some("After the loss"))
      // Listening again: it caches, and a change drops the entry.
      yield* Effect.suspend(() => (cache.status() === "connected" ? Effect.void : Effect.fail("not listening yet"))).pipe(
        (check) => eventually(check, 5)
      )
      yield* repo.findById(patient.id)
      expect(cache.patients.peek(patient.id)).toBeDefined()
      yield* sql`UPDATE patients SET full_name = 'Later' WHERE id = ${patient.id}`
      yield* Effect.suspend(() => (cache.patients.peek(patient.id) === undefined ? Effect.void : Effect.fail("still cached"))).pipe(
        (check) => eventually(check, 5)
      )
    }))

  it.effect("never caches an unknown id", () =>
    Effect.gen(function*() {
      const repo = yield* PatientRepo
      const { patients: cache } = yield* RegistryCache
      const before = cache.size
      expect(yield* repo.findById("00000000-0000-4000-8000-000000000001" as PatientId)).toEqual(Option.none())
      expect(cache.size).toBe(before)
    }))

  it.effect("keeps a patient's missing threshold profile, and forgets it when any connection inserts one", () =>
    Effect.gen(function*() {
      const patients = yield* PatientRepo
      const profiles = yield* ThresholdProfileRepo
      const sql = yield* SqlClient.SqlClient
      const patient = yield* patients.insert({ full_name: "No profile yet", age: 50, sex: "M" })
      expect(yield* profiles.findByPatient(patient.id)).toEqual(Option.none())
      // Another process inserts a profile behind this one's back: the notice drops the cached miss.
      yield* sql`INSERT INTO threshold_profiles (patient_id, hr_min, hr_max, spo2_min, temp_min, temp_max)
        VALUES (${patient.id}, 55, 95, 93, 36, 37.5)`
      const found = yield* profiles.findByPatient(patient.id).pipe(
        Effect.flatMap((profile) => Option.isSome(profile) ? Effect.succeed(profile.value) : Effect.fail("still the cached miss")),
        (check) => eventually(check, 5)
      )
      expect(found.hr_max).toBe(95)
    }))
})
