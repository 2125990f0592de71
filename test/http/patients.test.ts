/** Seed 000's patient routes: creation rules, lookups, pagination and their error answers. */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const ISO_Z = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/

const createPatient = (body: Record<string, unknown>) =>
  Effect.map(call("POST", "/patients", body), (response) => {
    expect(response.status).toBe(201)
    return response.body as { id: string; full_name: string; age: number; sex: string; created_at: string }
  })

layer(TestApp.layer(), { timeout: 60_000, excludeTestServices: true })("patients", (it) => {
  it.effect("creates a patient and answers 201 with the stored record", () =>
    Effect.gen(function*() {
      const { status, body } = yield* call("POST", "/patients", { full_name: "John Doe", age: 45, sex: "M" })
      expect(status).toBe(201)
      expect(body).toEqual({ id: expect.stringMatching(UUID), full_name: "John Doe", age: 45, sex: "M", created_at: expect.stringMatching(ISO_Z) })
      const fetched = yield* call("GET", `/patients/${body.id}`)
      expect(fetched.status).toBe(200)
      expect(fetched.body).toEqual(body)
    }))

  it.effect("accepts the boundary values of every rule", () =>
    Effect.gen(function*() {
      yield* createPatient({ full_name: "A", age: 0, sex: "F" })
      yield* createPatient({ full_name: "x".repeat(255), age: 150, sex: "Other" })
    }))

  it.effect("answers 404 with FastAPI's detail for an unknown patient", () =>
    Effect.gen(function*() {
      const { status, body } = yield* call("GET", "/patients/00000000-0000-4000-8000-000000000000")
      expect(status).toBe(404)
      expect(body).toEqual({ detail: "Patient not found" })
    }))

  it.effect("answers 422 naming the path parameter for a malformed id", () =>
    Effect.gen(function*() {
      const { status, body } = yield* call("GET", "/patients/not-a-uuid")
      expect(status).toBe(422)
      expect(body.detail).toEqual([
        { type: "uuid_parsing", loc: ["path", "patient_id"], msg: "Input should be a valid UUID", input: "not-a-uuid" }
      ])
    }))

  it.effect("rejects each invalid field with 422 naming it, and stores nothing", () =>
    Effect.gen(function*() {
      const before = (yield* call("GET", "/patients?limit=1000")).body.length
      const cases: Array<[Record<string, unknown>, string, string]> = [
        [{ full_name: "", age: 1, sex: "M" }, "full_name", "string_too_short"],
        [{ full_name: "x".repeat(256), age: 1, sex: "M" }, "full_name", "string_too_long"],
        [{ full_name: 7, age: 1, sex: "M" }, "full_name", "string_type"],
        [{ full_name: "A\u0000B", age: 1, sex: "M" }, "full_name", "value_error"], // PostgreSQL text cannot hold NUL
        [{ full_name: "A", age: -1, sex: "M" }, "age", "greater_than_equal"],
        [{ full_name: "A", age: 151, sex: "M" }, "age", "less_than_equal"],
        [{ full_name: "A", age: 1.5, sex: "M" }, "age", "int_from_float"],
        [{ full_name: "A", age: "ten", sex: "M" }, "age", "int_type"],
        [{ full_name: "A", age: 1, sex: "X" }, "sex", "string_pattern_mismatch"],
        [{ full_name: "A", age: 1, sex: "m" }, "sex", "string_pattern_mismatch"],
        [{ age: 1, sex: "M" }, "full_name", "missing"],
        [{ full_name: "A", sex: "M" }, "age", "missing"],
        [{ full_name: "A", age: 1 }, "sex", "missing"]
      ]
      for (const [payload, field, type] of cases) {
        const { status, body } = yield* call("POST", "/patients", payload)
        expect(status, JSON.stringify(payload)).toBe(422)
        expect(body.detail, JSON.stringify(payload)).toEqual([expect.objectContaining({ loc: ["body", field], type })])
        expect(typeof body.detail[0].msg).toBe("string")
      }
      const after = (yield* call("GET", "/patients?limit=1000")).body.length
      expect(after).toBe(before)
    }))

  it.effect("reports every invalid field at once", () =>
    Effect.gen(function*() {
      const { status, body } = yield* call("POST", "/patients", { full_name: "", age: 200, sex: "?" })
      expect(status).toBe(422)
      expect(body.detail.map((d: { loc: Array<string> }) => d.loc[1])).toEqual(["full_name", "age", "sex"])
    }))

  it.effect("answers 422 for a body that is not JSON, or missing", () =>
    Effect.gen(function*() {
      const broken = yield* call("POST", "/patients", "{not json")
      expect(broken.status).toBe(422)
      expect(broken.body.detail[0]).toMatchObject({ type: "json_invalid", loc: ["body"] })
      const missing = yield* call("POST", "/patients")
      expect(missing.status).toBe(422)
      expect(missing.body.detail[0]).toMatchObject({ type: "missing", loc: ["body"] })
      const array = yield* call("POST", "/patients", [])
      expect(array.status).toBe(422)
    }))

  it.effect("lists in a stable order with skip and limit", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 7; i++) yield* createPatient({ full_name: `Paged ${i}`, age: 30 + i, sex: "F" })
      const all = (yield* call("GET", "/patients?limit=1000")).body as Array<{ id: string }>
      expect(all.length).toBeGreaterThanOrEqual(7)
      const again = (yield* call("GET", "/patients?limit=1000")).body
      expect(again).toEqual(all)
      const page = yield* call("GET", "/patients?skip=2&limit=3")
      expect(page.status).toBe(200)
      expect(page.body).toEqual(all.slice(2, 5))
      expect((yield* call("GET", "/patients?limit=0")).body).toEqual([])
      expect((yield* call("GET", `/patients?skip=${all.length}`)).body).toEqual([])
    }))

  it.effect("defaults to 100 rows and caps limit at 1000", () =>
    Effect.gen(function*() {
      const tooMany = yield* call("GET", "/patients?limit=1001")
      expect(tooMany.status).toBe(422)
      expect(tooMany.body.detail).toEqual([expect.objectContaining({ loc: ["query", "limit"], type: "less_than_equal" })])
      expect((yield* call("GET", "/patients?limit=1000")).status).toBe(200)
    }))

  it.effect("answers 422 for negative or non-integer paging values", () =>
    Effect.gen(function*() {
      for (const query of ["skip=-1", "limit=-5", "skip=abc", "limit=1.5"]) {
        const { status, body } = yield* call("GET", `/patients?${query}`)
        expect(status, query).toBe(422)
        expect(body.detail[0].loc[0]).toBe("query")
        expect(body.detail[0].loc[1]).toBe(query.split("=")[0])
      }
    }))

  it.effect("accepts paths with and without a trailing slash", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient({ full_name: "Slash", age: 20, sex: "M" })
      expect((yield* call("GET", "/patients/")).status).toBe(200)
      expect((yield* call("GET", `/patients/${patient.id}/`)).body).toEqual(patient)
      expect((yield* call("POST", "/patients/", { full_name: "Slash 2", age: 20, sex: "M" })).status).toBe(201)
    }))

  it.effect("accepts an upper-case id and answers with the canonical one", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient({ full_name: "Case", age: 20, sex: "M" })
      const { status, body } = yield* call("GET", `/patients/${patient.id.toUpperCase()}`)
      expect(status).toBe(200)
      expect(body.id).toBe(patient.id)
    }))
})
