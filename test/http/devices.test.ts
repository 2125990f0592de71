/** Seed 000's device routes, with the original's 500s turned into 404/409 answers. */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp
const MISSING = "00000000-0000-4000-8000-000000000000"
let serials = 0
const serial = () => `SN-${Date.now().toString(36)}-${serials++}`

const created = <A = any>(response: TestApp.JsonResponse): A => {
  expect(response.status, JSON.stringify(response.body)).toBe(201)
  return response.body as A
}
const createPatient = Effect.map(call("POST", "/patients", { full_name: "Device Owner", age: 50, sex: "F" }), created<{ id: string }>)

layer(TestApp.layer(), { timeout: 60_000, excludeTestServices: true })("devices", (it) => {
  it.effect("creates an unlinked device", () =>
    Effect.gen(function*() {
      const s = serial()
      const device = created(yield* call("POST", "/devices", { serial: s, firmware: "v1.0.0" }))
      expect(device).toEqual({
        id: expect.any(String),
        serial: s,
        firmware: "v1.0.0",
        patient_id: null,
        created_at: expect.stringMatching(/Z$/)
      })
      expect((yield* call("GET", `/devices/${device.id}`)).body).toEqual(device)
    }))

  it.effect("creates a device linked to an existing patient", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient
      const device = created(yield* call("POST", "/devices", { serial: serial(), firmware: "v2", patient_id: patient.id }))
      expect(device.patient_id).toBe(patient.id)
    }))

  it.effect("answers 409 for a duplicate serial and keeps the first device", () =>
    Effect.gen(function*() {
      const s = serial()
      const first = created(yield* call("POST", "/devices", { serial: s, firmware: "v1" }))
      const { status, body } = yield* call("POST", "/devices", { serial: s, firmware: "v2" })
      expect(status).toBe(409)
      expect(body.detail).toContain(s)
      expect((yield* call("GET", `/devices/${first.id}`)).body.firmware).toBe("v1")
    }))

  it.effect("answers 404 when creating a device for an unknown patient, storing nothing", () =>
    Effect.gen(function*() {
      const s = serial()
      const { status, body } = yield* call("POST", "/devices", { serial: s, firmware: "v1", patient_id: MISSING })
      expect(status).toBe(404)
      expect(body).toEqual({ detail: "Patient not found" })
      // The serial is still free: nothing was half-written.
      created(yield* call("POST", "/devices", { serial: s, firmware: "v1" }))
    }))

  it.effect("validates serial, firmware and patient_id", () =>
    Effect.gen(function*() {
      const cases: Array<[Record<string, unknown>, string, string]> = [
        [{ serial: "", firmware: "v1" }, "serial", "string_too_short"],
        [{ serial: "x".repeat(101), firmware: "v1" }, "serial", "string_too_long"],
        [{ serial: serial(), firmware: "" }, "firmware", "string_too_short"],
        [{ serial: "DEV\u0000", firmware: "v1" }, "serial", "value_error"],
        [{ serial: serial(), firmware: "\u0000" }, "firmware", "value_error"],
        [{ serial: serial(), firmware: "x".repeat(51) }, "firmware", "string_too_long"],
        [{ serial: serial(), firmware: "v1", patient_id: "nope" }, "patient_id", "uuid_parsing"],
        [{ firmware: "v1" }, "serial", "missing"]
      ]
      for (const [payload, field, type] of cases) {
        const { status, body } = yield* call("POST", "/devices", payload)
        expect(status, JSON.stringify(payload)).toBe(422)
        expect(body.detail).toEqual([expect.objectContaining({ loc: ["body", field], type })])
      }
      created(yield* call("POST", "/devices", { serial: "x".repeat(100), firmware: "y".repeat(50) }))
    }))

  it.effect("answers 404 and 422 for unknown and malformed device ids", () =>
    Effect.gen(function*() {
      expect(yield* call("GET", `/devices/${MISSING}`)).toMatchObject({ status: 404, body: { detail: "Device not found" } })
      expect((yield* call("GET", "/devices/123")).status).toBe(422)
    }))

  it.effect("patches only the fields sent", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient
      const device = created(yield* call("POST", "/devices", { serial: serial(), firmware: "v1", patient_id: patient.id }))
      const patched = yield* call("PATCH", `/devices/${device.id}`, { firmware: "v9" })
      expect(patched.status).toBe(200)
      expect(patched.body).toEqual({ ...device, firmware: "v9" })
      const unchanged = yield* call("PATCH", `/devices/${device.id}`, {})
      expect(unchanged.body).toEqual({ ...device, firmware: "v9" })
    }))

  it.effect("unlinks a device on an explicit null patient_id", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient
      const device = created(yield* call("POST", "/devices", { serial: serial(), firmware: "v1", patient_id: patient.id }))
      const unlinked = yield* call("PATCH", `/devices/${device.id}`, { patient_id: null })
      expect(unlinked.status).toBe(200)
      expect(unlinked.body.patient_id).toBeNull()
      expect((yield* call("GET", `/devices/${device.id}`)).body.patient_id).toBeNull()
      const relinked = yield* call("PATCH", `/devices/${device.id}`, { patient_id: patient.id })
      expect(relinked.body.patient_id).toBe(patient.id)
    }))

  it.effect("answers 404 when patching to an unknown patient or an unknown device, changing nothing", () =>
    Effect.gen(function*() {
      const device = created(yield* call("POST", "/devices", { serial: serial(), firmware: "v1" }))
      const badPatient = yield* call("PATCH", `/devices/${device.id}`, { patient_id: MISSING, firmware: "v2" })
      expect(badPatient).toMatchObject({ status: 404, body: { detail: "Patient not found" } })
      expect((yield* call("GET", `/devices/${device.id}`)).body.firmware).toBe("v1")
      const badDevice = yield* call("PATCH", `/devices/${MISSING}`, { firmware: "v2" })
      expect(badDevice).toMatchObject({ status: 404, body: { detail: "Device not found" } })
    }))

  it.effect("refuses a null firmware with 422 instead of the original's 500", () =>
    Effect.gen(function*() {
      const device = created(yield* call("POST", "/devices", { serial: serial(), firmware: "v1" }))
      const { status, body } = yield* call("PATCH", `/devices/${device.id}`, { firmware: null })
      expect(status).toBe(422)
      expect(body.detail[0].loc).toEqual(["body", "firmware"])
    }))

  it.effect("links a device to a patient", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient
      const device = created(yield* call("POST", "/devices", { serial: serial(), firmware: "v1" }))
      const { status, body } = yield* call("POST", "/devices/link", { device_id: device.id, patient_id: patient.id })
      expect(status).toBe(200)
      expect(body).toEqual({ ...device, patient_id: patient.id })
    }))

  it.effect("answers 404 'Device or patient not found' when either is missing", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient
      const device = created(yield* call("POST", "/devices", { serial: serial(), firmware: "v1" }))
      for (const payload of [{ device_id: MISSING, patient_id: patient.id }, { device_id: device.id, patient_id: MISSING }]) {
        const { status, body } = yield* call("POST", "/devices/link", payload)
        expect(status).toBe(404)
        expect(body).toEqual({ detail: "Device or patient not found" })
      }
      expect((yield* call("GET", `/devices/${device.id}`)).body.patient_id).toBeNull()
      const invalid = yield* call("POST", "/devices/link", { device_id: "x" })
      expect(invalid.status).toBe(422)
      expect(invalid.body.detail.map((d: { loc: Array<string> }) => d.loc[1]).sort()).toEqual(["device_id", "patient_id"])
    }))

  it.effect("lists devices in a stable order with skip and limit", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 4; i++) created(yield* call("POST", "/devices", { serial: serial(), firmware: "v1" }))
      const all = (yield* call("GET", "/devices?limit=1000")).body as Array<unknown>
      expect((yield* call("GET", "/devices?skip=1&limit=2")).body).toEqual(all.slice(1, 3))
      expect((yield* call("GET", "/devices?limit=1001")).status).toBe(422)
    }))
})
