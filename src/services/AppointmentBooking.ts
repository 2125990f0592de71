/**
 * Booking and changing appointments, for every door: a booking commits (the appointment, its
 * task record, their audit and events) and then starts its confirmation workflow; a change goes
 * to the appointment's actor. The start of a committed booking's confirmation is not the
 * booking's to fail: if it cannot be started now, the recovery sweep starts it (the booking is
 * answered 201 all the same, its task record `queued`).
 */
import { Effect } from "effect"
import type { AppointmentCreate, AppointmentId, AppointmentUpdate } from "../domain/Appointment.ts"
import { callActor } from "../actors/ActorCalls.ts"
import { Appointment } from "../actors/Appointment.ts"
import { ConfirmAppointment } from "../actors/AppointmentWorkflows.ts"
import { CareConfig } from "../actors/CareConfig.ts"
import * as DurableCluster from "../actors/DurableCluster.ts"
import { AppointmentRepo } from "../persistence/AppointmentRepo.ts"

export class AppointmentBooking extends Effect.Service<AppointmentBooking>()("vigil/AppointmentBooking", {
  effect: Effect.gen(function*() {
    const config = yield* Effect.orDie(CareConfig)
    const repo = yield* AppointmentRepo
    const durable = yield* DurableCluster.runIn
    const appointments = yield* Appointment.client

    const book = Effect.fn("AppointmentBooking.book")(function*(input: AppointmentCreate) {
      const booked = yield* repo.book(input, { scheduleRequired: config.scheduleRequired })
      yield* durable(ConfirmAppointment.execute({ appointment_id: booked.appointment.id, task_id: booked.task.id }, { discard: true })).pipe(
        Effect.catchAllCause((cause) => Effect.logWarning("confirmation of a booked appointment not started; the recovery sweep will start it", cause))
      )
      return booked
    })

    /** Applies the fields sent, through the appointment's actor; answers it with its people and schedule. */
    const update = Effect.fn("AppointmentBooking.update")(function*(id: AppointmentId, patch: AppointmentUpdate) {
      const updated = yield* callActor(appointments(String(id)).Update({ changes: { ...patch } }))
      const [parties] = yield* repo.withParties([updated])
      return parties!
    })

    return { book, update } as const
  }),
  dependencies: [AppointmentRepo.Default]
}) {}
