/**
 * The durable cluster's scheduled fibers, each a singleton (one in the whole cluster: the process
 * holding the shards), supervised (a failed run is logged, the next comes at the next interval):
 * - the appointment sweep, every `APPOINTMENT_SWEEP_INTERVAL`:
 *   - recovery: a booking commits, then starts its confirmation; a crash between the two would
 *     leave the task record `queued` for ever, as the seed's did without a worker. It starts again
 *     the confirmation of every task record still open and untouched for that long (after the
 *     confirmation delay).
 *   - reminders: it starts the reminder of every confirmed appointment whose reminder is due
 *     within the lead (10 minutes, or two intervals if longer) and not set up for the time the
 *     appointment has (a moved appointment's is set up again for its new time).
 *   A start of work already under way is a duplicate the cluster drops, so this is safe to repeat.
 * - the purge of the cluster's finished messages (`persistence/ClusterHousekeeping.ts`).
 * Time comes from Effect's `Clock`.
 */
import * as Singleton from "@effect/cluster/Singleton"
import { Clock, Config, Duration, Effect, Layer } from "effect"
import { AppointmentRepo } from "../persistence/AppointmentRepo.ts"
import { ClusterHousekeeping } from "../persistence/ClusterHousekeeping.ts"
import { AppointmentReminder, ConfirmAppointment } from "./AppointmentWorkflows.ts"
import { CareConfig } from "./CareConfig.ts"
import { TABLE_PREFIX } from "./DurableCluster.ts"
import { supervised } from "./Supervised.ts"

export const PurgeConfig = Config.all({
  /** How long finished cluster messages are kept (their deduplication ends with them). */
  retention: Config.duration("CLUSTER_MESSAGE_RETENTION").pipe(Config.withDefault(Duration.days(1))),
  interval: Config.duration("CLUSTER_PURGE_INTERVAL").pipe(Config.withDefault(Duration.minutes(10)))
})

/** Per run: more than this waits for the next. */
const RECOVERY_BATCH = 500

const ago = (duration: Duration.Duration) => Effect.map(Clock.currentTimeMillis, (now) => new Date(now - Duration.toMillis(duration)))
const ahead = (duration: Duration.Duration) => Effect.map(Clock.currentTimeMillis, (now) => new Date(now + Duration.toMillis(duration)))

const appointmentSweep = Layer.unwrapEffect(Effect.gen(function*() {
  const config = yield* Effect.orDie(CareConfig)
  const appointments = yield* AppointmentRepo
  /** How long before a reminder is due its workflow starts. */
  const lead = Duration.max(Duration.minutes(10), Duration.times(config.sweepInterval, 2))
  const sweep = Effect.gen(function*() {
    const stalled = yield* appointments.stalledTasks(yield* ago(Duration.sum(config.confirmDelay, config.sweepInterval)), RECOVERY_BATCH)
    for (const task of stalled) {
      yield* ConfirmAppointment.execute({ appointment_id: task.appointment_id, task_id: task.id }, { discard: true })
    }
    if (stalled.length > 0) yield* Effect.logInfo("confirmations started again").pipe(Effect.annotateLogs({ count: stalled.length }))
    const due = yield* appointments.remindersDue(yield* ahead(Duration.sum(lead, config.reminderBefore)), RECOVERY_BATCH)
    for (const appointment of due) {
      yield* AppointmentReminder.execute({ appointment_id: appointment.id, scheduled_time: appointment.scheduled_time }, { discard: true })
    }
  })
  return Singleton.make("vigil/appointment-sweep", supervised("appointment sweep", config.sweepInterval, sweep))
}))

const purge = Layer.unwrapEffect(Effect.gen(function*() {
  const config = yield* Effect.orDie(PurgeConfig)
  const housekeeping = yield* ClusterHousekeeping
  const run = Effect.gen(function*() {
    const removed = yield* housekeeping.purge(TABLE_PREFIX, config.retention, yield* Clock.currentTimeMillis)
    if (removed > 0) yield* Effect.logInfo("finished cluster messages purged").pipe(Effect.annotateLogs({ removed }))
  })
  return Singleton.make("vigil/cluster-purge", supervised("cluster message purge", config.interval, run))
}))

export const layer = Layer.mergeAll(appointmentSweep, purge)
