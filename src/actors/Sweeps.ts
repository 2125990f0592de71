/**
 * The scheduled fibers of alerting: escalation of critical alerts nobody acknowledged in time
 * (through the alert's PatientMonitor, which owns it) and detection of silent devices. Each run is
 * idempotent, so several Vigil processes may run them side by side; a failed run is logged and
 * the next one comes at the next interval.
 */
import { Effect, Layer, Schedule } from "effect"
import { AlertRepo } from "../persistence/AlertRepo.ts"
import { DeviceRepo } from "../persistence/DeviceRepo.ts"
import { AlertConfig } from "./AlertConfig.ts"
import { PatientMonitor } from "./PatientMonitor.ts"

export const layer = Layer.scopedDiscard(Effect.gen(function*() {
  const config = yield* AlertConfig
  const alerts = yield* AlertRepo
  const devices = yield* DeviceRepo
  const monitors = yield* PatientMonitor.client

  const escalate = Effect.gen(function*() {
    const due = yield* alerts.dueForEscalation(config.escalateAfter)
    const escalated = yield* Effect.forEach(due, (alert) =>
      monitors(alert.patient_id).EscalateAlert({ alert_id: alert.id }).pipe(
        Effect.timeout("10 seconds"),
        Effect.catchAllCause((cause) => Effect.as(Effect.logWarning("escalation deferred to the next sweep", cause), false))
      ), { concurrency: 8 })
    const count = escalated.filter(Boolean).length
    if (count > 0) yield* Effect.logInfo("critical alerts escalated").pipe(Effect.annotateLogs({ count }))
  })

  const detectOffline = Effect.gen(function*() {
    const offline = yield* devices.markOffline(config.deviceOfflineAfter)
    if (offline.length > 0) {
      yield* Effect.logInfo("devices reported offline").pipe(Effect.annotateLogs({ devices: offline.map((d) => d.id).join(",") }))
    }
  })

  const every = (name: string, run: Effect.Effect<void>) =>
    run.pipe(
      Effect.catchAllCause((cause) => Effect.logWarning(`${name} sweep failed; retrying at the next interval`, cause)),
      Effect.repeat(Schedule.spaced(config.sweepInterval)),
      Effect.interruptible,
      Effect.forkScoped
    )
  yield* every("escalation", escalate)
  yield* every("offline", detectOffline)
}))
