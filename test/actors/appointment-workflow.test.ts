/**
 * The appointment workflows on the durable cluster: confirmation after APPOINTMENT_CONFIRM_DELAY
 * (its task record `queued` meanwhile), never of an appointment cancelled in between; the
 * reminder from a durable sleep, for the time the appointment has when it is due, and never for a
 * cancelled one; and, for any sequence of updates racing the confirmation, a status history that
 * keeps the rules, a final task record, and one confirmation at most.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Runtime } from "effect"
import fc from "fast-check"
import { ConfirmAppointment } from "../../src/actors/AppointmentWorkflows.ts"
import { canMoveAppointment } from "../../src/domain/AppointmentStatus.ts"
import { asUser, careConfig, createUser, doctorWithSchedule, expectStatus, finalTasks, hoursFromNow } from "../support/care.ts"
import { eventually } from "../support/eventually.ts"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp

const CONFIRM_DELAY_MS = 1500

/** The audit records of one appointment, in chain order. */
const audited = (appointmentId: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ action: string; status: string; scheduled_time: string }>`
      SELECT action, after->>'status' AS status, after->>'scheduled_time' AS scheduled_time
      FROM audit_events WHERE entity_type = 'appointment' AND entity_id = ${String(appointmentId)} ORDER BY seq`)

/** Whether the confirmation workflow of this task record has finished (its run has a final reply). */
const confirmationFinished = (appointmentId: number, taskId: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const executionId = yield* ConfirmAppointment.executionId({ appointment_id: appointmentId as never, task_id: taskId as never })
    const rows = yield* sql<{ payload: string }>`
      SELECT r.payload FROM vigil_cluster_messages m JOIN vigil_cluster_replies r ON r.id = m.last_reply_id
      WHERE m.entity_type = 'Workflow/ConfirmAppointment' AND m.entity_id = ${executionId} AND m.tag = 'run'`
    return rows.some((row) => !row.payload.includes("Suspended"))
  })

describe("appointment workflows", () => {
  layer(TestApp.layer({ ...careConfig, APPOINTMENT_CONFIRM_DELAY: `${CONFIRM_DELAY_MS} millis`, APPOINTMENT_REMINDER_BEFORE: "1 hour" }), {
    timeout: 120_000,
    excludeTestServices: true
  })("with a confirmation delay and reminders an hour before", (it) => {
    it.effect("keeps the task record queued for the delay, then confirms", () =>
      Effect.gen(function*() {
        const patient = yield* createUser("patient")
        const booked = expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: patient.id, scheduled_time: hoursFromNow(30), reason: "Later" }), 201)
        const started = Date.now()
        const [queued] = expectStatus(yield* call("GET", `/api/v1/tasks/appointments/${booked.id}`), 200)
        expect(queued).toMatchObject({ status: "queued", external_reference: null })
        const [done] = yield* finalTasks(booked.id)
        expect(Date.now() - started).toBeGreaterThanOrEqual(CONFIRM_DELAY_MS - 200)
        expect(done).toMatchObject({ status: "succeeded" })
        expect(expectStatus(yield* call("GET", `/api/v1/appointments/${booked.id}`), 200).status).toBe("confirmed")
      }))

    it.effect("never confirms an appointment cancelled before its confirmation: the task record fails at the cancellation", () =>
      Effect.gen(function*() {
        const patient = yield* createUser("patient")
        const booked = expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: patient.id, scheduled_time: hoursFromNow(31), reason: "Cancelled" }), 201)
        expect(expectStatus(yield* call("PATCH", `/api/v1/appointments/${booked.id}`, { status: "cancelled" }), 200).status).toBe("cancelled")
        const [task] = expectStatus(yield* call("GET", `/api/v1/tasks/appointments/${booked.id}`), 200)
        expect(task).toMatchObject({ status: "failed", error_message: "Appointment was cancelled before it could be confirmed" })
        // The confirmation's time comes and goes; it finds the work decided.
        yield* eventually(Effect.flatMap(confirmationFinished(booked.id, task.id), (done) => (done ? Effect.void : Effect.fail("still running"))), 20)
        expect(expectStatus(yield* call("GET", `/api/v1/appointments/${booked.id}`), 200).status).toBe("cancelled")
        expect(expectStatus(yield* call("GET", `/api/v1/tasks/${task.id}`), 200)).toEqual(task)
        expect((yield* audited(booked.id)).map((a) => a.action)).toEqual(["created", "cancelled"])
      }))

    it.effect("fails the confirmation with why when the appointment is gone, or its schedule's places are all confirmed", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const patient = yield* createUser("patient")
        const gone = expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: patient.id, scheduled_time: hoursFromNow(32), reason: "Gone" }), 201)
        const [goneTask] = expectStatus(yield* call("GET", `/api/v1/tasks/appointments/${gone.id}`), 200)
        yield* sql`DELETE FROM appointments WHERE id = ${gone.id}`
        // The task record outlives its appointment (the seed's SET NULL) and says what became of it.
        const failed = yield* eventually(
          Effect.flatMap(call("GET", `/api/v1/tasks/${goneTask.id}`), (r) => r.body.status === "queued" ? Effect.fail("still queued") : Effect.succeed(r.body)),
          20
        )
        expect(failed).toMatchObject({ status: "failed", error_message: "Appointment not found", appointment_id: null })

        // Two bookings into two places, then the doctor keeps one place: the second confirmation finds it taken.
        const { doctor, schedule } = yield* doctorWithSchedule({ maxPatients: 2, startsIn: 60 })
        const other = yield* createUser("patient")
        const first = expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: patient.id, schedule_id: schedule.id, scheduled_time: hoursFromNow(61), reason: "First" }), 201)
        const second = expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: other.id, schedule_id: schedule.id, scheduled_time: hoursFromNow(61), reason: "Second" }), 201)
        expectStatus(yield* call("PATCH", `/api/v1/doctors/me/schedules/${schedule.id}`, { max_patients: 1 }, asUser(doctor.id)), 200)
        // Whichever is confirmed first takes the place.
        const outcomes = [(yield* finalTasks(first.id))[0]!, (yield* finalTasks(second.id))[0]!]
        expect(outcomes.map((t) => t.status).sort()).toEqual(["failed", "succeeded"])
        expect(outcomes.find((t) => t.status === "failed")!.error_message).toBe("Selected schedule is fully booked")
        const statuses = yield* Effect.forEach([first, second], (a) => Effect.map(call("GET", `/api/v1/appointments/${a.id}`), (r) => r.body.status))
        expect(statuses.sort()).toEqual(["confirmed", "pending"])
      }))

    it.effect("sends appointment.reminder_due once when it is due, for the time the appointment has then, and never for a cancelled one", () =>
      Effect.gen(function*() {
        const patient = yield* createUser("patient")
        const hour = 3_600_000
        const at = (seconds: number) => new Date(Date.now() + hour + seconds * 1000).toISOString()
        const book = (time: string) =>
          Effect.map(call("POST", "/api/v1/appointments", { patient_id: patient.id, scheduled_time: time, reason: "Remind me" }), (r) => expectStatus(r, 201))
        // Due in about 4 s; a second one cancelled after it is confirmed; a third moved to be due 4 s later than booked.
        const kept = yield* book(at(4))
        const cancelled = yield* book(at(5))
        const moved = yield* book(at(6))
        yield* Effect.forEach([kept, cancelled, moved], (a) => finalTasks(a.id))
        expectStatus(yield* call("PATCH", `/api/v1/appointments/${cancelled.id}`, { status: "cancelled" }), 200)
        const newTime = at(10)
        expectStatus(yield* call("PATCH", `/api/v1/appointments/${moved.id}`, { scheduled_time: newTime }), 200)
        const reminders = (id: number) => Effect.map(audited(id), (rows) => rows.filter((row) => row.action === "reminder_due"))
        const sent = yield* eventually(
          Effect.flatMap(Effect.all([reminders(kept.id), reminders(moved.id)]), ([k, m]) => (k.length > 0 && m.length > 0 ? Effect.succeed([k, m]) : Effect.fail("not yet"))),
          30
        )
        expect(sent[0]).toHaveLength(1)
        expect(sent[1]).toEqual([{ action: "reminder_due", status: "confirmed", scheduled_time: newTime }])
        // The moved appointment was reminded of once, for its new time, by the new time's workflow;
        // the reminder set up for the old time, if it was, came to nothing.
        const sql = yield* SqlClient.SqlClient
        const [{ reminder_for }] = (yield* sql<{ reminder_for: Date }>`SELECT reminder_for FROM appointments WHERE id = ${moved.id}`) as [{ reminder_for: Date }]
        expect(reminder_for.toISOString()).toBe(newTime)
        // Well past the cancelled one's time to be reminded: nothing for it.
        expect(yield* reminders(cancelled.id)).toEqual([])
        const [event] = yield* sql<{ data: any }>`
          SELECT event->'data' AS data FROM outbox WHERE event->>'type' = 'vigil.appointment.reminder_due' AND event->>'subject' = ${String(kept.id)}`
        expect(event!.data).toMatchObject({ appointment_id: kept.id, patient_id: patient.id, scheduled_time: kept.scheduled_time, remind_before_seconds: 3600 })
      }))
  })

  layer(TestApp.layer(careConfig), { timeout: 180_000, excludeTestServices: true })("confirmation at once, racing updates", (it) => {
    it.effect("for any sequence of updates racing the confirmation: a history that keeps the rules, a final task record, one confirmation at most", () =>
      Effect.gen(function*() {
        const runtime = yield* Effect.runtime<any>()
        const run = <A>(effect: Effect.Effect<A, unknown, any>) => Runtime.runPromise(runtime)(effect)
        const patient = yield* createUser("patient")
        let slot = 0
        const update = fc.record({
          status: fc.option(fc.constantFrom("pending", "confirmed", "completed", "cancelled"), { nil: undefined }),
          notes: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
          pauseMs: fc.integer({ min: 0, max: 25 })
        })
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(fc.array(update, { minLength: 1, maxLength: 5 }), (updates) =>
              run(Effect.gen(function*() {
                const booked = expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: patient.id, scheduled_time: hoursFromNow(500 + slot++), reason: "Race" }), 201)
                for (const { notes, pauseMs, status } of updates) {
                  yield* Effect.sleep(pauseMs)
                  const answer = yield* call("PATCH", `/api/v1/appointments/${booked.id}`, { ...(status ? { status } : {}), ...(notes !== undefined ? { notes } : {}) })
                  expect([200, 409], JSON.stringify(answer.body)).toContain(answer.status)
                  if (answer.status === 409) expect(answer.body.detail).toMatch(new RegExp(`^Appointment status cannot change from \\w+ to ${status}$`))
                }
                const [task] = yield* finalTasks(booked.id)
                const history = yield* audited(booked.id)
                const statuses = history.map((h) => h.status)
                for (let i = 1; i < statuses.length; i++) {
                  expect(canMoveAppointment(statuses[i - 1] as never, statuses[i] as never), statuses.join(" -> ")).toBe(true)
                }
                const confirmations = history.filter((h) => h.action === "confirmed")
                expect(confirmations.length).toBeLessThanOrEqual(1)
                const cancelledFirst = statuses.indexOf("cancelled") >= 0 && statuses.indexOf("confirmed") < 0
                if (cancelledFirst) expect(task).toMatchObject({ status: "failed", error_message: "Appointment was cancelled before it could be confirmed" })
                else expect(task!.status).toBe("succeeded")
                const now = expectStatus(yield* call("GET", `/api/v1/appointments/${booked.id}`), 200)
                expect(now.status).toBe(statuses.at(-1))
              }))
            ),
            { numRuns: 25 }
          )
        )
      }), 180_000)
  })
})
