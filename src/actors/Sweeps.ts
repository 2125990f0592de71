/**
 * The scheduled fibers of alerting: escalation of critical alerts nobody acknowledged in time
 * (through the alert's PatientMonitor, which owns it) and detection of silent devices. With NATS
 * (a cluster of processes) they are one singleton, run by one process and moved when it stops;
 * without, each process runs its own (each run is idempotent, so processes sharing a database
 * may run them side by side). A failed run is logged and the next one comes at the next interval.
 *
 * Time comes from Effect's `Clock` (when a sweep runs, and how far back "too long" reaches), so a
 * test steps it with `TestClock`. The times compared with it (`last_seen_at`, `critical_since`)
 * are the database's `now()`: one clock for every process's writes; a sweep's own clock differs
 * from it by the host's clock error, which NTP keeps far below the minutes these sweeps measure.
 */
import * as Singleton from "@effect/cluster/Singleton"
import { Clock, Duration, Effect, Layer, Option, Schedule } from "effect"
import { Nats } from "../messaging/NatsBus.ts"
import { AlertRepo } from "../persistence/AlertRepo.ts"
import { DeviceRepo } from "../persistence/DeviceRepo.ts"
import { callActor } from "./ActorCalls.ts"
import { AlertConfig } from "./AlertConfig.ts"
import { PatientMonitor } from "./PatientMonitor.ts"

/** `duration` before the clock's now. */
const ago = (duration: Duration.Duration) => Effect.map(Clock.currentTimeMillis, (now) => new Date(now - Duration.toMillis(duration)))

const sweeps = (config: AlertConfig) => Effect.gen(function*() {
  const alerts = yield* AlertRepo
  const devices = yield* DeviceRepo
  const monitors = yield* PatientMonitor.client

  const escalate = Effect.gen(function*() {
    const due = yield* alerts.dueForEscalation(yield* ago(config.escalateAfter))
    const escalated = yield* Effect.forEach(due, (alert) =>
      callActor(monitors(alert.patient_id).EscalateAlert({ alert_id: alert.id })).pipe(
        Effect.catchAllCause((cause) => Effect.as(Effect.logWarning("escalation deferred to the next sweep", cause), false))
      ), { concurrency: 8 })
    const count = escalated.filter(Boolean).length
    if (count > 0) yield* Effect.logInfo("critical alerts escalated").pipe(Effect.annotateLogs({ count }))
  })

  const detectOffline = Effect.gen(function*() {
    const offline = yield* devices.markOffline(yield* ago(config.deviceOfflineAfter))
    if (offline.length > 0) {
      yield* Effect.logInfo("devices reported offline").pipe(Effect.annotateLogs({ devices: offline.map((d) => d.id).join(",") }))
    }
  })

  const every = (name: string, run: Effect.Effect<void, unknown>) =>
    run.pipe(
      Effect.catchAllCause((cause) => Effect.logWarning(`${name} sweep failed; retrying at the next interval`, cause)),
      Effect.repeat(Schedule.spaced(config.sweepInterval)),
      Effect.interruptible,
      Effect.forkScoped
    )
  yield* every("escalation", escalate)
  yield* every("offline", detectOffline)
})

// The configuration is read here, so that a bad one fails the start rather than the singleton.
export const layer = Layer.unwrapEffect(Effect.map(Effect.all([Nats, AlertConfig]), ([nats, config]) =>
  Option.isSome(nats) ? Singleton.make("vigil/alert-sweeps", sweeps(config)) : Layer.scopedDiscard(sweeps(config))
))
