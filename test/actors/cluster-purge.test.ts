/**
 * The purge of the durable cluster's messages: a finished workflow's messages and an Appointment
 * actor's processed commands go once older than CLUSTER_MESSAGE_RETENTION; a workflow still
 * sleeping is kept whole, and wakes and finishes as if nothing had been purged.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { careConfig, createUser, expectStatus, finalTasks, hoursFromNow } from "../support/care.ts"
import { eventually } from "../support/eventually.ts"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp

/** The cluster's messages about one workflow execution (its own and its clock's), or one appointment's actor. */
const messagesOf = (entityId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ entity_type: string; tag: string }>`SELECT entity_type, tag FROM vigil_cluster_messages WHERE entity_id = ${entityId}`)

layer(TestApp.layer({ ...careConfig, CLUSTER_MESSAGE_RETENTION: "0 millis", CLUSTER_PURGE_INTERVAL: "1 second" }), {
  timeout: 60_000,
  excludeTestServices: true
})("cluster message purge", (it) => {
  it.effect("removes what is finished and keeps a sleeping workflow whole, which still wakes and finishes", () =>
    Effect.gen(function*() {
      const patient = yield* createUser("patient")
      // Confirmed at once: its workflow is finished.
      const done = expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: patient.id, scheduled_time: hoursFromNow(40), reason: "Done" }), 201)
      const [doneTask] = yield* finalTasks(done.id)
      expectStatus(yield* call("PATCH", `/api/v1/appointments/${done.id}`, { notes: "a command to the actor" }), 200)
      const finished = doneTask!.external_reference!.split("/")[1]!
      yield* eventually(Effect.filterOrFail(messagesOf(finished), (rows) => rows.length === 0, () => "finished workflow not purged yet"), 20)
      yield* eventually(Effect.filterOrFail(messagesOf(String(done.id)), (rows) => rows.length === 0, () => "processed commands not purged yet"), 20)

      // A reminder due in a few seconds: its workflow sleeps on its clock meanwhile, and is kept.
      const soon = new Date(Date.now() + 24 * 3_600_000 + 6_000).toISOString()
      const sleeping = expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: patient.id, scheduled_time: soon, reason: "Remind me" }), 201)
      yield* finalTasks(sleeping.id)
      const sql = yield* SqlClient.SqlClient
      const reminderRun = yield* eventually(
        Effect.flatMap(
          sql<{ entity_id: string }>`
            SELECT entity_id FROM vigil_cluster_messages
            WHERE entity_type = 'Workflow/AppointmentReminder' AND payload::jsonb->>'appointment_id' = ${String(sleeping.id)}`,
          (rows) => rows[0] === undefined ? Effect.fail("the reminder is not started yet") : Effect.succeed(rows[0].entity_id)
        ),
        20
      )
      // Two purges pass over it while it sleeps.
      yield* Effect.sleep("2500 millis")
      const kept = yield* messagesOf(reminderRun)
      expect(kept.map((m) => m.entity_type).sort()).toEqual(["Workflow/-/DurableClock", "Workflow/AppointmentReminder"])
      const reminders = yield* eventually(
        Effect.flatMap(
          sql<{ id: string }>`SELECT id FROM audit_events WHERE entity_type = 'appointment' AND entity_id = ${String(sleeping.id)} AND action = 'reminder_due'`,
          (rows) => rows.length === 0 ? Effect.fail("no reminder yet") : Effect.succeed(rows)
        ),
        20
      )
      expect(reminders).toHaveLength(1)
      // Finished now: purged in turn.
      yield* eventually(Effect.filterOrFail(messagesOf(reminderRun), (rows) => rows.length === 0, () => "finished reminder not purged yet"), 20)
    }))
})
