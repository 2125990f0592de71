/** Seed 004's records made over HTTP, for the care-coordination tests. */
import { expect } from "@effect/vitest"
import { Effect } from "effect"
import * as TestApp from "./test-app.ts"
import { eventually } from "./eventually.ts"

const { call } = TestApp

/** What care tests run Vigil with: hashing made cheap (its cost has a test of its own), sweeps soon. */
export const careConfig = { PASSWORD_SCRYPT_LOG_N: "10", APPOINTMENT_SWEEP_INTERVAL: "2 seconds" }

let made = 0
/** An email address no other test uses. */
export const email = (who: string) => `${who}-${Date.now().toString(36)}-${made++}@example.com`

export const expectStatus = <A = any>(response: TestApp.JsonResponse, status: number): A => {
  expect(response.status, JSON.stringify(response.body)).toBe(status)
  return response.body as A
}

export const createUser = (role: "patient" | "doctor" | "admin", overrides: Record<string, unknown> = {}) =>
  Effect.map(
    call("POST", "/api/v1/users", { email: email(role), full_name: `A ${role}`, role, password: "correct horse", ...overrides }),
    (response) => expectStatus<{ id: number; email: string }>(response, 201)
  )

/** An hour from now plus `hours`, on the hour, as ISO text in UTC. */
export const hoursFromNow = (hours: number) => {
  const at = new Date(Date.now() + (hours + 1) * 3_600_000)
  at.setUTCMinutes(0, 0, 0)
  return at.toISOString()
}

export const asUser = (id: number) => ({ "x-user-id": String(id) })

/** A doctor with a profile and one schedule (`hours` long, starting in `startsIn` hours). */
export const doctorWithSchedule = (options: { readonly maxPatients: number; readonly startsIn?: number; readonly hours?: number }) =>
  Effect.gen(function*() {
    const doctor = yield* createUser("doctor")
    expectStatus(yield* call("PUT", "/api/v1/doctors/me/profile", { specialization: "General practice" }, asUser(doctor.id)), 200)
    const schedule = expectStatus<{ id: number; start_time: string; end_time: string }>(
      yield* call("POST", "/api/v1/doctors/me/schedules", {
        start_time: hoursFromNow(options.startsIn ?? 24),
        end_time: hoursFromNow((options.startsIn ?? 24) + (options.hours ?? 4)),
        max_patients: options.maxPatients
      }, asUser(doctor.id)),
      201
    )
    return { doctor, schedule }
  })

export interface TaskBody {
  readonly id: number
  readonly status: string
  readonly error_message: string | null
  readonly external_reference: string | null
}

/** The appointment's task records once the newest is final (succeeded or failed). */
export const finalTasks = (appointmentId: number, seconds = 20, headers: Record<string, string> = {}) =>
  eventually(
    Effect.flatMap(call("GET", `/api/v1/tasks/appointments/${appointmentId}`, undefined, headers), (response) => {
      const tasks = response.body as Array<TaskBody>
      return tasks[0] !== undefined && (tasks[0].status === "succeeded" || tasks[0].status === "failed")
        ? Effect.succeed(tasks)
        : Effect.fail(`tasks of appointment ${appointmentId}: ${JSON.stringify(tasks)}`)
    }),
    seconds
  )
