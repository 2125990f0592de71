/**
 * The access audit (HIPAA's "who read which patient's record"): every successful read of one
 * patient's data through a guarded door is recorded in the audit trail, off the request path. A
 * read is put in a buffer (a synchronous push); a fiber writes the buffer in one statement every
 * ACCESS_AUDIT_FLUSH (200 ms) or as soon as it holds ACCESS_AUDIT_BATCH reads, and once more when
 * Vigil shuts down. While the database refuses, reads stay buffered and are written when it
 * answers again, up to ACCESS_AUDIT_BUFFER; beyond that the oldest are dropped and counted in a
 * logged error, so an outage cannot exhaust memory.
 */
import { Config, Duration, Effect, Schedule } from "effect"
import type { Accessed, Caller } from "../domain/Access.ts"
import { type AccessRecord, AuditRepo } from "../persistence/AuditRepo.ts"

export const AccessAuditConfig = Config.all({
  flushEvery: Config.duration("ACCESS_AUDIT_FLUSH").pipe(Config.withDefault(Duration.millis(200))),
  batch: Config.integer("ACCESS_AUDIT_BATCH").pipe(Config.withDefault(1_000)),
  buffer: Config.integer("ACCESS_AUDIT_BUFFER").pipe(Config.withDefault(200_000))
})

export class AccessAudit extends Effect.Service<AccessAudit>()("vigil/AccessAudit", {
  scoped: Effect.gen(function*() {
    const config = yield* AccessAuditConfig
    const audit = yield* AuditRepo
    let pending: Array<AccessRecord> = []
    let dropped = 0
    let wake: (() => void) | undefined

    /** Records that `caller` read `accessed`'s data through `route`. Synchronous and cheap. */
    const record = (caller: Caller, accessed: Accessed, route: string, door: AccessRecord["door"]) => {
      if (caller.kind === "open") return
      if (pending.length >= config.buffer) {
        pending.shift()
        dropped++
      }
      pending.push({ occurredAt: new Date(), actor: caller.actor, entityType: accessed.entityType, entityId: accessed.entityId, route, door })
      if (pending.length >= config.batch) wake?.()
    }

    const flush = Effect.gen(function*() {
      while (pending.length > 0) {
        const batch = pending.slice(0, config.batch)
        yield* audit.insertReads(batch)
        pending = pending.slice(batch.length)
      }
      if (dropped > 0) {
        yield* Effect.logError("access audit records dropped: the database refused them for too long").pipe(Effect.annotateLogs({ dropped }))
        dropped = 0
      }
    })

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
    // At shutdown, what is buffered is written (a few tries; the database may be going too).
    yield* Effect.addFinalizer(() =>
      flush.pipe(
        Effect.retry(Schedule.spaced(Duration.millis(200)).pipe(Schedule.intersect(Schedule.recurs(5)))),
        Effect.catchAll((error) => Effect.logError("access audit lost at shutdown", error).pipe(Effect.annotateLogs({ unwritten: pending.length })))
      )
    )

    return { record, flush } as const
  }),
  dependencies: [AuditRepo.Default]
}) {}
