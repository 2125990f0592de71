/** Seed 000's threshold profile routes: one profile per patient, with the seed's value rules. */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp
const MISSING = "00000000-0000-4000-8000-000000000000"
const limits = { hr_min: 60, hr_max: 100, spo2_min: 95, temp_min: 36.1, temp_max: 37.2 }

const createPatient = Effect.map(call("POST", "/patients", { full_name: "Profiled", age: 61, sex: "M" }), (response) => {
  expect(response.status).toBe(201)
  return response.body as { id: string }
})

layer(TestApp.layer(), { timeout: 60_000, excludeTestServices: true })("thresholds", (it) => {
  it.effect("creates a profile and finds it by patient id", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient
      const { status, body } = yield* call("POST", "/thresholds", { patient_id: patient.id, ...limits })
      expect(status).toBe(201)
      expect(body).toEqual({ id: expect.any(String), patient_id: patient.id, ...limits })
      const fetched = yield* call("GET", `/thresholds/${patient.id}`)
      expect(fetched.status).toBe(200)
      expect(fetched.body).toEqual(body)
    }))

  it.effect("answers 409 for a second profile of the same patient", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient
      expect((yield* call("POST", "/thresholds", { patient_id: patient.id, ...limits })).status).toBe(201)
      const { status, body } = yield* call("POST", "/thresholds", { patient_id: patient.id, ...limits, hr_max: 120 })
      expect(status).toBe(409)
      expect(body).toEqual({ detail: "Threshold profile already exists for this patient" })
      expect((yield* call("GET", `/thresholds/${patient.id}`)).body.hr_max).toBe(100)
    }))

  it.effect("answers 404 for an unknown patient, on create and on lookup", () =>
    Effect.gen(function*() {
      expect(yield* call("POST", "/thresholds", { patient_id: MISSING, ...limits })).toMatchObject({
        status: 404,
        body: { detail: "Patient not found" }
      })
      const patient = yield* createPatient
      expect(yield* call("GET", `/thresholds/${patient.id}`)).toMatchObject({
        status: 404,
        body: { detail: "Threshold profile not found" }
      })
    }))

  it.effect("requires hr_max above hr_min and temp_max above temp_min, with the seed's message", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient
      const hr = yield* call("POST", "/thresholds", { patient_id: patient.id, ...limits, hr_min: 100, hr_max: 100 })
      expect(hr.status).toBe(422)
      expect(hr.body.detail).toEqual([
        expect.objectContaining({ type: "value_error", loc: ["body", "hr_max"], msg: "Value error, hr_max must be greater than hr_min" })
      ])
      const temp = yield* call("POST", "/thresholds", { patient_id: patient.id, ...limits, temp_min: 38, temp_max: 37 })
      expect(temp.status).toBe(422)
      expect(temp.body.detail).toEqual([
        expect.objectContaining({ loc: ["body", "temp_max"], msg: "Value error, temp_max must be greater than temp_min" })
      ])
      expect((yield* call("GET", `/thresholds/${patient.id}`)).status).toBe(404)
    }))

  it.effect("refuses critical bounds out of order or on the wrong side of a warning bound", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient
      const cases: Array<[Record<string, number>, string]> = [
        [{ sbp_critical_min: 200, sbp_critical_max: 100 }, "sbp_critical_max"],
        [{ sbp_max: 150, sbp_critical_min: 160 }, "sbp_critical_min"],
        [{ rr_min: 10, rr_critical_max: 8 }, "rr_critical_max"],
        [{ hr_critical_max: 90 }, "hr_critical_max"]
      ]
      for (const [bad, field] of cases) {
        const response = yield* call("POST", "/thresholds", { patient_id: patient.id, ...limits, ...bad })
        expect(response.status, JSON.stringify(bad)).toBe(422)
        expect(response.body.detail, JSON.stringify(bad)).toEqual([expect.objectContaining({ type: "value_error", loc: ["body", field] })])
      }
      expect((yield* call("GET", `/thresholds/${patient.id}`)).status).toBe(404)
    }))

  it.effect("checks ranges and types of every value", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient
      const cases: Array<[Record<string, unknown>, string, string]> = [
        [{ hr_min: -1 }, "hr_min", "greater_than_equal"],
        [{ spo2_min: 100.5 }, "spo2_min", "less_than_equal"],
        [{ spo2_min: -0.1 }, "spo2_min", "greater_than_equal"],
        [{ temp_min: -3 }, "temp_min", "greater_than_equal"],
        [{ hr_max: "fast" }, "hr_max", "float_type"],
        [{ patient_id: "p1" }, "patient_id", "uuid_parsing"]
      ]
      for (const [override, field, type] of cases) {
        const payload = { patient_id: patient.id, ...limits, ...override }
        const { status, body } = yield* call("POST", "/thresholds", payload)
        expect(status, JSON.stringify(override)).toBe(422)
        expect(body.detail, JSON.stringify(override)).toContainEqual(expect.objectContaining({ loc: ["body", field], type }))
      }
      expect((yield* call("POST", "/thresholds", { patient_id: patient.id, ...limits, spo2_min: 100, hr_min: 0, temp_min: 0 })).status).toBe(201)
    }))

  it.effect("lists profiles in a stable order with skip and limit", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 3; i++) {
        const patient = yield* createPatient
        expect((yield* call("POST", "/thresholds", { patient_id: patient.id, ...limits })).status).toBe(201)
      }
      const all = (yield* call("GET", "/thresholds")).body as Array<unknown>
      expect(all.length).toBeGreaterThanOrEqual(3)
      expect((yield* call("GET", "/thresholds?skip=1&limit=1")).body).toEqual([all[1]])
    }))
})
