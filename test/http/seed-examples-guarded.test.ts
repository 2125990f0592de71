/**
 * The seeds' README examples in connected mode with authentication required (as `docker compose
 * up` runs): the same requests, with a token added and nothing else changed, answer as they do
 * on the embedded default (whose runs are the seeds' own tests); without the token, 401. The
 * superadmin of SUPERADMIN_EMAIL / SUPERADMIN_PASSWORD makes the token, as the README shows.
 */
import * as grpc from "@grpc/grpc-js"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { loadPackageDefinition } from "../../src/grpc/RegistryGrpc.ts"
import { finalTasks } from "../support/care.ts"
import { fetchJson } from "../support/test-app.ts"
import { registryUrl } from "../support/ml-services.ts"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp
const SUPERADMIN = { email: "root@seeds.example.org", password: "superadmin secret" }

const expectStatus = <A = any>(response: TestApp.JsonResponse, status: number): A => {
  expect(response.status, JSON.stringify(response.body)).toBe(status)
  return response.body as A
}

describe("the seeds' examples with a token", () => {
  layer(
    TestApp.layer({
      VIGIL_AUTH: "required",
      PASSWORD_SCRYPT_LOG_N: "10",
      SUPERADMIN_EMAIL: SUPERADMIN.email,
      SUPERADMIN_PASSWORD: SUPERADMIN.password
    }),
    { timeout: 60_000, excludeTestServices: true }
  )("connected, VIGIL_AUTH=required", (it) => {
    const token = Effect.map(call("POST", "/api/v1/auth/login", SUPERADMIN), (r) => expectStatus<{ access_token: string }>(r, 200).access_token)

    it.effect("seed 000: patient, device, link, thresholds over REST, then GetPatient over gRPC", () =>
      Effect.gen(function*() {
        const auth = { authorization: `Bearer ${yield* token}` }
        expect(expectStatus(yield* call("POST", "/patients", { full_name: "John Doe", age: 45, sex: "M" }), 401)).toEqual({ detail: "Not authenticated" })
        const patient = expectStatus(yield* call("POST", "/patients", { full_name: "John Doe", age: 45, sex: "M" }, auth), 201)
        expect(patient).toMatchObject({ full_name: "John Doe", age: 45, sex: "M" })
        // The README's ids are placeholders: the ones just made stand in for them.
        const device = expectStatus(yield* call("POST", "/devices", { serial: `DEV001-${Date.now()}`, firmware: "v1.2.3", patient_id: patient.id }, auth), 201)
        expectStatus(yield* call("POST", "/devices/link", { device_id: device.id, patient_id: patient.id }, auth), 200)
        expect(expectStatus(yield* call("POST", "/thresholds", { patient_id: patient.id, hr_min: 60, hr_max: 100, spo2_min: 95, temp_min: 36.1, temp_max: 37.2 }, auth), 201))
          .toMatchObject({ patient_id: patient.id, hr_max: 100 })

        const service = (grpc.loadPackageDefinition(loadPackageDefinition()) as any).registry.Registry as grpc.ServiceClientConstructor
        const client = new service(yield* TestApp.grpcAddress, grpc.credentials.createInsecure())
        const getPatient = (metadata: grpc.Metadata) =>
          Effect.async<{ error: grpc.ServiceError | null; response: any }>((resume) => {
            ;(client as any).GetPatient({ version: "1.0.0", patient_id: patient.id }, metadata, (error: grpc.ServiceError | null, response: unknown) =>
              resume(Effect.succeed({ error, response })))
          })
        const unauthenticated = yield* getPatient(new grpc.Metadata())
        expect(unauthenticated.error?.code).toBe(grpc.status.UNAUTHENTICATED)
        const withToken = new grpc.Metadata()
        withToken.set("authorization", auth.authorization)
        const found = yield* getPatient(withToken)
        client.close()
        expect(found.error).toBeNull()
        expect(found.response).toMatchObject({ status: "STATUS_SUCCESS", patient: { patient_id: patient.id, age: 45 } })
      }))

    it.effect("seed 002: the store-vitals example", () =>
      Effect.gen(function*() {
        const body = {
          records: [{ SubjectID: "RA001-001", VisitName: "Screening", TreatmentArm: "Active", SystolicBP: 125, DiastolicBP: 80, HeartRate: 72, Temperature: 36.8 }]
        }
        expectStatus(yield* call("POST", "/store-vitals", body), 401)
        expect(expectStatus(yield* call("POST", "/store-vitals", body, { authorization: `Bearer ${yield* token}` }), 200)).toMatchObject({ success: true, records_stored: 1 })
      }))

    it.effect("seed 001: /health is open on its port; registering needs a token", () =>
      Effect.gen(function*() {
        const base = yield* registryUrl
        expect(expectStatus(yield* fetchJson("GET", `${base}/health`), 200)).toMatchObject({ status: "healthy" })
        expectStatus(yield* fetchJson("GET", `${base}/api/v1/services`), 401)
        expect(expectStatus(yield* fetchJson("GET", `${base}/api/v1/services`, undefined, { authorization: `Bearer ${yield* token}` }), 200)).toEqual(expect.any(Array))
      }))

    it.effect("seed 004: the example workflow, ending in audit_logs", () =>
      Effect.gen(function*() {
        const auth = { authorization: `Bearer ${yield* token}` }
        const patient = expectStatus(yield* call("POST", "/api/v1/users/", { email: `jane.${Date.now()}@example.com`, full_name: "Jane Patient", role: "patient", password: "s3cret-pass" }, auth), 201)
        const doctor = expectStatus(yield* call("POST", "/api/v1/users/", { email: `doc.${Date.now()}@example.com`, full_name: "Dr Who", role: "doctor", password: "s3cret-pass" }, auth), 201)
        const appointment = expectStatus(yield* call("POST", "/api/v1/appointments/", {
          patient_id: patient.id,
          doctor_id: doctor.id,
          scheduled_time: "2031-05-04T09:30:00",
          reason: "Annual check-up"
        }, auth), 201)
        expect(appointment).toMatchObject({ patient_id: patient.id, status: "pending" })
        const [task] = yield* finalTasks(appointment.id, 20, auth)
        expect(task).toMatchObject({ status: "succeeded" })
        expectStatus(yield* call("POST", "/api/v1/lab-results/", { patient_id: patient.id, test_name: "Lipid panel", result_data: { ldl: 96 }, recorded_at: "2026-11-30T08:15:00" }, auth), 201)
        const audit = expectStatus<{ items: Array<{ action: string; actor: string }> }>(yield* call("GET", `/api/v1/audit?entity_type=appointment&entity_id=${appointment.id}`, undefined, auth), 200)
        // The superadmin made it, and the trail says so.
        expect(audit.items[0]).toMatchObject({ action: "created", actor: expect.stringMatching(/^user:\d+$/) })
      }))
  })
})
