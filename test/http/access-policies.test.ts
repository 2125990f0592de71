/**
 * Who may open which door, with authentication required. The cases are built from the OpenAPI
 * documents (Vigil's and the ML registry's port) and the proto: every route and RPC, called by
 * {no token, patient, other patient, doctor, admin, device, service, superadmin}, must answer as
 * the table below says: "ok" (past the door: any answer but 401, 403 or a 5xx), 401 or 403. A
 * route or RPC the table does not list fails the test, so no door is added without a decision;
 * one without a declared policy does not even start (`Router.compile`).
 *
 * The table is written from the rules (seed 004 v2's and issue 14's), not from `Policies.ts`.
 * The records the routes are asked about belong to "patient": its registry patient, device,
 * alert, appointment, measurement; "other patient" is another patient user with a patient of
 * their own. Bodies are `{}` (refused as 422 by whoever passes the door), except where a test
 * below is about the body; deletions name records that do not exist.
 */
import * as grpc from "@grpc/grpc-js"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { loadPackageDefinition } from "../../src/grpc/RegistryGrpc.ts"
import { rpcPolicies } from "../../src/grpc/RegistryGrpc.ts"
import { startInstance, withDatabase } from "../support/instances.ts"
import { metadata, registryUrl } from "../support/ml-services.ts"
import * as TestApp from "../support/test-app.ts"

const { call, fetchJson } = TestApp

const IDENTITIES = ["none", "patient", "other", "doctor", "admin", "device", "service", "superadmin"] as const
type Identity = typeof IDENTITIES[number]
type Expected = "ok" | 401 | 403

const PUBLIC = "public" as const
const ADMINS = ["admin", "superadmin"] as const
const STAFF = ["doctor", "admin", "superadmin"] as const
const USERS = ["patient", "other", "doctor", "admin", "superadmin"] as const
const PATIENTS = ["patient", "other", "superadmin"] as const
const DOCTORS = ["doctor", "superadmin"] as const

/** Who gets past each door; everyone else gets 403, and no token 401 (unless public). */
const RULES: Record<string, typeof PUBLIC | ReadonlyArray<Identity>> = {
  // Registry (seed 000)
  "GET /health": PUBLIC,
  "GET /ready": PUBLIC,
  "POST /patients": ADMINS,
  "GET /patients": STAFF,
  "GET /patients/{patient_id}": [...STAFF, "patient"],
  "POST /devices": ADMINS,
  "GET /devices": STAFF,
  "POST /devices/link": ADMINS,
  "GET /devices/{device_id}": [...STAFF, "device"],
  "PATCH /devices/{device_id}": ADMINS,
  "POST /thresholds": ADMINS,
  "GET /thresholds": STAFF,
  "GET /thresholds/{patient_id}": [...STAFF, "patient"],
  "GET /api/v1/audit": ADMINS,
  "GET /api/v1/audit/verify": ADMINS,
  // Monitoring
  "POST /store-vitals": ADMINS,
  "POST /api/v1/devices/{device_id}/readings": [...ADMINS, "device"],
  "GET /api/v1/patients/{patient_id}/vitals": [...STAFF, "patient"],
  "GET /api/v1/patients/{patient_id}/snapshot": [...STAFF, "patient"],
  "GET /api/v1/alerts": [...STAFF, "patient"],
  "GET /api/v1/alerts/{alert_id}": [...STAFF, "patient"],
  "POST /api/v1/alerts/{alert_id}/acknowledge": DOCTORS,
  "POST /api/v1/alerts/{alert_id}/resolve": DOCTORS,
  "GET /api/v1/ward": STAFF,
  // Painkiller (seed 003)
  "POST /api/v1/patient": ADMINS,
  "GET /api/v1/patient/list": STAFF,
  "POST /api/v1/patient/list": STAFF,
  "GET /api/v1/patient/{patient_id}": [...STAFF, "patient"],
  "DELETE /api/v1/patient/delete/{patient_id}": ADMINS,
  "POST /api/v1/patient/delete/{patient_id}": ADMINS,
  "POST /api/v1/patient/{patient_id}/measurements": STAFF,
  "GET /api/v1/patient/{patient_id}/measurements": [...STAFF, "patient"],
  "POST /api/v1/measures": STAFF,
  "GET /api/v1/measures/list": STAFF,
  "GET /api/v1/measurements/list": STAFF,
  "POST /api/v1/measurements/list": STAFF,
  "GET /api/v1/measures/list/{measure_id}": [...STAFF, "patient"],
  "GET /api/v1/measures/{patient_id}/list": [...STAFF, "patient"],
  "DELETE /api/v1/measures/delete/{measure_id}": STAFF,
  "POST /api/v1/measurements/delete/{measure_id}": STAFF,
  // Care coordination (seed 004 v2)
  "GET /": PUBLIC,
  "POST /api/v1/users": ["superadmin"],
  "GET /api/v1/users/{user_id}": ["patient", "superadmin"],
  "PATCH /api/v1/users/{user_id}": ["patient", "superadmin"],
  // Any patient books (for themself: the body test below).
  "POST /api/v1/appointments": ["patient", "other", "superadmin"],
  "GET /api/v1/appointments/{appointment_id}": ["patient", "doctor", "superadmin"],
  "PATCH /api/v1/appointments/{appointment_id}": ["doctor", "superadmin"],
  "GET /api/v1/appointments/patients/{patient_id}": ["patient", "superadmin"],
  "GET /api/v1/appointments/doctors/{doctor_id}": ["doctor", "superadmin"],
  "POST /api/v1/lab-results": STAFF,
  "GET /api/v1/lab-results/patients/{patient_id}": [...STAFF, "patient"],
  "GET /api/v1/tasks/{task_id}": STAFF,
  "GET /api/v1/tasks/appointments/{appointment_id}": STAFF,
  "GET /api/v1/doctors/me/profile": DOCTORS,
  "PUT /api/v1/doctors/me/profile": DOCTORS,
  "POST /api/v1/doctors/me/schedules": DOCTORS,
  "GET /api/v1/doctors/me/schedules": DOCTORS,
  "PATCH /api/v1/doctors/me/schedules/{schedule_id}": DOCTORS,
  "DELETE /api/v1/doctors/me/schedules/{schedule_id}": DOCTORS,
  "GET /api/v1/doctors/me/appointments": DOCTORS,
  "GET /api/v1/patients/me/profile": PATIENTS,
  "PUT /api/v1/patients/me/profile": PATIENTS,
  "GET /api/v1/patients/me/appointments": PATIENTS,
  "GET /api/v1/patients/doctors": PATIENTS,
  "GET /api/v1/patients/doctors/{doctor_user_id}/schedules": PATIENTS,
  // ML service registry (seed 001)
  "POST /api/v1/services/register": [...ADMINS, "service"],
  "GET /api/v1/services": [...STAFF, "service"],
  "GET /api/v1/services/search/by-tags": [...STAFF, "service"],
  "GET /api/v1/services/{service_id}": [...STAFF, "service"],
  "DELETE /api/v1/services/{service_id}": [...ADMINS, "service"],
  "POST /api/v1/services/{service_id}/heartbeat": [...ADMINS, "service"],
  "GET /api/v1/health/all": [...STAFF, "service"],
  // Authentication
  "POST /api/v1/auth/login": PUBLIC,
  "GET /api/v1/auth/me": USERS,
  "POST /api/v1/auth/machine-tokens": ADMINS,
  "GET /.well-known/jwks.json": PUBLIC,
  // Outside the contract
  "GET /api/v1/events/stream": STAFF,
  "GET /openapi.json": PUBLIC,
  "GET /docs": PUBLIC,
  "GET /redoc": PUBLIC,
  // Counts and timings, never a patient's data (issue 17)
  "GET /metrics": PUBLIC,
  "GET /asyncapi.json": PUBLIC,
  // The dashboard page holds no data: what it shows comes from the ward route with the user's token
  "GET /dashboard": PUBLIC,
  // FHIR R4: the same data's rules (a patient's Patient search is their own record)
  "GET /fhir/R4/metadata": PUBLIC,
  "GET /fhir/R4/Patient": [...STAFF, "patient", "other"],
  "GET /fhir/R4/Patient/{patient_id}": [...STAFF, "patient"],
  "GET /fhir/R4/Device": STAFF,
  "GET /fhir/R4/Device/{device_id}": [...STAFF, "device"],
  "GET /fhir/R4/Observation": [...STAFF, "patient"],
  "GET /fhir/R4/Observation/{observation_id}": [...STAFF, "patient"]
}

const FHIR_ROUTES = Object.keys(RULES).filter((route) => route.startsWith("GET /fhir/"))

const RPC_RULES: Record<string, ReadonlyArray<Identity>> = {
  GetDevice: [...STAFF, "device"],
  GetPatient: [...STAFF, "patient"],
  GetThresholdProfile: [...STAFF, "patient"]
}

const expected = (rule: typeof PUBLIC | ReadonlyArray<Identity>, who: Identity): Expected =>
  rule === PUBLIC || rule.includes(who) ? "ok" : who === "none" ? 401 : 403

const SUPERADMIN = { email: "root@access.example.org", password: "superadmin secret" }
const PASSWORD = "correct horse"

const expectStatus = <A = any>(response: TestApp.JsonResponse, status: number): A => {
  expect(response.status, JSON.stringify(response.body)).toBe(status)
  return response.body as A
}
const bearer = (token: string | undefined): Record<string, string> => (token === undefined ? {} : { authorization: `Bearer ${token}` })
const hoursFromNow = (hours: number) => {
  const at = new Date(Date.now() + (hours + 1) * 3_600_000)
  at.setUTCMinutes(0, 0, 0)
  return at.toISOString()
}

interface AuditItem {
  readonly action: string
  readonly actor: string
  readonly entity_type: string
  readonly entity_id: string
  readonly after: unknown
}

/** The audit rows of `entityId` once `done` holds of them (within 5 s). */
const eventuallyRows = (entityId: string, adminToken: string, done: (items: ReadonlyArray<AuditItem>) => boolean) =>
  Effect.gen(function*() {
    const started = Date.now()
    while (true) {
      const response = yield* call("GET", `/api/v1/audit?entity_id=${entityId}&limit=1000`, undefined, bearer(adminToken))
      const items = expectStatus<{ items: Array<AuditItem> }>(response, 200).items
      if (done(items) || Date.now() - started > 5_000) return items
      yield* Effect.sleep("50 millis")
    }
  })

describe("access policies", () => {
  layer(
    TestApp.layer({
      VIGIL_AUTH: "required",
      PASSWORD_SCRYPT_LOG_N: "10",
      SUPERADMIN_EMAIL: SUPERADMIN.email,
      SUPERADMIN_PASSWORD: SUPERADMIN.password,
      ACCESS_AUDIT_FLUSH: "100 millis"
    }),
    { timeout: 180_000, excludeTestServices: true }
  )("with authentication required", (it) => {
    const login = (email: string, password: string) =>
      Effect.map(call("POST", "/api/v1/auth/login", { email, password }), (r) => expectStatus<{ access_token: string }>(r, 200).access_token)

    /** The records and the tokens of every identity, made once. */
    const world = Effect.gen(function*() {
      const root = yield* login(SUPERADMIN.email, SUPERADMIN.password)
      const as = (token: string) => (method: string, path: string, body?: unknown) => call(method, path, body, bearer(token))
      const su = as(root)
      const patient1 = expectStatus<{ id: string }>(yield* su("POST", "/patients", { full_name: "Ada Access", age: 40, sex: "F" }), 201)
      const patient2 = expectStatus<{ id: string }>(yield* su("POST", "/patients", { full_name: "Bo Other", age: 50, sex: "M" }), 201)
      const tag = randomUUID().slice(0, 8)
      const user = (role: string, registry_patient_id?: string) =>
        Effect.map(
          su("POST", "/api/v1/users", { email: `${role}.${tag}@access.example.org`, full_name: `The ${role}`, role, password: PASSWORD, ...(registry_patient_id ? { registry_patient_id } : {}) }),
          (r) => expectStatus<{ id: number; email: string }>(r, 201)
        )
      const patientUser = yield* user("patient", patient1.id)
      const otherUser = yield* Effect.map(
        su("POST", "/api/v1/users", { email: `other.${tag}@access.example.org`, full_name: "The other", role: "patient", password: PASSWORD, registry_patient_id: patient2.id }),
        (r) => expectStatus<{ id: number }>(r, 201)
      )
      const doctorUser = yield* user("doctor")
      const adminUser = yield* user("admin")
      const tokens: Record<Identity, string | undefined> = {
        none: undefined,
        superadmin: root,
        patient: yield* login(patientUser.email, PASSWORD),
        other: yield* login(`other.${tag}@access.example.org`, PASSWORD),
        doctor: yield* login(doctorUser.email, PASSWORD),
        admin: yield* login(adminUser.email, PASSWORD),
        device: undefined,
        service: undefined
      }
      const device = expectStatus<{ id: string }>(yield* su("POST", "/devices", { serial: `ACC-${tag}`, firmware: "1.0", patient_id: patient1.id }), 201)
      const machine = (kind: string, id: string) =>
        Effect.map(su("POST", "/api/v1/auth/machine-tokens", { kind, id }), (r) => expectStatus<{ access_token: string }>(r, 201).access_token)
      tokens.device = yield* machine("device", device.id)
      const serviceId = `svc-access-${tag}`
      tokens.service = yield* machine("service", serviceId)
      expectStatus(yield* as(tokens.service)("POST", "/api/v1/services/register", metadata(serviceId, "Access test", "http://127.0.0.1:9", ["access"])), 201)

      // The doctor's schedule, the patient's appointment with them and its task record.
      const doctor = as(tokens.doctor!)
      expectStatus(yield* doctor("PUT", "/api/v1/doctors/me/profile", { specialization: "General practice" }), 200)
      const schedule = expectStatus<{ id: number; start_time: string }>(
        yield* doctor("POST", "/api/v1/doctors/me/schedules", { start_time: hoursFromNow(24), end_time: hoursFromNow(28), max_patients: 3 }),
        201
      )
      const appointment = expectStatus<{ id: number }>(
        yield* as(tokens.patient!)("POST", "/api/v1/appointments", {
          patient_id: patientUser.id,
          schedule_id: schedule.id,
          scheduled_time: schedule.start_time.replace("Z", ""),
          reason: "Check-up"
        }),
        201
      )
      const tasks = expectStatus<Array<{ id: number }>>(yield* su("GET", `/api/v1/tasks/appointments/${appointment.id}`), 200)

      // An alert of the patient's, a painkiller measurement and a lab result.
      const readingId = randomUUID()
      const stored = yield* as(tokens.device)("POST", `/api/v1/devices/${device.id}/readings`, { reading_id: readingId, heart_rate: 160 })
      const alert = expectStatus<{ alerts: { raised: Array<{ id: string }> } }>(stored, 201).alerts.raised[0]!
      const measure = expectStatus<{ id: string }>(yield* doctor("POST", `/api/v1/patient/${patient1.id}/measurements`, { temperature_celsius: 37.4, blood_pressure_sys: 120, blood_pressure_dias: 80, body_weight: 70, height_cm: 170, stroke: false, diabetes: false }), 201)
      expectStatus(
        yield* doctor("POST", "/api/v1/lab-results", { patient_id: patientUser.id, test_name: "CBC", result_data: { wbc: 6 }, recorded_at: "2026-11-30T08:00:00" }),
        201
      )
      const params: Record<string, string> = {
        patient_id: patient1.id,
        device_id: device.id,
        alert_id: alert.id,
        measure_id: measure.id,
        user_id: String(patientUser.id),
        appointment_id: String(appointment.id),
        doctor_id: String(doctorUser.id),
        doctor_user_id: String(doctorUser.id),
        schedule_id: String(schedule.id),
        task_id: String(tasks[0]!.id),
        service_id: serviceId,
        observation_id: `${readingId}.hr`
      }
      return { tokens, params, patient1, patient2, patientUser, otherUser, doctorUser, device, serviceId, appointment, schedule, alert }
    })
    let built: Effect.Effect.Success<typeof world> | undefined
    const fixtures = Effect.suspend(() => (built !== undefined ? Effect.succeed(built) : Effect.tap(world, (w) => Effect.sync(() => void (built = w)))))

    /** The path a case calls: seed 004's patient and doctor ids are users' ids; deletions name nothing. */
    const concrete = (method: string, template: string, params: Record<string, string>, patientUserId: number) =>
      template.replace(/\{(\w+)\}/g, (_, name: string) => {
        if (method === "DELETE" || template.includes("/delete/")) return name.endsWith("service_id") ? params.service_id! : name === "schedule_id" ? "999999" : randomUUID()
        if (name === "patient_id" && (template.startsWith("/api/v1/appointments/") || template.startsWith("/api/v1/lab-results/"))) return String(patientUserId)
        return params[name]!
      }) + (template === "/api/v1/alerts" ? `?patient_id=${params.patient_id}` : template === "/fhir/R4/Observation" ? `?patient=${params.patient_id}` : "")

    const check = (label: string, status: number, body: unknown, want: Expected) => {
      const where = `${label}: ${status} ${JSON.stringify(body)?.slice(0, 200)}`
      if (want === "ok") {
        expect([401, 403], where).not.toContain(status)
        expect(status, where).toBeLessThan(500)
      } else {
        expect(status, where).toBe(want)
        if (want === 401 && label.includes(" /fhir/")) {
          // The FHIR API says it as an OperationOutcome.
          expect((body as { issue?: Array<unknown> }).issue?.[0], where).toEqual({ severity: "error", code: "login", diagnostics: "Not authenticated" })
        } else if (want === 401) expect((body as { detail?: unknown }).detail, where).toBe("Not authenticated")
      }
    }

    const sweep = (base: string, spec: { paths: Record<string, Record<string, unknown>> }, extra: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const { params, patientUser, tokens } = yield* fixtures
        const routes = [
          ...Object.entries(spec.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`)),
          ...extra
        ]
        const undeclared = routes.filter((route) => RULES[route] === undefined)
        expect(undeclared, "routes with no expected access in this table").toEqual([])
        let cases = 0
        for (const route of routes) {
          const [method, template] = route.split(" ") as [string, string]
          const hasBody = method !== "GET" && method !== "DELETE"
          for (const who of IDENTITIES) {
            const url = `${base}${concrete(method, template, params, patientUser.id)}`
            const want = expected(RULES[route]!, who)
            if (template.endsWith("/stream")) {
              const controller = new AbortController()
              const status = yield* Effect.promise(async () => {
                const response = await fetch(url, { headers: bearer(tokens[who]), signal: controller.signal })
                const s = response.status
                controller.abort()
                return s
              })
              check(`${route} as ${who}`, status, want === 401 ? { detail: "Not authenticated" } : {}, want)
              cases++
              continue
            }
            const response = yield* fetchJson(method, url, hasBody ? {} : undefined, bearer(tokens[who]))
            check(`${route} as ${who}`, response.status, response.body, want)
            cases++
          }
        }
        return cases
      })

    it.effect("every REST route of Vigil's port answers each identity as the rules say", () =>
      Effect.gen(function*() {
        const base = yield* TestApp.baseUrl
        const spec = expectStatus(yield* call("GET", "/openapi.json"), 200)
        const cases = yield* sweep(base, spec, ["GET /api/v1/events/stream", "GET /openapi.json", "GET /docs", "GET /redoc", "GET /metrics", "GET /asyncapi.json", "GET /dashboard", ...FHIR_ROUTES])
        expect(cases).toBeGreaterThanOrEqual(79 * IDENTITIES.length)
      }))

    it.effect("and so does every route of the ML registry's port", () =>
      Effect.gen(function*() {
        const base = yield* registryUrl
        const spec = expectStatus(yield* fetchJson("GET", `${base}/openapi.json`), 200)
        yield* sweep(base, spec, [])
      }))

    it.effect("ownership named in the body or the answer is checked, with seed 004 v2's messages", () =>
      Effect.gen(function*() {
        const w = yield* fixtures
        const as = (who: Identity) => (method: string, path: string, body?: unknown) => call(method, path, body, bearer(w.tokens[who]))
        const denied = (response: TestApp.JsonResponse, detail = "Not enough permissions") => expect(expectStatus(response, 403)).toEqual({ detail })
        // A service registers and beats for itself only.
        denied(yield* as("service")("POST", "/api/v1/services/register", metadata(`${w.serviceId}-other`, "Not mine", "http://127.0.0.1:9", [])))
        denied(yield* as("service")("POST", `/api/v1/services/${w.serviceId}-other/heartbeat`, {}))
        // (The table's sweep unregistered it: it registers itself again, and the trail says who did.)
        expectStatus(yield* as("service")("POST", "/api/v1/services/register", metadata(w.serviceId, "Access test", "http://127.0.0.1:9", ["access"])), 201)
        const registered = yield* eventuallyRows(w.serviceId, w.tokens.admin!, (items) => items.some((row) => row.action === "registered"))
        expect(registered.filter((row) => row.action === "registered").map((row) => row.actor)).toContain(`service:${w.serviceId}`)
        expectStatus(yield* as("service")("POST", `/api/v1/services/${w.serviceId}/heartbeat`, {}), 200)
        // A device submits its own readings only.
        const other = expectStatus<{ id: string }>(yield* as("admin")("POST", "/devices", { serial: `OTHER-${randomUUID().slice(0, 8)}`, firmware: "1.0", patient_id: w.patient2.id }), 201)
        denied(yield* as("device")("POST", `/api/v1/devices/${other.id}/readings`, { reading_id: randomUUID(), heart_rate: 70 }))
        // A patient books for themself only; only the superadmin moves an appointment, and only its doctor updates it.
        denied(yield* as("other")("POST", "/api/v1/appointments", {
          patient_id: w.patientUser.id,
          schedule_id: w.schedule.id,
          scheduled_time: w.schedule.start_time.replace("Z", ""),
          reason: "Not for me"
        }))
        denied(yield* as("doctor")("PATCH", `/api/v1/appointments/${w.appointment.id}`, { scheduled_time: "2031-01-01T10:00:00" }))
        expectStatus(yield* as("doctor")("PATCH", `/api/v1/appointments/${w.appointment.id}`, { notes: "Seen" }), 200)
        // A patient may change themself, but not link themself to another registry patient.
        denied(yield* as("patient")("PATCH", `/api/v1/users/${w.patientUser.id}`, { registry_patient_id: w.patient2.id }))
        expectStatus(yield* as("patient")("PATCH", `/api/v1/users/${w.patientUser.id}`, { full_name: "Ada A. Access" }), 200)
        // The answer decides: another patient's alert is refused, not shown.
        denied(yield* as("other")("GET", `/api/v1/alerts/${w.alert.id}`))
        expectStatus(yield* as("patient")("GET", `/api/v1/alerts/${w.alert.id}`), 200)
        // v2's own message for the superadmin's route, and the 401s.
        denied(yield* as("admin")("POST", "/api/v1/users", {}), "Superadmin privileges required")
        const none = yield* call("GET", "/patients")
        expect(expectStatus(none, 401)).toEqual({ detail: "Not authenticated" })
        expect(none.headers.get("www-authenticate")).toBe("Bearer")
        expect(expectStatus(yield* call("GET", "/patients", undefined, { authorization: "Bearer not.a.token" }), 401)).toEqual({ detail: "Could not validate credentials" })
      }))

    it.effect("a deactivated user's token stops working within seconds", () =>
      Effect.gen(function*() {
        const w = yield* fixtures
        const tag = randomUUID().slice(0, 8)
        const doctor = expectStatus<{ id: number; email: string }>(
          yield* call("POST", "/api/v1/users", { email: `leaving.${tag}@access.example.org`, full_name: "Leaving", role: "doctor", password: PASSWORD }, bearer(w.tokens.superadmin)),
          201
        )
        const token = yield* login(doctor.email, PASSWORD)
        expectStatus(yield* call("GET", "/patients", undefined, bearer(token)), 200)
        expectStatus(yield* call("PATCH", `/api/v1/users/${doctor.id}`, { is_active: false }, bearer(w.tokens.superadmin)), 200)
        const started = Date.now()
        let response = yield* call("GET", "/patients", undefined, bearer(token))
        while (response.status === 200 && Date.now() - started < 5_000) {
          yield* Effect.sleep("100 millis")
          response = yield* call("GET", "/patients", undefined, bearer(token))
        }
        expect(expectStatus(response, 401)).toEqual({ detail: "Inactive or missing user" })
        expect(Date.now() - started).toBeLessThan(3_000)
      }))

    it.effect("reads of one patient's data are in the audit trail beside its writes: who, which route, which door", () =>
      Effect.gen(function*() {
        const w = yield* fixtures
        const patientToken = bearer(w.tokens.patient)
        expectStatus(yield* call("GET", `/patients/${w.patient1.id}`, undefined, patientToken), 200)
        expectStatus(yield* call("GET", `/api/v1/patients/${w.patient1.id}/vitals`, undefined, bearer(w.tokens.doctor)), 200)
        // gRPC reads too.
        const address = yield* TestApp.grpcAddress
        const service = (grpc.loadPackageDefinition(loadPackageDefinition()) as any).registry.Registry as grpc.ServiceClientConstructor
        const client = new service(address, grpc.credentials.createInsecure())
        const meta = new grpc.Metadata()
        meta.set("authorization", `Bearer ${w.tokens.patient}`)
        yield* Effect.async<void>((resume) => {
          ;(client as any).GetPatient({ version: "1.0.0", patient_id: w.patient1.id }, meta, (error: unknown) => resume(error ? Effect.die(error) : Effect.void))
        })
        client.close()
        const started = Date.now()
        const isGrpcRead = (row: AuditItem) => row.action === "read" && (row.after as { door?: string } | null)?.door === "grpc"
        const rows = yield* eventuallyRows(w.patient1.id, w.tokens.admin!, (items) => items.some(isGrpcRead))
        // Flushed well within a second (the writer runs every 100 ms here).
        expect(Date.now() - started).toBeLessThan(2_000)
        const reads = rows.filter((row) => row.action === "read")
        expect(reads).toEqual(expect.arrayContaining([
          expect.objectContaining({
            actor: `user:${w.patientUser.id}`,
            entity_type: "patient",
            entity_id: w.patient1.id,
            after: { route: "GET /patients/:patient_id", door: "http", reads: 1, last_read_at: expect.stringMatching(/Z$/) }
          }),
          expect.objectContaining({ actor: `user:${w.doctorUser.id}`, after: expect.objectContaining({ route: "GET /api/v1/patients/:patient_id/vitals", door: "http" }) }),
          expect.objectContaining({ actor: `user:${w.patientUser.id}`, after: expect.objectContaining({ route: "/registry.Registry/GetPatient", door: "grpc", reads: 1 }) })
        ]))
        // ... beside its writes, made by the superadmin.
        expect(rows.find((row) => row.action === "created")).toMatchObject({ entity_type: "patient", actor: expect.stringMatching(/^user:\d+$/) })
        // A refused read is not a read.
        yield* call("GET", `/patients/${w.patient1.id}`, undefined, bearer(w.tokens.other))
        yield* Effect.sleep("400 millis")
        const after = yield* eventuallyRows(w.patient1.id, w.tokens.admin!, () => true)
        expect(after.filter((row) => row.action === "read" && row.actor === `user:${w.otherUser.id}`)).toEqual([])
        // The chain still verifies with the reads in it.
        expect(expectStatus(yield* call("GET", "/api/v1/audit/verify", undefined, bearer(w.tokens.admin)), 200)).toMatchObject({ valid: true })
      }))

    it.effect("a change is recorded as its caller's, also when an actor makes it; Vigil's own as the system's", () =>
      Effect.gen(function*() {
        const w = yield* fixtures
        const other = expectStatus<{ id: string }>(yield* call("POST", "/devices", { serial: `ACT-${randomUUID().slice(0, 8)}`, firmware: "1.0", patient_id: w.patient2.id }, bearer(w.tokens.admin)), 201)
        const stored = expectStatus<{ alerts: { raised: Array<{ id: string }> } }>(
          yield* call("POST", `/api/v1/devices/${other.id}/readings`, { reading_id: randomUUID(), heart_rate: 170 }, bearer(w.tokens.admin)),
          201
        )
        const alert = stored.alerts.raised[0]!
        expect(expectStatus(yield* call("POST", `/api/v1/alerts/${alert.id}/acknowledge`, {}, bearer(w.tokens.doctor)), 200)).toMatchObject({
          acknowledged_by: `user:${w.doctorUser.id}`
        })
        const rows = yield* eventuallyRows(alert.id, w.tokens.admin!, (items) => items.some((row) => row.action === "acknowledged"))
        expect(rows.find((row) => row.action === "acknowledged")).toMatchObject({ actor: `user:${w.doctorUser.id}` })
        // Raised by Vigil itself (the patient's monitor evaluating a reading), not by a caller.
        expect(rows.find((row) => row.action === "raised")).toMatchObject({ actor: "system" })
      }))

    it.effect("reads alike within one flush are one row that counts them", () =>
      Effect.gen(function*() {
        const w = yield* fixtures
        // Only the doctor reads patient 2's record: the rows are this test's.
        const reads = 25
        yield* Effect.forEach(Array.from({ length: reads }), () => call("GET", `/patients/${w.patient2.id}`, undefined, bearer(w.tokens.doctor)), { concurrency: 5 })
        const total = (items: ReadonlyArray<AuditItem>) =>
          items.filter((row) => row.action === "read" && (row.after as { route?: string }).route === "GET /patients/:patient_id")
            .reduce((sum, row) => sum + (row.after as { reads: number }).reads, 0)
        const rows = yield* eventuallyRows(w.patient2.id, w.tokens.admin!, (items) => total(items) >= reads)
        expect(total(rows)).toBe(reads)
        const mine = rows.filter((row) => row.action === "read" && (row.after as { route?: string }).route === "GET /patients/:patient_id")
        expect(mine.length).toBeLessThan(reads)
        for (const row of mine) expect(row.actor).toBe(`user:${w.doctorUser.id}`)
      }))

    it.effect("the event stream takes its token in the header or, for EventSource, as access_token", () =>
      Effect.gen(function*() {
        const w = yield* fixtures
        const base = yield* TestApp.baseUrl
        const open = (query: string, headers: Record<string, string>) =>
          Effect.promise(async () => {
            const controller = new AbortController()
            const response = await fetch(`${base}/api/v1/events/stream${query}`, { headers, signal: controller.signal })
            const status = response.status
            controller.abort()
            return status
          })
        expect(yield* open(`?access_token=${w.tokens.doctor}`, {})).toBe(200)
        expect(yield* open(`?access_token=${w.tokens.patient}`, {})).toBe(403)
        expect(yield* open("", bearer(w.tokens.doctor))).toBe(200)
        expect(yield* open("?access_token=forged", {})).toBe(401)
      }))

    it.effect("every RPC of the proto answers each identity as the rules say", () =>
      Effect.gen(function*() {
        const { params, tokens } = yield* fixtures
        const address = yield* TestApp.grpcAddress
        const definition = loadPackageDefinition()
        const service = (grpc.loadPackageDefinition(definition) as any).registry.Registry as grpc.ServiceClientConstructor
        const methods = Object.keys(service.service)
        expect(methods.filter((m) => RPC_RULES[m] === undefined), "RPCs with no expected access").toEqual([])
        expect(Object.keys(rpcPolicies).sort(), "RPCs with a declared policy").toEqual(methods.slice().sort())
        const client = new service(address, grpc.credentials.createInsecure())
        try {
          for (const method of methods) {
            const request = { version: "1.0.0", patient_id: params.patient_id, device_id: params.device_id }
            for (const who of IDENTITIES) {
              const metadataOf = new grpc.Metadata()
              if (tokens[who] !== undefined) metadataOf.set("authorization", `Bearer ${tokens[who]}`)
              const outcome = yield* Effect.async<{ code: number; details: string }>((resume) => {
                ;(client as any)[method](request, metadataOf, (error: grpc.ServiceError | null) =>
                  resume(Effect.succeed(error === null ? { code: grpc.status.OK, details: "" } : { code: error.code, details: error.details })))
              })
              const want = expected(RPC_RULES[method]!, who)
              const label = `${method} as ${who}: ${JSON.stringify(outcome)}`
              if (want === "ok") expect(outcome.code, label).toBe(grpc.status.OK)
              else if (want === 401) expect(outcome, label).toEqual({ code: grpc.status.UNAUTHENTICATED, details: "Not authenticated" })
              else expect(outcome, label).toEqual({ code: grpc.status.PERMISSION_DENIED, details: "Not enough permissions" })
            }
          }
        } finally {
          client.close()
        }
      }))
  })
})

describe("the access audit at shutdown", () => {
  it.effect("writes the reads it holds when Vigil stops, however long until its next flush", () =>
    withDatabase((name) =>
      Effect.gen(function*() {
        const env = {
          VIGIL_AUTH: "required",
          PASSWORD_SCRYPT_LOG_N: "10",
          SUPERADMIN_EMAIL: SUPERADMIN.email,
          SUPERADMIN_PASSWORD: SUPERADMIN.password,
          ACCESS_AUDIT_FLUSH: "1 hour"
        }
        const vigil = yield* startInstance(name, env)
        const token = expectStatus<{ access_token: string }>(yield* vigil.call("POST", "/api/v1/auth/login", SUPERADMIN), 200).access_token
        const patient = expectStatus<{ id: string }>(yield* vigil.call("POST", "/patients", { full_name: "Held Read", age: 33, sex: "F" }, bearer(token)), 201)
        expectStatus(yield* vigil.call("GET", `/patients/${patient.id}`, undefined, bearer(token)), 200)
        yield* Effect.sleep("300 millis")
        const before = yield* vigil.sql<{ n: string }>`SELECT count(*) AS n FROM audit_events WHERE action = 'read' AND entity_id = ${patient.id}`
        expect(Number(before[0]!.n)).toBe(0)
        yield* vigil.stop
        const again = yield* startInstance(name, { ...env, ACCESS_AUDIT_FLUSH: "200 millis" })
        const after = yield* again.sql<{ n: string; actor: string }>`
          SELECT count(*) AS n, min(actor) AS actor FROM audit_events WHERE action = 'read' AND entity_id = ${patient.id} AND seq > 0`
        yield* again.stop
        expect(after[0]).toEqual({ n: "1", actor: expect.stringMatching(/^user:\d+$/) })
      })
    ), 60_000)
})
