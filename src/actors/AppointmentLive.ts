/**
 * The Appointment actor's behaviour. Its state is one row, read under its lock by each command
 * (`persistence/AppointmentLifecycle.ts`), so nothing is kept in memory between messages that a
 * writer elsewhere (a person with psql, a process that held the shards before) could make stale;
 * what the actor adds is that one appointment's commands run one at a time, wherever they come from.
 */
import * as Entity from "@effect/cluster/Entity"
import { Duration, Effect, Option, Schema } from "effect"
import { AppointmentId } from "../domain/Appointment.ts"
import { AppointmentNotFound } from "../domain/CareErrors.ts"
import { AppointmentLifecycle } from "../persistence/AppointmentLifecycle.ts"
import { Appointment } from "./Appointment.ts"
import { CareConfig } from "./CareConfig.ts"

const parseId = Schema.decodeUnknownOption(AppointmentId)

export const layer = Appointment.toLayer(
  Effect.gen(function*() {
    const address = yield* Entity.CurrentAddress
    const lifecycle = yield* AppointmentLifecycle
    const config = yield* Effect.orDie(CareConfig)
    const remindBeforeSeconds = Math.round(Duration.toSeconds(config.reminderBefore))
    // Entity ids are Vigil's own, from validated input: an update of one that is no appointment id
    // answers "not found"; the workflows' messages name appointments that were booked, so there it is a bug.
    const id = parseId(Number(address.entityId))
    const missing = Effect.fail(new AppointmentNotFound({ appointmentId: Number(address.entityId) }))
    const known = <A, E, R>(run: (id: AppointmentId) => Effect.Effect<A, E, R>) =>
      Option.match(id, { onNone: () => Effect.dieMessage(`not an appointment id: ${address.entityId}`), onSome: run })

    return Appointment.of({
      Update: ({ payload }) =>
        Option.isNone(id) ? missing : lifecycle.update(id.value, payload.changes),
      Confirm: ({ payload }) =>
        known((appointmentId) =>
          lifecycle.confirm(appointmentId, payload.task_id, payload.reference).pipe(
            // Nothing in this step comes from outside: data the database refuses is a bug.
            Effect.catchTag("DataRefused", Effect.die)
          )
        ),
      ArmReminder: ({ payload }) =>
        known((appointmentId) => lifecycle.armReminder(appointmentId, payload.scheduled_time).pipe(Effect.catchTag("DataRefused", Effect.die))),
      SendReminder: ({ payload }) =>
        known((appointmentId) =>
          lifecycle.sendReminder(appointmentId, payload.scheduled_time, remindBeforeSeconds).pipe(Effect.catchTag("DataRefused", Effect.die))
        )
    })
  }),
  { disableFatalDefects: true }
)
