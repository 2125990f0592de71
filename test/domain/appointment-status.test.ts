/**
 * The appointment and task state machines (src/domain/AppointmentStatus.ts) and the booking rules
 * (src/domain/Scheduling.ts), as pure rules: no sequence of requested changes reaches a
 * forbidden state, and each refused booking gets seed 004 v2's message, in v2's order.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import {
  APPOINTMENT_STATUSES,
  type AppointmentStatus,
  appointmentEventName,
  canMoveAppointment,
  canMoveTask,
  isFinalAppointment,
  TASK_STATUSES
} from "../../src/domain/AppointmentStatus.ts"
import { BookingMessages, bookingRefusal, type BookingFacts, type ScheduleFacts } from "../../src/domain/Scheduling.ts"

const ALLOWED: ReadonlyArray<readonly [AppointmentStatus, AppointmentStatus]> = [
  ["pending", "confirmed"],
  ["pending", "cancelled"],
  ["confirmed", "completed"],
  ["confirmed", "cancelled"]
]

const status = fc.constantFrom(...APPOINTMENT_STATUSES)

describe("appointment status", () => {
  it("allows exactly pending -> confirmed | cancelled and confirmed -> completed | cancelled, and keeping a status", () => {
    for (const from of APPOINTMENT_STATUSES) {
      for (const to of APPOINTMENT_STATUSES) {
        const allowed = from === to || ALLOWED.some(([a, b]) => a === from && b === to)
        expect(canMoveAppointment(from, to), `${from} -> ${to}`).toBe(allowed)
      }
    }
  })

  it("no sequence of requested changes leaves a final status, or completes what was never confirmed", () => {
    fc.assert(fc.property(fc.array(status, { maxLength: 30 }), (requests) => {
      let current: AppointmentStatus = "pending"
      const history: Array<AppointmentStatus> = [current]
      for (const requested of requests) {
        if (!canMoveAppointment(current, requested)) continue
        if (isFinalAppointment(current)) expect(requested).toBe(current)
        current = requested
        history.push(current)
      }
      const completedAt = history.indexOf("completed")
      if (completedAt >= 0) expect(history.slice(0, completedAt)).toContain("confirmed")
      const cancelledAt = history.indexOf("cancelled")
      if (cancelledAt >= 0) expect(history.slice(cancelledAt).every((s) => s === "cancelled")).toBe(true)
    }))
  })

  it("names each change's event after what happened to the status", () => {
    expect(appointmentEventName("pending", "pending")).toBe("updated")
    expect(appointmentEventName("pending", "confirmed")).toBe("confirmed")
    expect(appointmentEventName("confirmed", "completed")).toBe("completed")
    expect(appointmentEventName("pending", "cancelled")).toBe("cancelled")
    expect(appointmentEventName("confirmed", "cancelled")).toBe("cancelled")
  })
})

describe("task status", () => {
  it("allows queued -> running | failed and running -> succeeded | failed, nothing after succeeded or failed", () => {
    const allowed = [["queued", "running"], ["queued", "failed"], ["running", "succeeded"], ["running", "failed"]]
    for (const from of TASK_STATUSES) {
      for (const to of TASK_STATUSES) {
        expect(canMoveTask(from, to), `${from} -> ${to}`).toBe(from === to || allowed.some(([a, b]) => a === from && b === to))
      }
    }
  })
})

describe("booking rules", () => {
  const now = new Date("2030-06-01T12:00:00Z")
  const schedule: ScheduleFacts = {
    is_active: true,
    start_time: new Date("2030-06-02T09:00:00Z"),
    end_time: new Date("2030-06-02T12:00:00Z"),
    max_patients: 2,
    booked: 0,
    doctor_user_id: 7,
    doctor_role: "doctor",
    doctor_active: true
  }
  const facts = (overrides: Partial<BookingFacts> = {}, scheduleOverrides: Partial<ScheduleFacts> = {}): BookingFacts => ({
    now,
    scheduledTime: new Date("2030-06-02T10:00:00Z"),
    doctorId: null,
    scheduleRequested: true,
    scheduleRequired: false,
    schedule: { ...schedule, ...scheduleOverrides },
    ...overrides
  })

  it("books into a schedule within its window while it has places", () => {
    expect(bookingRefusal(facts())).toBeUndefined()
    expect(bookingRefusal(facts({ doctorId: 7, scheduledTime: schedule.start_time }))).toBeUndefined()
    expect(bookingRefusal(facts({ scheduledTime: schedule.end_time }, { booked: 1 }))).toBeUndefined()
  })

  it("refuses with seed 004 v2's message for each rule", () => {
    expect(bookingRefusal(facts({ scheduleRequested: false, scheduleRequired: true, schedule: null }))).toBe(BookingMessages.scheduleRequired)
    expect(bookingRefusal(facts({ schedule: null }))).toBe(BookingMessages.scheduleUnavailable)
    expect(bookingRefusal(facts({}, { is_active: false }))).toBe(BookingMessages.scheduleUnavailable)
    expect(bookingRefusal(facts({}, { doctor_active: false }))).toBe(BookingMessages.doctorInactive)
    expect(bookingRefusal(facts({}, { doctor_role: "patient" }))).toBe(BookingMessages.doctorInactive)
    expect(bookingRefusal(facts({ doctorId: 8 }))).toBe(BookingMessages.otherDoctor)
    expect(bookingRefusal(facts({ scheduledTime: new Date("2030-06-01T11:59:59Z") }))).toBe(BookingMessages.inThePast)
    expect(bookingRefusal(facts({ scheduledTime: new Date("2030-06-02T08:59:59Z") }))).toBe(BookingMessages.outsideWindow)
    expect(bookingRefusal(facts({ scheduledTime: new Date("2030-06-02T12:00:01Z") }))).toBe(BookingMessages.outsideWindow)
    expect(bookingRefusal(facts({}, { booked: 2 }))).toBe(BookingMessages.fullyBooked)
  })

  it("checks the rules in v2's order: the first one broken is the answer", () => {
    // Everything wrong at once: an inactive schedule is reported before the rest.
    const everything = facts({ doctorId: 8, scheduledTime: new Date("2020-01-01T00:00:00Z") }, { is_active: false, doctor_active: false, booked: 5 })
    expect(bookingRefusal(everything)).toBe(BookingMessages.scheduleUnavailable)
    expect(bookingRefusal({ ...everything, schedule: { ...everything.schedule!, is_active: true } })).toBe(BookingMessages.doctorInactive)
    expect(bookingRefusal(facts({ doctorId: 8, scheduledTime: new Date("2020-01-01T00:00:00Z") }, { booked: 5 }))).toBe(BookingMessages.otherDoctor)
    expect(bookingRefusal(facts({ scheduledTime: new Date("2020-01-01T00:00:00Z") }, { booked: 5 }))).toBe(BookingMessages.inThePast)
    expect(bookingRefusal(facts({ scheduledTime: new Date("2031-01-01T00:00:00Z") }, { booked: 5 }))).toBe(BookingMessages.outsideWindow)
  })

  it("books without a schedule (seed 004 v1) at any time to come, unless v2's rule requires one", () => {
    expect(bookingRefusal(facts({ scheduleRequested: false, schedule: null }))).toBeUndefined()
    expect(bookingRefusal(facts({ scheduleRequested: false, schedule: null, scheduledTime: new Date("2020-01-01T00:00:00Z") }))).toBe(BookingMessages.inThePast)
  })

  it("never accepts a booking that breaks a rule, for any facts", () => {
    const arbitraryFacts = fc.record({
      scheduledOffset: fc.integer({ min: -48, max: 72 }),
      booked: fc.integer({ min: 0, max: 4 }),
      maxPatients: fc.integer({ min: 1, max: 3 }),
      active: fc.boolean(),
      doctorActive: fc.boolean(),
      doctorId: fc.constantFrom(null, 7, 8)
    })
    fc.assert(fc.property(arbitraryFacts, (f) => {
      const scheduledTime = new Date(now.getTime() + f.scheduledOffset * 3_600_000)
      const candidate = facts({ scheduledTime, doctorId: f.doctorId }, {
        booked: f.booked,
        max_patients: f.maxPatients,
        is_active: f.active,
        doctor_active: f.doctorActive
      })
      if (bookingRefusal(candidate) !== undefined) return
      expect(f.active && f.doctorActive).toBe(true)
      expect(f.booked).toBeLessThan(f.maxPatients)
      expect(scheduledTime >= now && scheduledTime >= schedule.start_time && scheduledTime <= schedule.end_time).toBe(true)
      expect(f.doctorId === null || f.doctorId === 7).toBe(true)
    }))
  })
})
