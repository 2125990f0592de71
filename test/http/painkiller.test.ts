/**
 * Seed 003's patient and measurement routes, in the README's form and in the original code's
 * form: created records in the body, 404 with the seed's messages, FastAPI's 422 on invalid input,
 * measurements stored as vital signs that raise alerts.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const ISO_Z = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/
const MISSING = "00000000-0000-4000-8000-000000000000"

let names = 0
/** A last name no other test uses. */
const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${names++}`

interface PatientBody {
  readonly id: string
  readonly first_name: string
  readonly last_name: string
  readonly age: number
  readonly condition: string | null
}

interface MeasurementBody {
  readonly id: string
  readonly temperature_celsius: number
  readonly blood_pressure_sys: number
  readonly blood_pressure_dias: number
  readonly body_weight: number
  readonly height_cm: number
  readonly stroke: boolean
  readonly diabetes: boolean
  readonly patient_id: string
  readonly created_at: string
}

const expectStatus = (response: TestApp.JsonResponse, status: number) => {
  expect(response.status, JSON.stringify(response.body)).toBe(status)
  return response.body
}

const patientInput = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  first_name: "Maria",
  last_name: unique("Silva"),
  age: 42,
  condition: "migraine",
  ...overrides
})

const createPatient = (overrides: Record<string, unknown> = {}, path = "/api/v1/patient") =>
  Effect.map(call("POST", path, patientInput(overrides)), (response) => expectStatus(response, 201) as PatientBody)

const measurementInput = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  temperature_celsius: 36.6,
  blood_pressure_sys: 120,
  blood_pressure_dias: 80,
  body_weight: 70.5,
  height_cm: 172,
  stroke: false,
  diabetes: true,
  ...overrides
})

const addMeasure = (patientId: string, overrides: Record<string, unknown> = {}) =>
  Effect.map(
    call("POST", "/api/v1/measures", measurementInput({ patient_id: patientId, ...overrides })),
    (response) => expectStatus(response, 201) as MeasurementBody
  )

const measurementRows = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM vital_signs WHERE source = 'measurement'`
  return row!.n
})

const patientRows = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM patients`
  return row!.n
})

const ids = (items: ReadonlyArray<{ readonly id: string }>) => items.map((item) => item.id)

layer(TestApp.layer(), { timeout: 60_000, excludeTestServices: true })("painkiller", (it) => {
  it.effect("creates a patient with and without the trailing slash, answering 201 with it, and reads it back", () =>
    Effect.gen(function*() {
      for (const path of ["/api/v1/patient", "/api/v1/patient/"]) {
        const input = patientInput()
        const created = expectStatus(yield* call("POST", path, input), 201)
        expect(created, path).toEqual({ id: expect.stringMatching(UUID), ...input })
        const fetched = yield* call("GET", `/api/v1/patient/${created.id}`)
        expect(fetched.status, path).toBe(200)
        expect(fetched.body, path).toEqual({ ...created, measurements: [] })
      }
    }))

  it.effect("accepts ages 0 to 149 and refuses 150 and -4 with 422 naming body.age, storing nothing", () =>
    Effect.gen(function*() {
      const before = yield* patientRows
      for (const age of [150, -4, 165, 1.5, "ten"]) {
        const response = yield* call("POST", "/api/v1/patient", patientInput({ age }))
        expect(response.status, String(age)).toBe(422)
        expect(response.body.detail, String(age)).toEqual([
          expect.objectContaining({ loc: ["body", "age"], msg: expect.any(String), type: expect.any(String) })
        ])
      }
      expect(yield* patientRows).toBe(before)
      expect((yield* createPatient({ age: 149 })).age).toBe(149)
      expect((yield* createPatient({ age: 0 })).age).toBe(0)
    }))

  it.effect("requires every field but accepts a null condition", () =>
    Effect.gen(function*() {
      for (const field of ["first_name", "last_name", "age", "condition"]) {
        const input = patientInput()
        delete input[field]
        const response = yield* call("POST", "/api/v1/patient", input)
        expect(response.status, field).toBe(422)
        expect(response.body.detail, field).toEqual([expect.objectContaining({ loc: ["body", field], type: "missing" })])
      }
      const created = yield* createPatient({ condition: null })
      expect(created.condition).toBeNull()
      expect((yield* call("GET", `/api/v1/patient/${created.id}`)).body).toEqual({ ...created, measurements: [] })
    }))

  it.effect("accepts any name, as the original's pattern is .*", () =>
    Effect.gen(function*() {
      const created = yield* createPatient({ first_name: "", last_name: "O'Brien-Łukasz 李" })
      expect(created).toMatchObject({ first_name: "", last_name: "O'Brien-Łukasz 李" })
    }))

  it.effect("lists patients in creation order with GET and the README's POST", () =>
    Effect.gen(function*() {
      const created = [
        yield* createPatient({ first_name: "First" }),
        yield* createPatient({ first_name: "Second", condition: null }),
        yield* createPatient({ first_name: "Third", age: 7 })
      ]
      const wanted = new Set(ids(created))
      for (const method of ["GET", "POST"]) {
        const { status, body } = yield* call(method, "/api/v1/patient/list?limit=1000")
        expect(status, method).toBe(200)
        const items = (body as Array<PatientBody>).filter((item) => wanted.has(item.id))
        expect(items, method).toEqual(created)
        for (const item of body as Array<Record<string, unknown>>) {
          expect(Object.keys(item).sort(), method).toEqual(["age", "condition", "first_name", "id", "last_name"])
        }
        // Without a query string as well.
        const plain = yield* call(method, "/api/v1/patient/list")
        expect(plain.status, method).toBe(200)
        expect(Array.isArray(plain.body), method).toBe(true)
      }
    }))

  it.effect("deletes a patient, then answers 404 'patient not found' for reads and further deletes", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient()
      expect((yield* call("DELETE", `/api/v1/patient/delete/${patient.id}`)).status).toBe(200)
      expect(yield* call("GET", `/api/v1/patient/${patient.id}`)).toMatchObject({ status: 404, body: { detail: "patient not found" } })
      expect(yield* call("DELETE", `/api/v1/patient/delete/${patient.id}`)).toMatchObject({ status: 404, body: { detail: "patient not found" } })
      const listed = (yield* call("GET", "/api/v1/patient/list?limit=1000")).body as Array<PatientBody>
      expect(ids(listed)).not.toContain(patient.id)

      // The README's form.
      const other = yield* createPatient()
      expect((yield* call("POST", `/api/v1/patient/delete/${other.id}`)).status).toBe(200)
      expect(yield* call("GET", `/api/v1/patient/${other.id}`)).toMatchObject({ status: 404, body: { detail: "patient not found" } })
      expect(yield* call("POST", `/api/v1/patient/delete/${other.id}`)).toMatchObject({ status: 404, body: { detail: "patient not found" } })
      expect(yield* call("GET", `/api/v1/patient/${MISSING}`)).toMatchObject({ status: 404, body: { detail: "patient not found" } })
    }))

  it.effect("answers 422 naming the path parameter for malformed ids", () =>
    Effect.gen(function*() {
      for (const [method, path, param] of [
        ["GET", "/api/v1/patient/not-a-uuid", "patient_id"],
        ["DELETE", "/api/v1/patient/delete/not-a-uuid", "patient_id"],
        ["GET", "/api/v1/measures/list/not-a-uuid", "measure_id"],
        ["DELETE", "/api/v1/measures/delete/not-a-uuid", "measure_id"]
      ] as const) {
        const response = yield* call(method, path)
        expect(response.status, path).toBe(422)
        expect(response.body.detail, path).toEqual([expect.objectContaining({ loc: ["path", param] })])
      }
    }))

  it.effect("stores measurements in both forms and shows them on every read route", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient()
      const input = measurementInput({ patient_id: patient.id })
      const first = expectStatus(yield* call("POST", "/api/v1/measures", input), 201) as MeasurementBody
      expect(first).toEqual({ ...input, id: expect.stringMatching(UUID), created_at: expect.stringMatching(ISO_Z) })

      // The README's form: the patient is in the path, not in the body.
      const readmeInput = measurementInput({ temperature_celsius: 37.1, blood_pressure_sys: 118, stroke: true, diabetes: false })
      const second = expectStatus(yield* call("POST", `/api/v1/patient/${patient.id}/measurements`, readmeInput), 201) as MeasurementBody
      expect(second).toEqual({
        ...readmeInput,
        id: expect.stringMatching(UUID),
        patient_id: patient.id,
        created_at: expect.stringMatching(ISO_Z)
      })
      const both = [first, second]

      expect((yield* call("GET", `/api/v1/patient/${patient.id}`)).body).toEqual({ ...patient, measurements: both })
      expect(expectStatus(yield* call("GET", `/api/v1/patient/${patient.id}/measurements`), 200)).toEqual(both)
      expect(expectStatus(yield* call("GET", `/api/v1/measures/${patient.id}/list`), 200)).toEqual(both)
      // The original code's form has a trailing slash.
      expect(expectStatus(yield* call("GET", `/api/v1/measures/${patient.id}/list/`), 200)).toEqual(both)
      for (const [method, path] of [["GET", "/api/v1/measures/list"], ["GET", "/api/v1/measurements/list"], ["POST", "/api/v1/measurements/list"]]) {
        const all = expectStatus(yield* call(method!, `${path}?limit=1000`), 200) as Array<MeasurementBody>
        expect(all.filter((m) => m.patient_id === patient.id), `${method} ${path}`).toEqual(both)
      }
      expect(expectStatus(yield* call("GET", `/api/v1/measures/list/${first.id}`), 200)).toEqual(first)
      expect(expectStatus(yield* call("GET", `/api/v1/measures/list/${second.id}`), 200)).toEqual(second)
      const unknown = yield* call("GET", `/api/v1/measures/list/${MISSING}`)
      expect(unknown).toMatchObject({ status: 200, body: null })

      // Another patient's measures are not mixed in.
      const other = yield* createPatient()
      yield* addMeasure(other.id)
      expect(expectStatus(yield* call("GET", `/api/v1/measures/${patient.id}/list`), 200)).toEqual(both)
    }))

  it.effect("accepts the original code's POST /api/v1/measures/ with the trailing slash", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient()
      const created = expectStatus(yield* call("POST", "/api/v1/measures/", measurementInput({ patient_id: patient.id })), 201)
      expect(created.patient_id).toBe(patient.id)
    }))

  it.effect("answers 404 for a measurement of an unknown patient and stores nothing", () =>
    Effect.gen(function*() {
      const before = yield* measurementRows
      expect(yield* call("POST", "/api/v1/measures", measurementInput({ patient_id: MISSING }))).toMatchObject({
        status: 404,
        body: { detail: "patient not found" }
      })
      expect(yield* call("POST", `/api/v1/patient/${MISSING}/measurements`, measurementInput())).toMatchObject({
        status: 404,
        body: { detail: "patient not found" }
      })
      expect(yield* measurementRows).toBe(before)
      expect(expectStatus(yield* call("GET", `/api/v1/measures/${MISSING}/list`), 200)).toEqual([])
    }))

  it.effect("refuses implausible, non-integer and missing measurement values with 422 naming the field, storing nothing", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient()
      const before = yield* measurementRows
      const cases: Array<[Record<string, unknown>, string, string | undefined]> = [
        [{ temperature_celsius: 80 }, "temperature_celsius", "less_than_equal"],
        [{ temperature_celsius: 5 }, "temperature_celsius", "greater_than_equal"],
        [{ blood_pressure_sys: 120.5 }, "blood_pressure_sys", "int_from_float"],
        [{ blood_pressure_dias: 80.5 }, "blood_pressure_dias", "int_from_float"],
        [{ blood_pressure_sys: "high" }, "blood_pressure_sys", "int_type"],
        [{ stroke: "maybe" }, "stroke", "bool_type"],
        [{ body_weight: 0 }, "body_weight", undefined],
        [{ height_cm: -1 }, "height_cm", undefined],
        [{ patient_id: "nope" }, "patient_id", "uuid_parsing"]
      ]
      for (const [bad, field, type] of cases) {
        const response = yield* call("POST", "/api/v1/measures", measurementInput({ patient_id: patient.id, ...bad }))
        expect(response.status, JSON.stringify(bad)).toBe(422)
        expect(response.body.detail, JSON.stringify(bad)).toEqual([
          expect.objectContaining({ loc: ["body", field], msg: expect.any(String), ...(type === undefined ? {} : { type }) })
        ])
      }
      const readme = yield* call("POST", `/api/v1/patient/${patient.id}/measurements`, measurementInput({ temperature_celsius: 80 }))
      expect(readme.status).toBe(422)
      expect(readme.body.detail).toEqual([expect.objectContaining({ loc: ["body", "temperature_celsius"] })])
      for (const field of ["temperature_celsius", "blood_pressure_sys", "blood_pressure_dias", "body_weight", "height_cm", "stroke", "diabetes", "patient_id"]) {
        const input = measurementInput({ patient_id: patient.id })
        delete input[field]
        const response = yield* call("POST", "/api/v1/measures", input)
        expect(response.status, field).toBe(422)
        expect(response.body.detail, field).toEqual([expect.objectContaining({ loc: ["body", field], type: "missing" })])
      }
      expect(yield* measurementRows).toBe(before)
    }))

  it.effect("deletes a measurement with DELETE and with the README's POST, then answers 404 'measure not found'", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient()
      const first = yield* addMeasure(patient.id)
      const second = yield* addMeasure(patient.id, { temperature_celsius: 36.9 })

      expect((yield* call("DELETE", `/api/v1/measures/delete/${first.id}`)).status).toBe(200)
      expect(yield* call("DELETE", `/api/v1/measures/delete/${first.id}`)).toMatchObject({ status: 404, body: { detail: "measure not found" } })
      expect(yield* call("GET", `/api/v1/measures/list/${first.id}`)).toMatchObject({ status: 200, body: null })
      expect(ids(expectStatus(yield* call("GET", `/api/v1/measures/${patient.id}/list`), 200))).toEqual([second.id])

      expect((yield* call("POST", `/api/v1/measurements/delete/${second.id}`)).status).toBe(200)
      expect(yield* call("POST", `/api/v1/measurements/delete/${second.id}`)).toMatchObject({ status: 404, body: { detail: "measure not found" } })
      expect((yield* call("GET", `/api/v1/patient/${patient.id}`)).body.measurements).toEqual([])
      expect(yield* call("DELETE", `/api/v1/measures/delete/${MISSING}`)).toMatchObject({ status: 404, body: { detail: "measure not found" } })
    }))

  it.effect("does not delete a trial reading through the measurement routes", () =>
    Effect.gen(function*() {
      const subject = unique("PK-TRIAL")
      const stored = yield* call("POST", "/store-vitals", {
        records: [{ SubjectID: subject, VisitName: "Screening", TreatmentArm: "Active", SystolicBP: 120, DiastolicBP: 80, HeartRate: 70, Temperature: 36.6 }]
      })
      expect(stored.status).toBe(200)
      const sql = yield* SqlClient.SqlClient
      const [reading] = yield* sql<{ id: string }>`
        SELECT v.id FROM vital_signs v JOIN patients p ON p.id = v.patient_id WHERE p.subject_number = ${subject}`
      expect(yield* call("DELETE", `/api/v1/measures/delete/${reading!.id}`)).toMatchObject({ status: 404, body: { detail: "measure not found" } })
      expect(yield* call("GET", `/api/v1/measures/list/${reading!.id}`)).toMatchObject({ status: 200, body: null })
      const [still] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM vital_signs WHERE id = ${reading!.id}`
      expect(still!.n).toBe(1)
    }))

  it.effect("raises a temperature alert for a feverish measurement", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient()
      yield* addMeasure(patient.id, { temperature_celsius: 39.5 })
      const { status, body } = yield* call("GET", `/api/v1/alerts?patient_id=${patient.id}`)
      expect(status).toBe(200)
      const items = body.items as Array<{ vital_sign: string; status: string; severity: string; peak: number; patient_id: string }>
      // 120/80 is normal: the only alert is the temperature (critical above 39.1 in the default profile).
      expect(items).toEqual([expect.objectContaining({ patient_id: patient.id, vital_sign: "temperature", status: "open", severity: "critical", peak: 39.5 })])
    }))

  it.effect("removes a patient's measurements with the patient", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient()
      const first = yield* addMeasure(patient.id)
      const second = expectStatus(yield* call("POST", `/api/v1/patient/${patient.id}/measurements`, measurementInput()), 201) as MeasurementBody
      const before = yield* measurementRows

      expect((yield* call("DELETE", `/api/v1/patient/delete/${patient.id}`)).status).toBe(200)
      expect(yield* measurementRows).toBe(before - 2)
      for (const measure of [first, second]) {
        expect(yield* call("GET", `/api/v1/measures/list/${measure.id}`)).toMatchObject({ status: 200, body: null })
        expect(yield* call("DELETE", `/api/v1/measures/delete/${measure.id}`)).toMatchObject({ status: 404, body: { detail: "measure not found" } })
      }
      expect(expectStatus(yield* call("GET", `/api/v1/measures/${patient.id}/list`), 200)).toEqual([])
      const all = expectStatus(yield* call("GET", "/api/v1/measures/list?limit=1000"), 200) as Array<MeasurementBody>
      expect(all.filter((m) => m.patient_id === patient.id)).toEqual([])
      expect(yield* call("GET", `/api/v1/patient/${patient.id}/measurements`)).toMatchObject({ status: 404, body: { detail: "patient not found" } })
      expect(yield* call("POST", `/api/v1/patient/${patient.id}/measurements`, measurementInput())).toMatchObject({
        status: 404,
        body: { detail: "patient not found" }
      })
      expect(yield* measurementRows).toBe(before - 2)
    }))
})
