/**
 * Seed 004 v2's scheduling: doctors' profiles and schedules, patients' profiles, the search for
 * doctors with free schedules, every booking rule with its 400 message, and booking that is
 * race-safe: concurrent bookings never overfill a schedule or give a patient two appointments at
 * one time. "me" is the caller named by `X-User-Id` until authentication lands.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { asUser, careConfig, createUser, doctorWithSchedule, expectStatus, hoursFromNow } from "../support/care.ts"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp

layer(TestApp.layer(careConfig), { timeout: 120_000, excludeTestServices: true })("scheduling", (it) => {
  it.effect("answers v2's 401 without a caller and 403 for a caller of another role", () =>
    Effect.gen(function*() {
      const patient = yield* createUser("patient")
      const doctor = yield* createUser("doctor")
      expect(expectStatus(yield* call("GET", "/api/v1/doctors/me/profile"), 401)).toEqual({ detail: "Not authenticated" })
      expect(expectStatus(yield* call("GET", "/api/v1/doctors/me/profile", undefined, asUser(876543)), 401)).toEqual({ detail: "Inactive or missing user" })
      expect(expectStatus(yield* call("GET", "/api/v1/doctors/me/profile", undefined, asUser(patient.id)), 403)).toEqual({ detail: "Not enough permissions" })
      expect(expectStatus(yield* call("GET", "/api/v1/patients/me/profile", undefined, asUser(doctor.id)), 403)).toEqual({ detail: "Not enough permissions" })
      expectStatus(yield* call("PATCH", `/api/v1/users/${doctor.id}`, { is_active: false }), 200)
      expect(expectStatus(yield* call("GET", "/api/v1/doctors/me/profile", undefined, asUser(doctor.id)), 401)).toEqual({ detail: "Inactive or missing user" })
      expect(expectStatus(yield* call("GET", "/api/v1/doctors/me/profile", undefined, { "x-user-id": "me" }), 422).detail[0].loc).toEqual(["header", "x-user-id"])
    }))

  it.effect("creates a doctor's profile only with a specialization, then changes only the fields sent", () =>
    Effect.gen(function*() {
      const doctor = yield* createUser("doctor")
      const me = asUser(doctor.id)
      expect(expectStatus(yield* call("GET", "/api/v1/doctors/me/profile", undefined, me), 404)).toEqual({ detail: "Profile not found" })
      expect(expectStatus(yield* call("PUT", "/api/v1/doctors/me/profile", { bio: "Hello" }, me), 400).detail).toMatch(/Specialization is required/)
      const license = `LIC-${doctor.id}`
      const created = expectStatus(yield* call("PUT", "/api/v1/doctors/me/profile", { specialization: "Cardiology", license_number: license, years_of_experience: 12 }, me), 200)
      expect(created).toMatchObject({ user_id: doctor.id, specialization: "Cardiology", license_number: license, years_of_experience: 12, bio: null, user: { id: doctor.id } })
      const changed = expectStatus(yield* call("PUT", "/api/v1/doctors/me/profile", { bio: "Heart doctor" }, me), 200)
      expect(changed).toMatchObject({ id: created.id, specialization: "Cardiology", bio: "Heart doctor" })
      expect(expectStatus(yield* call("GET", "/api/v1/doctors/me/profile", undefined, me), 200)).toEqual(changed)
      const other = yield* createUser("doctor")
      expect(expectStatus(yield* call("PUT", "/api/v1/doctors/me/profile", { specialization: "Cardiology", license_number: license }, asUser(other.id)), 409).detail)
        .toMatch(/License number/)
      expect(expectStatus(yield* call("PUT", "/api/v1/doctors/me/profile", { years_of_experience: -1 }, me), 422).detail[0].loc).toEqual(["body", "years_of_experience"])
    }))

  it.effect("keeps a doctor's schedules apart: a window that ends after it starts, a profile first, no overlap", () =>
    Effect.gen(function*() {
      const doctor = yield* createUser("doctor")
      const me = asUser(doctor.id)
      const window = { start_time: hoursFromNow(100), end_time: hoursFromNow(104) }
      expect(expectStatus(yield* call("POST", "/api/v1/doctors/me/schedules", window, me), 400).detail).toMatch(/doctor profile/)
      expectStatus(yield* call("PUT", "/api/v1/doctors/me/profile", { specialization: "Dermatology" }, me), 200)
      const schedule = expectStatus(yield* call("POST", "/api/v1/doctors/me/schedules", window, me), 201)
      expect(schedule).toMatchObject({ ...window, max_patients: 1, is_active: true, booked: 0 })
      expect(expectStatus(yield* call("POST", "/api/v1/doctors/me/schedules", { start_time: hoursFromNow(103), end_time: hoursFromNow(106) }, me), 400))
        .toEqual({ detail: "Schedule overlaps with existing availability" })
      expect(expectStatus(yield* call("POST", "/api/v1/doctors/me/schedules", { start_time: window.end_time, end_time: window.start_time }, me), 422).detail[0])
        .toMatchObject({ loc: ["body", "end_time"] })
      expect(expectStatus(yield* call("POST", "/api/v1/doctors/me/schedules", { ...window, max_patients: 0 }, me), 422).detail[0].loc).toEqual(["body", "max_patients"])
      // Right after it: no overlap.
      const next = expectStatus(yield* call("POST", "/api/v1/doctors/me/schedules", { start_time: window.end_time, end_time: hoursFromNow(106), max_patients: 3 }, me), 201)
      expect(expectStatus(yield* call("PATCH", `/api/v1/doctors/me/schedules/${next.id}`, { start_time: hoursFromNow(103) }, me), 400).detail).toMatch(/overlaps/)
      expect(expectStatus(yield* call("PATCH", `/api/v1/doctors/me/schedules/${next.id}`, { end_time: hoursFromNow(90) }, me), 422).detail[0].loc)
        .toEqual(["body", "end_time"])
      expect(expectStatus(yield* call("PATCH", `/api/v1/doctors/me/schedules/${next.id}`, { max_patients: 5 }, me), 200).max_patients).toBe(5)
      expect(expectStatus(yield* call("GET", "/api/v1/doctors/me/schedules", undefined, me), 200).map((s: { id: number }) => s.id)).toEqual([schedule.id, next.id])
      // Another doctor's schedule is not mine.
      const other = yield* createUser("doctor")
      expectStatus(yield* call("PUT", "/api/v1/doctors/me/profile", { specialization: "Dermatology" }, asUser(other.id)), 200)
      expect(expectStatus(yield* call("PATCH", `/api/v1/doctors/me/schedules/${next.id}`, { max_patients: 1 }, asUser(other.id)), 404))
        .toEqual({ detail: "Schedule not found" })
      expect(expectStatus(yield* call("DELETE", `/api/v1/doctors/me/schedules/${next.id}`, undefined, asUser(other.id)), 404))
        .toEqual({ detail: "Schedule not found" })
      expect((yield* call("DELETE", `/api/v1/doctors/me/schedules/${next.id}`, undefined, me)).status).toBe(204)
      expect(expectStatus(yield* call("DELETE", `/api/v1/doctors/me/schedules/${next.id}`, undefined, me), 404)).toEqual({ detail: "Schedule not found" })
    }))

  it.effect("refuses each booking that breaks a rule with v2's 400 message, and books the rest into the doctor's schedule", () =>
    Effect.gen(function*() {
      const { doctor, schedule } = yield* doctorWithSchedule({ maxPatients: 1, startsIn: 120, hours: 4 })
      const patient = yield* createUser("patient")
      const refused = (body: Record<string, unknown>) =>
        Effect.map(call("POST", "/api/v1/appointments", { patient_id: patient.id, reason: "Rules", scheduled_time: hoursFromNow(121), ...body }), (r) => expectStatus(r, 400).detail)
      expect(yield* refused({ schedule_id: 876543 })).toBe("Selected schedule is unavailable")
      const stranger = yield* createUser("doctor")
      expect(yield* refused({ schedule_id: schedule.id, doctor_id: stranger.id })).toBe("Schedule does not belong to the specified doctor")
      expect(yield* refused({ schedule_id: schedule.id, scheduled_time: "2020-01-01T10:00:00Z" })).toBe("Cannot book appointments in the past")
      expect(yield* refused({ schedule_id: schedule.id, scheduled_time: hoursFromNow(119) })).toBe("Scheduled time is outside the doctor's availability window")
      const booked = expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: patient.id, schedule_id: schedule.id, scheduled_time: hoursFromNow(121), reason: "Rules" }), 201)
      // The schedule's doctor is the appointment's doctor.
      expect(booked).toMatchObject({ doctor_id: doctor.id, schedule_id: schedule.id, schedule: { id: schedule.id, booked: 1 }, doctor: { id: doctor.id } })
      const other = yield* createUser("patient")
      expect(expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: other.id, schedule_id: schedule.id, scheduled_time: hoursFromNow(122), reason: "Full" }), 400))
        .toEqual({ detail: "Selected schedule is fully booked" })
      // A schedule with live bookings stays; an inactive one takes no bookings.
      expect(expectStatus(yield* call("DELETE", `/api/v1/doctors/me/schedules/${schedule.id}`, undefined, asUser(doctor.id)), 409).detail).toMatch(/1 active appointments/)
      expectStatus(yield* call("PATCH", `/api/v1/doctors/me/schedules/${schedule.id}`, { is_active: false, max_patients: 3 }, asUser(doctor.id)), 200)
      expect(expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: other.id, schedule_id: schedule.id, scheduled_time: hoursFromNow(122), reason: "Off" }), 400))
        .toEqual({ detail: "Selected schedule is unavailable" })
      expectStatus(yield* call("PATCH", `/api/v1/doctors/me/schedules/${schedule.id}`, { is_active: true }, asUser(doctor.id)), 200)
      expectStatus(yield* call("PATCH", `/api/v1/users/${doctor.id}`, { is_active: false }), 200)
      expect(expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: other.id, schedule_id: schedule.id, scheduled_time: hoursFromNow(122), reason: "Gone" }), 400))
        .toEqual({ detail: "Doctor schedule is not linked to an active doctor" })
    }))

  it.effect("finds doctors with a free schedule by specialization and time, and lists a doctor's schedules", () =>
    Effect.gen(function*() {
      const tag = `Oncology-${Date.now().toString(36)}`
      const full = yield* doctorWithSchedule({ maxPatients: 1, startsIn: 200 })
      const free = yield* doctorWithSchedule({ maxPatients: 2, startsIn: 200 })
      for (const { doctor } of [full, free]) expectStatus(yield* call("PUT", "/api/v1/doctors/me/profile", { specialization: tag }, asUser(doctor.id)), 200)
      const patient = yield* createUser("patient")
      expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: patient.id, schedule_id: full.schedule.id, scheduled_time: hoursFromNow(201), reason: "x" }), 201)
      const found = expectStatus(yield* call("GET", `/api/v1/patients/doctors?specialization=${tag.toLowerCase().slice(0, 12)}`), 200)
        .filter((d: { doctor: { specialization: string } }) => d.doctor.specialization === tag)
      expect(found.map((d: { doctor: { user_id: number } }) => d.doctor.user_id)).toEqual([free.doctor.id])
      expect(found[0].schedules.map((s: { id: number }) => s.id)).toEqual([free.schedule.id])
      expect(found[0].doctor.user).toMatchObject({ id: free.doctor.id, role: "doctor" })
      const tooLate = expectStatus(yield* call("GET", `/api/v1/patients/doctors?specialization=${tag}&latest=${encodeURIComponent(hoursFromNow(100))}`), 200)
      expect(tooLate).toEqual([])
      const tooEarly = expectStatus(yield* call("GET", `/api/v1/patients/doctors?specialization=${tag}&earliest=${encodeURIComponent(hoursFromNow(300))}`), 200)
      expect(tooEarly).toEqual([])
      // A pattern character is a literal.
      expect(expectStatus(yield* call("GET", "/api/v1/patients/doctors?specialization=%25"), 200)).toEqual([])
      expect(expectStatus(yield* call("GET", `/api/v1/patients/doctors/${full.doctor.id}/schedules`), 200).map((s: { id: number; booked: number }) => [s.id, s.booked]))
        .toEqual([[full.schedule.id, 1]])
      expect(expectStatus(yield* call("GET", `/api/v1/patients/doctors/${patient.id}/schedules`), 404)).toEqual({ detail: "Doctor not found" })
    }))

  it.effect("keeps a patient's profile and lists each side's own appointments", () =>
    Effect.gen(function*() {
      const { doctor, schedule } = yield* doctorWithSchedule({ maxPatients: 2, startsIn: 220 })
      const patient = yield* createUser("patient")
      const me = asUser(patient.id)
      expect(expectStatus(yield* call("GET", "/api/v1/patients/me/profile", undefined, me), 404)).toEqual({ detail: "Profile not found" })
      const profile = expectStatus(yield* call("PUT", "/api/v1/patients/me/profile", { date_of_birth: "1984-02-29", blood_type: "AB-" }, me), 200)
      expect(profile).toMatchObject({ user_id: patient.id, date_of_birth: "1984-02-29", blood_type: "AB-", gender: null })
      expect(expectStatus(yield* call("PUT", "/api/v1/patients/me/profile", { gender: "female" }, me), 200)).toMatchObject({ id: profile.id, gender: "female", blood_type: "AB-" })
      expect(expectStatus(yield* call("PUT", "/api/v1/patients/me/profile", { date_of_birth: "1985-02-29", blood_type: "TOOLONG" }, me), 422).detail.map((d: { loc: Array<string> }) => d.loc[1]))
        .toEqual(["date_of_birth", "blood_type"])
      const booked = expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: patient.id, schedule_id: schedule.id, scheduled_time: hoursFromNow(221), reason: "Mine" }), 201)
      expect(expectStatus(yield* call("GET", "/api/v1/patients/me/appointments", undefined, me), 200).map((a: { id: number }) => a.id)).toEqual([booked.id])
      expect(expectStatus(yield* call("GET", "/api/v1/doctors/me/appointments", undefined, asUser(doctor.id)), 200).map((a: { id: number }) => a.id)).toEqual([booked.id])
    }))

  it.effect("books exactly max_patients of 50 concurrent bookings into a schedule, and answers the other 45 \"Selected schedule is fully booked\"", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { schedule } = yield* doctorWithSchedule({ maxPatients: 5, startsIn: 300 })
      const patients = yield* Effect.forEach(Array.from({ length: 50 }), () => createUser("patient"), { concurrency: 8 })
      const answers = yield* Effect.forEach(patients, (patient, i) =>
        call("POST", "/api/v1/appointments", { patient_id: patient.id, schedule_id: schedule.id, scheduled_time: hoursFromNow(300 + (i % 4)), reason: "Race" }),
        { concurrency: "unbounded" })
      const statuses = answers.map((a) => a.status)
      expect(statuses.filter((s) => s === 201)).toHaveLength(5)
      expect(answers.filter((a) => a.status === 400 && a.body.detail === "Selected schedule is fully booked")).toHaveLength(45)
      const [{ live }] = (yield* sql<{ live: number }>`
        SELECT count(*)::int AS live FROM appointments WHERE schedule_id = ${schedule.id} AND status <> 'cancelled'`) as [{ live: number }]
      expect(live).toBe(5)
      // A refused booking left nothing behind: no task record without an appointment.
      const [{ orphans }] = (yield* sql<{ orphans: number }>`
        SELECT count(*)::int AS orphans FROM background_tasks WHERE appointment_id IS NULL`) as [{ orphans: number }]
      expect(orphans).toBe(0)
    }))

  it.effect("gives a patient one appointment of many booked for one time at once", () =>
    Effect.gen(function*() {
      const { schedule } = yield* doctorWithSchedule({ maxPatients: 20, startsIn: 320 })
      const patient = yield* createUser("patient")
      const at = hoursFromNow(321)
      const answers = yield* Effect.forEach(Array.from({ length: 12 }), (_, i) =>
        call("POST", "/api/v1/appointments", i % 2 === 0
          ? { patient_id: patient.id, schedule_id: schedule.id, scheduled_time: at, reason: "Twice" }
          : { patient_id: patient.id, scheduled_time: at, reason: "Twice, without a schedule" }),
        { concurrency: "unbounded" })
      expect(answers.filter((a) => a.status === 201)).toHaveLength(1)
      expect(answers.filter((a) => a.status === 400).map((a) => a.body.detail)).toEqual(Array(11).fill("You already have an appointment at this time"))
    }))
})
