/**
 * The access audit (HIPAA's "who read which patient's record"): every successful read of one
 * patient's data through a guarded door is recorded in the audit trail, off the request path. A
 * read is noted in memory (synchronously); a fiber writes what was noted in one statement every
 * ACCESS_AUDIT_FLUSH (200 ms) or as soon as ACCESS_AUDIT_BATCH rows wait, and once more when
 * Vigil shuts down. Reads alike within one flush (the same caller, data, route and door: a
 * dashboard polling) become one row that says how many there were and when the first and the
 * last was, so a poller cannot flood the trail while every read stays accounted for.
 *
 * While the database refuses, rows wait and are written when it answers again, up to
 * ACCESS_AUDIT_BUFFER; beyond that the oldest are dropped and counted in a logged error, so an
 * outage cannot exhaust memory.
 */
import { Config, Duration, Effect, Schedule } from "effect"
import type { Accessed, Caller } from "../domain/Access.ts"
import { type AccessRecord, AuditRepo } from "../persistence/AuditRepo.ts"

const atLeastOne = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: `${name} must be at least 1`, validation: (n) => n >= 1 }),
    Config.withDefault(fallback)
  )

export const AccessAuditConfig = Config.all({
  flushEvery: Config.duration("ACCESS_AUDIT_FLUSH").pipe(Config.withDefault(Duration.millis(200))),
  batch: atLeastOne("ACCESS_AUDIT_BATCH", 1_000),
  buffer: atLeastOne("ACCESS_AUDIT_BUFFER", 200_000)
})

/** A row being noted: its count and last read still move until it is flushed. */
type Noted = { -readonly [K in keyof AccessRecord]: AccessRecord[K] }

export class AccessAudit extends Effect.Service<AccessAudit>()("vigil/AccessAudit", {
  scoped: Effect.gen(function*() {
    const config = yield* AccessAuditConfig
    const audit = yield* AuditRepo
    // Noted since the last flush, by (caller, data, route, door), in the order first read.
    let noted = new Map<string, Noted>()
    // Taken from `noted`, not written yet (the database refused): written first next time.
    let unwritten: Array<Noted> = []
    let dropped = 0
    let wake: (() => void) | undefined

    /** Records that `caller` read `accessed`'s data through `route`. Synchronous and cheap. */
    const record = (caller: Caller, accessed: Accessed, route: string, door: AccessRecord["door"]) => {
      if (caller.kind === "open" || caller.kind === "system") return
      const key = `${caller.actor}\u0000${accessed.entityType}\u0000${accessed.entityId}\u0000${route}\u0000${door}`
      const now = new Date()
      const same = noted.get(key)
      if (same !== undefined) {
        same.reads++
        same.lastAt = now
        return
      }
      if (noted.size + unwritten.length >= config.buffer) {
        if (unwritten.length > 0) unwritten.shift()
        else noted.delete(noted.keys().next().value!)
        dropped++
      }
      noted.set(key, { occurredAt: now, actor: caller.actor, entityType: accessed.entityType, entityId: accessed.entityId, route, door, reads: 1, lastAt: now })
      if (noted.size >= config.batch) wake?.()
    }

    // One flush at a time, each batch written and taken off together: the shutdown's flush may
    // not write again what the periodic one is writing.
    const oneAtATime = yield* Effect.makeSemaphore(1)
    const writeBatch = Effect.suspend(() => {
      const batch = unwritten.slice(0, config.batch)
      return Effect.tap(audit.insertReads(batch), () => {
        unwritten = unwritten.slice(batch.length)
      })
    }).pipe(Effect.uninterruptible)
    const flush = oneAtATime.withPermits(1)(Effect.gen(function*() {
      if (noted.size > 0) {
        unwritten = unwritten.concat([...noted.values()])
        noted = new Map()
      }
      while (unwritten.length > 0) yield* writeBatch
      if (dropped > 0) {
        yield* Effect.logError("access audit records dropped: the database refused them for too long").pipe(Effect.annotateLogs({ dropped }))
        dropped = 0
      }
    }))

    const nap = Effect.race(
      Effect.sleep(config.flushEvery),
      Effect.async<void>((resume) => {
        wake = () => resume(Effect.void)
        return Effect.sync(() => {
          wake = undefined
        })
      })
    )

    yield* nap.pipe(
      Effect.zipRight(flush.pipe(Effect.catchAll((error) => Effect.logWarning("access audit not written yet; will retry", error)))),
      Effect.forever,
      Effect.forkScoped
    )
    // At shutdown, what is noted is written (a few tries: the database may be going too).
    yield* Effect.addFinalizer(() =>
      flush.pipe(
        Effect.retry(Schedule.spaced(Duration.millis(200)).pipe(Schedule.intersect(Schedule.recurs(5)))),
        Effect.catchAll((error) =>
          Effect.logError("access audit lost at shutdown", error).pipe(Effect.annotateLogs({ unwritten: unwritten.length + noted.size }))
        )
      )
    )

    return { record, flush } as const
  }),
  dependencies: [AuditRepo.Default]
}) {}
