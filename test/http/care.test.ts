/**
 * Seed 004's routes (users, appointments, lab results, task records, the root) as its README
 * lists them: its example workflow run as written, the original's fields, status codes and
 * `detail` messages, 404/422 where the original answered 500, passwords never shown, the status
 * rules, and every change audited in the seed's `audit_logs`.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { careConfig, createUser, email, expectStatus, finalTasks, hoursFromNow } from "../support/care.ts"
import { eventually } from "../support/eventually.ts"
import { outboxDrained } from "../support/outbox.ts"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp
const ISO_Z = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

const book = (patientId: number, overrides: Record<string, unknown> = {}) =>
  Effect.map(
    call("POST", "/api/v1/appointments", { patient_id: patientId, scheduled_time: hoursFromNow(48), reason: "Check-up", ...overrides }),
    (response) => expectStatus(response, 201)
  )

layer(TestApp.layer(careConfig), { timeout: 60_000, excludeTestServices: true })("care coordination", (it) => {
  it.effect("runs seed 004's example workflow as its README writes it, ending in audit_logs", () =>
    Effect.gen(function*() {
      // 1. Create a patient via POST /api/v1/users/.
      const patient = expectStatus(yield* call("POST", "/api/v1/users/", {
        email: email("readme"),
        full_name: "Jane Patient",
        role: "patient",
        password: "s3cret-pass"
      }), 201)
      expect(patient).toMatchObject({ full_name: "Jane Patient", role: "patient", is_active: true })
      expect(Object.keys(patient).sort()).toEqual(["created_at", "email", "full_name", "id", "is_active", "registry_patient_id", "role", "updated_at"])
      const doctor = yield* createUser("doctor")
      // 2. Schedule an appointment with POST /api/v1/appointments/.
      const appointment = expectStatus(yield* call("POST", "/api/v1/appointments/", {
        patient_id: patient.id,
        doctor_id: doctor.id,
        scheduled_time: "2031-05-04T09:30:00",
        reason: "Annual check-up"
      }), 201)
      expect(appointment).toMatchObject({
        patient_id: patient.id,
        doctor_id: doctor.id,
        status: "pending",
        // No offset is UTC; answers carry Z.
        scheduled_time: "2031-05-04T09:30:00.000Z",
        patient: { id: patient.id, email: patient.email },
        doctor: { id: doctor.id },
        schedule: null
      })
      // 3. Track background execution using GET /api/v1/tasks/appointments/{appointment_id}.
      const [task] = yield* finalTasks(appointment.id)
      expect(task).toMatchObject({ task_name: "schedule_appointment", status: "succeeded", appointment_id: appointment.id, error_message: null })
      expect(task!.external_reference).toMatch(/^ConfirmAppointment\/[0-9a-f]{32}$/)
      // The confirmation is a workflow whose messages are in PostgreSQL.
      const sql = yield* SqlClient.SqlClient
      const executionId = task!.external_reference!.split("/")[1]!
      // Its run, finished: the reminder (a day before 2031-05-04) is another workflow's, started near its time.
      // (The run's reply is saved just after the transaction that finishes the task record.)
      const persisted = yield* eventually(
        Effect.filterOrFail(
          sql<{ entity_type: string; tag: string; processed: boolean }>`
            SELECT entity_type, tag, processed FROM vigil_cluster_messages WHERE entity_id = ${executionId} ORDER BY id`,
          (rows) => rows.every((row) => row.processed),
          () => "the run is not processed yet"
        )
      )
      expect(persisted).toEqual([{ entity_type: "Workflow/ConfirmAppointment", tag: "run", processed: true }])
      expect(expectStatus(yield* call("GET", `/api/v1/appointments/${appointment.id}`), 200).status).toBe("confirmed")
      // 4. Add lab results using POST /api/v1/lab-results/.
      const result = expectStatus(yield* call("POST", "/api/v1/lab-results/", {
        patient_id: patient.id,
        test_name: "Lipid panel",
        result_data: { ldl: 96, hdl: 55, unit: "mg/dL" },
        recorded_at: "2026-11-30T08:15:00"
      }), 201)
      expect(result).toMatchObject({ patient_id: patient.id, test_name: "Lipid panel", result_data: { ldl: 96, hdl: 55, unit: "mg/dL" }, recorded_at: "2026-11-30T08:15:00.000Z" })
      // 5. Inspect audit entries written by subscribers in the audit_logs table.
      const rows = yield* sql.unsafe<{ event_name: string; payload: any; created_at: Date }>("SELECT event_name, payload, created_at FROM audit_logs")
      const about = (name: string, key: string, id: number) => rows.filter((row) => row.event_name === name && row.payload[key] === id)
      expect(about("user.created", "user_id", patient.id)).toHaveLength(1)
      const created = about("appointment.created", "appointment_id", appointment.id)
      expect(created).toHaveLength(1)
      // The seed's payload fields, and more.
      expect(created[0]!.payload).toMatchObject({
        appointment_id: appointment.id,
        patient_id: patient.id,
        doctor_id: doctor.id,
        scheduled_time: "2031-05-04T09:30:00.000Z",
        schedule_id: null,
        task: { task_id: task!.id, task_name: "schedule_appointment", status: "queued" }
      })
      expect(about("appointment.confirmed", "appointment_id", appointment.id)).toHaveLength(1)
      expect(about("task.updated", "task_id", task!.id).map((row) => row.payload.status)).toEqual(["running", "succeeded"])
      expect(about("lab_result.created", "lab_result_id", result.id)[0]!.payload).toMatchObject({ patient_id: patient.id, test_name: "Lipid panel" })
      expect(rows.every((row) => row.created_at instanceof Date)).toBe(true)
      // And published: the same events went through the outbox.
      yield* outboxDrained(10)
      const types = (yield* sql<{ type: string }>`SELECT event->>'type' AS type FROM outbox WHERE event->>'subject' = ${String(appointment.id)}`).map((r) => r.type)
      expect(types).toEqual(expect.arrayContaining(["vigil.appointment.created", "vigil.appointment.confirmed", "vigil.audit.appointment.confirmed"]))
    }))

  it.effect("answers GET / as the original does", () =>
    Effect.gen(function*() {
      expect(expectStatus(yield* call("GET", "/"), 200)).toEqual({ status: "ok", service: "Health Seeker Backend" })
    }))

  it.effect("keeps passwords only as scrypt hashes, and shows neither in any answer, event or audit record", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const password = "Tr0ub4dor&3-unique"
      const user = yield* createUser("patient", { password })
      const [stored] = yield* sql<{ hashed_password: string }>`SELECT hashed_password FROM users WHERE id = ${user.id}`
      expect(stored!.hashed_password).toMatch(/^\$scrypt\$ln=10,r=8,p=5\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/)
      expect(stored!.hashed_password).not.toContain(password)
      const renamed = expectStatus(yield* call("PATCH", `/api/v1/users/${user.id}`, { password: "another-long-one", full_name: "Renamed" }), 200)
      expect(renamed.full_name).toBe("Renamed")
      const [rehashed] = yield* sql<{ hashed_password: string }>`SELECT hashed_password FROM users WHERE id = ${user.id}`
      expect(rehashed!.hashed_password).not.toBe(stored!.hashed_password)
      for (const answer of [user, renamed, expectStatus(yield* call("GET", `/api/v1/users/${user.id}`), 200)]) {
        expect(JSON.stringify(answer)).not.toMatch(/password|scrypt/)
      }
      const written = yield* sql<{ text: string }>`
        SELECT event::text AS text FROM outbox WHERE event->>'subject' = ${String(user.id)}
        UNION ALL SELECT concat(before::text, after::text) FROM audit_events WHERE entity_type = 'user' AND entity_id = ${String(user.id)}`
      expect(written.length).toBeGreaterThanOrEqual(4)
      for (const { text } of written) {
        expect(text).not.toContain(password)
        expect(text).not.toContain("another-long-one")
        expect(text).not.toContain("scrypt")
      }
      // The change of password is recorded as a fact, not as a value.
      expect(written.some(({ text }) => text.includes(`"password_changed": true`) || text.includes(`"password_changed":true`))).toBe(true)
    }))

  it.effect("validates users as the original does: every bad field named, one account per email in any case", () =>
    Effect.gen(function*() {
      const invalid = expectStatus(yield* call("POST", "/api/v1/users", { email: "not-an-email", full_name: "X", role: "nurse", password: "short" }), 422)
      expect(invalid.detail.map((d: { loc: Array<string> }) => d.loc.join("."))).toEqual(["body.email", "body.role", "body.password"])
      expect(invalid.detail[1]).toMatchObject({ type: "enum", msg: "Input should be 'patient', 'doctor' or 'admin'" })
      expect(invalid.detail[2]).toMatchObject({ type: "string_too_short", msg: "String should have at least 8 characters" })
      expect(expectStatus(yield* call("POST", "/api/v1/users", { email: email("x"), full_name: "X", role: "patient", password: "x".repeat(129) }), 422).detail[0])
        .toMatchObject({ type: "string_too_long", loc: ["body", "password"] })
      const address = email("dup")
      yield* createUser("patient", { email: address })
      expect(expectStatus(yield* call("POST", "/api/v1/users", { email: address.toUpperCase(), full_name: "Y", role: "doctor", password: "long enough" }), 400))
        .toEqual({ detail: "Email already registered" })
      expect(expectStatus(yield* call("GET", "/api/v1/users/987654"), 404)).toEqual({ detail: "User not found" })
      expect(expectStatus(yield* call("GET", "/api/v1/users/0"), 404)).toEqual({ detail: "User not found" })
      expect(expectStatus(yield* call("PATCH", "/api/v1/users/987654", { full_name: "Z" }), 404)).toEqual({ detail: "User not found" })
      expect(expectStatus(yield* call("GET", "/api/v1/users/abc"), 422).detail[0]).toMatchObject({ type: "int_parsing", loc: ["path", "user_id"] })
    }))

  it.effect("links a patient user to a registry patient, once, and only a patient", () =>
    Effect.gen(function*() {
      const registry = expectStatus(yield* call("POST", "/patients", { full_name: "Registry Person", age: 61, sex: "F" }), 201)
      const linked = yield* createUser("patient", { registry_patient_id: registry.id })
      expect(expectStatus(yield* call("GET", `/api/v1/users/${linked.id}`), 200).registry_patient_id).toBe(registry.id)
      expect(expectStatus(yield* call("POST", "/api/v1/users", {
        email: email("second"), full_name: "Second", role: "patient", password: "long enough", registry_patient_id: registry.id
      }), 409).detail).toMatch(/already linked/)
      expect(expectStatus(yield* call("POST", "/api/v1/users", {
        email: email("doc"), full_name: "Doc", role: "doctor", password: "long enough", registry_patient_id: registry.id
      }), 422).detail[0]).toMatchObject({ loc: ["body", "registry_patient_id"] })
      expect(expectStatus(yield* call("POST", "/api/v1/users", {
        email: email("ghost"), full_name: "Ghost", role: "patient", password: "long enough", registry_patient_id: "00000000-0000-4000-8000-000000000000"
      }), 404)).toEqual({ detail: "Registry patient not found" })
      const later = yield* createUser("patient")
      expect(expectStatus(yield* call("PATCH", `/api/v1/users/${linked.id}`, { registry_patient_id: null }), 200).registry_patient_id).toBeNull()
      expect(expectStatus(yield* call("PATCH", `/api/v1/users/${later.id}`, { registry_patient_id: registry.id }), 200).registry_patient_id).toBe(registry.id)
      const doctor = yield* createUser("doctor")
      expect(expectStatus(yield* call("PATCH", `/api/v1/users/${doctor.id}`, { registry_patient_id: registry.id }), 422).detail[0])
        .toMatchObject({ loc: ["body", "registry_patient_id"] })
    }))

  it.effect("answers 404 naming who is missing, and 422 naming the field of a user of another role, where the original answered 500", () =>
    Effect.gen(function*() {
      const patient = yield* createUser("patient")
      const doctor = yield* createUser("doctor")
      const at = hoursFromNow(30)
      expect(expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: 876543, scheduled_time: at, reason: "x" }), 404))
        .toEqual({ detail: "Patient not found" })
      expect(expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: patient.id, doctor_id: 876543, scheduled_time: at, reason: "x" }), 404))
        .toEqual({ detail: "Doctor not found" })
      expect(expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: doctor.id, scheduled_time: at, reason: "x" }), 422).detail[0])
        .toMatchObject({ type: "value_error", loc: ["body", "patient_id"], input: doctor.id })
      expect(expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: patient.id, doctor_id: patient.id, scheduled_time: at, reason: "x" }), 422)
        .detail[0]).toMatchObject({ loc: ["body", "doctor_id"] })
      expect(expectStatus(yield* call("POST", "/api/v1/lab-results", { patient_id: 876543, test_name: "CBC", result_data: {}, recorded_at: at }), 404))
        .toEqual({ detail: "Patient not found" })
      expect(expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: patient.id, scheduled_time: "2020-01-01T00:00:00Z", reason: "x" }), 400))
        .toEqual({ detail: "Cannot book appointments in the past" })
      const invalid = expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: "one", scheduled_time: "2031-02-30T10:00:00", reason: "x".repeat(256) }), 422)
      expect(invalid.detail.map((d: { loc: Array<string> }) => d.loc.join("."))).toEqual(["body.patient_id", "body.scheduled_time", "body.reason"])
      // Nothing was written by the refused bookings.
      expect(expectStatus(yield* call("GET", `/api/v1/appointments/patients/${patient.id}`), 200)).toEqual([])
    }))

  it.effect("lists a patient's and a doctor's appointments latest scheduled first, with skip and limit", () =>
    Effect.gen(function*() {
      const patient = yield* createUser("patient")
      const doctor = yield* createUser("doctor")
      const times = [50, 10, 30, 20, 40].map(hoursFromNow)
      const booked = []
      for (const time of times) booked.push(yield* book(patient.id, { doctor_id: doctor.id, scheduled_time: time }))
      const byTime = [...booked].sort((a, b) => b.scheduled_time.localeCompare(a.scheduled_time)).map((a) => a.id)
      const listed = expectStatus(yield* call("GET", `/api/v1/appointments/patients/${patient.id}`), 200)
      expect(listed.map((a: { id: number }) => a.id)).toEqual(byTime)
      expect(listed[0]).toMatchObject({ patient: { id: patient.id }, doctor: { id: doctor.id } })
      expect(listed.every((a: { scheduled_time: string; created_at: string }) => ISO_Z.test(a.scheduled_time) && ISO_Z.test(a.created_at))).toBe(true)
      expect(expectStatus(yield* call("GET", `/api/v1/appointments/doctors/${doctor.id}?skip=1&limit=2`), 200).map((a: { id: number }) => a.id))
        .toEqual(byTime.slice(1, 3))
      expect(expectStatus(yield* call("GET", `/api/v1/appointments/patients/${patient.id}?limit=0`), 200)).toEqual([])
      expect(expectStatus(yield* call("GET", "/api/v1/appointments/patients/876543"), 200)).toEqual([])
      expect(expectStatus(yield* call("GET", `/api/v1/appointments/patients/${patient.id}?limit=1001`), 422).detail[0].loc).toEqual(["query", "limit"])
    }))

  it.effect("changes an appointment's status only along pending -> confirmed | cancelled, confirmed -> completed | cancelled, with 409 naming both statuses", () =>
    Effect.gen(function*() {
      const patient = yield* createUser("patient")
      const appointment = yield* book(patient.id)
      yield* finalTasks(appointment.id)
      expect(expectStatus(yield* call("PATCH", `/api/v1/appointments/${appointment.id}`, { status: "pending" }), 409))
        .toEqual({ detail: "Appointment status cannot change from confirmed to pending" })
      const noted = expectStatus(yield* call("PATCH", `/api/v1/appointments/${appointment.id}`, {
        notes: "Fasting", diagnosis: "Healthy", prescription: "None", status: "confirmed"
      }), 200)
      expect(noted).toMatchObject({ status: "confirmed", notes: "Fasting", diagnosis: "Healthy", prescription: "None" })
      expect(expectStatus(yield* call("PATCH", `/api/v1/appointments/${appointment.id}`, { status: "completed" }), 200).status).toBe("completed")
      for (const to of ["pending", "confirmed", "cancelled"]) {
        expect(expectStatus(yield* call("PATCH", `/api/v1/appointments/${appointment.id}`, { status: to }), 409))
          .toEqual({ detail: `Appointment status cannot change from completed to ${to}` })
      }
      expect(expectStatus(yield* call("PATCH", `/api/v1/appointments/${appointment.id}`, { scheduled_time: hoursFromNow(60) }), 409).detail)
        .toBe("A completed appointment cannot be moved to another time")
      expect(expectStatus(yield* call("PATCH", `/api/v1/appointments/${appointment.id}`, { status: "lost" }), 422).detail[0])
        .toMatchObject({ type: "enum", loc: ["body", "status"] })
      expect(expectStatus(yield* call("PATCH", "/api/v1/appointments/876543", { notes: "x" }), 404)).toEqual({ detail: "Appointment not found" })
      expect(expectStatus(yield* call("GET", "/api/v1/appointments/876543"), 404)).toEqual({ detail: "Appointment not found" })
      // The database holds the same rule against anyone.
      const sql = yield* SqlClient.SqlClient
      const refused = yield* Effect.flip(sql`UPDATE appointments SET status = 'pending' WHERE id = ${appointment.id}`)
      expect(String(refused.cause)).toMatch(/cannot change status from completed to pending/)
    }))

  it.effect("moves an appointment to another time unless the patient has one then, and audits each change once", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const patient = yield* createUser("patient")
      const first = yield* book(patient.id, { scheduled_time: hoursFromNow(70) })
      const second = yield* book(patient.id, { scheduled_time: hoursFromNow(80) })
      expect(expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: patient.id, scheduled_time: hoursFromNow(70), reason: "again" }), 400))
        .toEqual({ detail: "You already have an appointment at this time" })
      expect(expectStatus(yield* call("PATCH", `/api/v1/appointments/${second.id}`, { scheduled_time: hoursFromNow(70) }), 400))
        .toEqual({ detail: "You already have an appointment at this time" })
      expect(expectStatus(yield* call("PATCH", `/api/v1/appointments/${first.id}`, { status: "cancelled" }), 200).status).toBe("cancelled")
      // A cancelled appointment no longer holds its time.
      expect(expectStatus(yield* call("PATCH", `/api/v1/appointments/${second.id}`, { scheduled_time: hoursFromNow(70) }), 200).scheduled_time)
        .toBe(hoursFromNow(70))
      const actions = yield* sql<{ action: string }>`
        SELECT action FROM audit_events WHERE entity_type = 'appointment' AND entity_id = ${String(second.id)} ORDER BY seq`
      expect(actions.map((a) => a.action)).toEqual(expect.arrayContaining(["created", "updated"]))
      expect(actions.filter((a) => a.action === "updated")).toHaveLength(1)
    }))

  it.effect("answers task records by id and lists an appointment's newest first", () =>
    Effect.gen(function*() {
      const patient = yield* createUser("patient")
      const appointment = yield* book(patient.id)
      const [task] = yield* finalTasks(appointment.id)
      expect(Object.keys(task!).sort()).toEqual(["appointment_id", "created_at", "error_message", "external_reference", "id", "status", "task_name", "updated_at"])
      expect(expectStatus(yield* call("GET", `/api/v1/tasks/${task!.id}`), 200)).toEqual(task)
      expect(expectStatus(yield* call("GET", "/api/v1/tasks/876543"), 404)).toEqual({ detail: "Task not found" })
      expect(expectStatus(yield* call("GET", "/api/v1/tasks/appointments/876543"), 200)).toEqual([])
    }))

  it.effect("records lab results of a patient and lists them most recently recorded first", () =>
    Effect.gen(function*() {
      const patient = yield* createUser("patient")
      const recorded = ["2026-10-01T08:00:00Z", "2026-11-01T08:00:00Z", "2026-09-01T08:00:00Z"]
      const ids = []
      for (const [i, at] of recorded.entries()) {
        ids.push(expectStatus(yield* call("POST", "/api/v1/lab-results", { patient_id: patient.id, test_name: `Test ${i}`, result_data: { i }, recorded_at: at }), 201).id)
      }
      expect(expectStatus(yield* call("GET", `/api/v1/lab-results/patients/${patient.id}`), 200).map((r: { id: number }) => r.id)).toEqual([ids[1], ids[0], ids[2]])
      expect(expectStatus(yield* call("GET", `/api/v1/lab-results/patients/${patient.id}?skip=2`), 200).map((r: { id: number }) => r.id)).toEqual([ids[2]])
      const invalid = expectStatus(yield* call("POST", "/api/v1/lab-results", { patient_id: patient.id, test_name: "X", result_data: [1, 2], recorded_at: "yesterday" }), 422)
      expect(invalid.detail.map((d: { loc: Array<string> }) => d.loc.join("."))).toEqual(["body.result_data", "body.recorded_at"])
    }))
})
