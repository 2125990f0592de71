/**
 * The database stopped under a running Vigil (a PostgreSQL server of this test's own, stopped
 * and started again on the same port): every route answers 503 with `Retry-After` (none 500, none
 * past its time limit), gRPC answers `UNAVAILABLE`, readings published to NATS meanwhile are held;
 * once the database is back, Vigil serves again without a restart, and nothing acknowledged before,
 * during or after the outage is lost.
 */
import { describe, expect, layer } from "@effect/vitest"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Layer, Redacted } from "effect"
import * as grpc from "@grpc/grpc-js"
import { randomUUID } from "node:crypto"
import * as App from "../../src/App.ts"
import { loadPackageDefinition } from "../../src/grpc/RegistryGrpc.ts"
import { VigilApi } from "../../src/http/Api.ts"
import * as Database from "../../src/persistence/Database.ts"
import { deleteStreams, requireNats, resolveNats, unique } from "../support/nats-server.ts"
import { OwnPostgresServer } from "../support/own-postgres.ts"
import * as TestApp from "../support/test-app.ts"
import { eventually } from "../support/eventually.ts"
import { metadata } from "../support/ml-services.ts"

const nats = await resolveNats()
const runNats = requireNats(nats, "database outage")
const { call } = TestApp
const scope = { subjectPrefix: unique("out").toLowerCase(), streamPrefix: unique("OUT").toUpperCase() }

/** Longer than any of Vigil's own time limits (an actor call's 10 s): an answer after this is a hang. */
const ROUTE_TIME_LIMIT_MS = 15_000

let server: OwnPostgresServer | undefined
const database = Layer.unwrapScoped(Effect.map(
  Effect.acquireRelease(
    Effect.promise(async () => (server = await OwnPostgresServer.start("vigil"))),
    (own) => Effect.promise(() => own.stop())
  ),
  (own) => Database.layerFromUrl(Redacted.make(own.url("vigil")), { mode: "connected", created: true, poolSize: 5 })
))
const streams = Layer.scopedDiscard(Effect.addFinalizer(() =>
  nats.available ? Effect.promise(() => deleteStreams(nats.url, scope.streamPrefix)).pipe(Effect.ignore) : Effect.void
))
const app = App.make(database).pipe(
  Layer.provide(TestApp.config({
    NATS_URL: nats.available ? nats.url : "",
    NATS_SUBJECT_PREFIX: scope.subjectPrefix,
    NATS_STREAM_PREFIX: scope.streamPrefix,
    OUTBOX_POLL_INTERVAL: "200 millis",
    // An outage several times longer than a message may stay unanswered, with few deliveries allowed.
    INGEST_ACK_WAIT: "2 seconds",
    INGEST_MAX_DELIVER: "2",
    PASSWORD_SCRYPT_LOG_N: "10"
  })),
  Layer.merge(streams)
)


const expectStatus = (response: TestApp.JsonResponse, status: number) => {
  expect(response.status, JSON.stringify(response.body)).toBe(status)
  return response.body
}

const publishReading = (deviceId: string, readingId: string, heartRate: number) =>
  Effect.promise(async () => {
    const nc = await connect({ servers: nats.available ? nats.url : "" })
    try {
      // JetStream's acknowledgement: from here on the reading is accepted and must not be lost.
      await jetstream(nc).publish(`${scope.subjectPrefix}.ingest.vitals.${deviceId}`, JSON.stringify({ reading_id: readingId, heart_rate: heartRate }))
    } finally {
      await nc.close()
    }
  })

interface CareIds {
  readonly doctor: number
  readonly patient: number
  readonly schedule: number
  readonly appointment: number
  readonly task: number
}

/** One request per route of the contract, with ids of records that exist. */
const requests = (ids: { patient: string; device: string; alert: string; measure: string; care: CareIds; mlService: string; token: string }) => {
  const reading = { reading_id: randomUUID(), heart_rate: 80 }
  const measurement = { temperature_celsius: 36.6, blood_pressure_sys: 120, blood_pressure_dias: 80, body_weight: 70, height_cm: 175, stroke: false, diabetes: false }
  const profile = { patient_id: ids.patient, hr_min: 50, hr_max: 110, spo2_min: 92, temp_min: 36, temp_max: 38 }
  const trial = { records: [{ SubjectID: "OUT-1", VisitName: "Screening", TreatmentArm: "Active", SystolicBP: 120, DiastolicBP: 80, HeartRate: 70, Temperature: 36.6 }] }
  return {
    // First, while the heartbeat is within a lease fraction of the registration's write.
    "mlServices.heartbeat": ["POST", `/api/v1/services/${ids.mlService}/heartbeat`],
    "health.health": ["GET", "/health"],
    "health.ready": ["GET", "/ready"],
    "patients.create": ["POST", "/patients", { full_name: "During", age: 40, sex: "F" }],
    "patients.list": ["GET", "/patients"],
    "patients.get": ["GET", `/patients/${ids.patient}`],
    "devices.create": ["POST", "/devices", { serial: unique("OUT"), firmware: "v1" }],
    "devices.list": ["GET", "/devices"],
    "devices.link": ["POST", "/devices/link", { device_id: ids.device, patient_id: ids.patient }],
    "devices.get": ["GET", `/devices/${ids.device}`],
    "devices.update": ["PATCH", `/devices/${ids.device}`, { firmware: "v9" }],
    "thresholds.create": ["POST", "/thresholds", profile],
    "thresholds.list": ["GET", "/thresholds"],
    "thresholds.get": ["GET", `/thresholds/${ids.patient}`],
    "auth.login": ["POST", "/api/v1/auth/login", { email: "nobody@example.org", password: "whatever it is" }],
    "auth.me": ["GET", "/api/v1/auth/me", undefined, { authorization: `Bearer ${ids.token}` }],
    "auth.jwks": ["GET", "/.well-known/jwks.json"],
    // A device's token is made only for a device the registry has: asking needs the database.
    "auth.machineToken": ["POST", "/api/v1/auth/machine-tokens", { kind: "device", id: ids.device }],
    "audit.list": ["GET", "/api/v1/audit"],
    "audit.verify": ["GET", "/api/v1/audit/verify"],
    "monitoring.storeVitals": ["POST", "/store-vitals", trial],
    "monitoring.recordReading": ["POST", `/api/v1/devices/${ids.device}/readings`, reading],
    "monitoring.vitals": ["GET", `/api/v1/patients/${ids.patient}/vitals`],
    "monitoring.snapshot": ["GET", `/api/v1/patients/${ids.patient}/snapshot`],
    "monitoring.ward": ["GET", "/api/v1/ward"],
    "monitoring.alerts": ["GET", "/api/v1/alerts"],
    "monitoring.alert": ["GET", `/api/v1/alerts/${ids.alert}`],
    "monitoring.acknowledge": ["POST", `/api/v1/alerts/${ids.alert}/acknowledge`],
    "monitoring.resolve": ["POST", `/api/v1/alerts/${ids.alert}/resolve`],
    "painkiller.createPatient": ["POST", "/api/v1/patient", { first_name: "A", last_name: "B", age: 30, condition: null }],
    "painkiller.listPatients": ["GET", "/api/v1/patient/list"],
    "painkiller.listPatientsReadme": ["POST", "/api/v1/patient/list"],
    "painkiller.getPatient": ["GET", `/api/v1/patient/${ids.patient}`],
    "painkiller.deletePatient": ["DELETE", `/api/v1/patient/delete/${ids.patient}`],
    "painkiller.deletePatientReadme": ["POST", `/api/v1/patient/delete/${ids.patient}`],
    "painkiller.addPatientMeasurement": ["POST", `/api/v1/patient/${ids.patient}/measurements`, measurement],
    "painkiller.listPatientMeasurements": ["GET", `/api/v1/patient/${ids.patient}/measurements`],
    "painkiller.addMeasurement": ["POST", "/api/v1/measures", { ...measurement, patient_id: ids.patient }],
    "painkiller.listMeasures": ["GET", "/api/v1/measures/list"],
    "painkiller.listMeasurements": ["GET", "/api/v1/measurements/list"],
    "painkiller.listMeasurementsReadme": ["POST", "/api/v1/measurements/list"],
    "painkiller.getMeasure": ["GET", `/api/v1/measures/list/${ids.measure}`],
    "painkiller.listMeasuresOfPatient": ["GET", `/api/v1/measures/${ids.patient}/list`],
    "painkiller.deleteMeasure": ["DELETE", `/api/v1/measures/delete/${ids.measure}`],
    "painkiller.deleteMeasurementReadme": ["POST", `/api/v1/measurements/delete/${ids.measure}`],
    "careRoot.root": ["GET", "/"],
    "users.create": ["POST", "/api/v1/users", { email: `${unique("out")}@example.com`, full_name: "During", role: "patient", password: "long enough" }],
    "users.get": ["GET", `/api/v1/users/${ids.care.patient}`],
    "users.update": ["PATCH", `/api/v1/users/${ids.care.patient}`, { full_name: "Renamed" }],
    "appointments.create": ["POST", "/api/v1/appointments", { patient_id: ids.care.patient, doctor_id: ids.care.doctor, scheduled_time: "2031-02-03T10:00:00Z", reason: "During" }],
    "appointments.get": ["GET", `/api/v1/appointments/${ids.care.appointment}`],
    "appointments.update": ["PATCH", `/api/v1/appointments/${ids.care.appointment}`, { notes: "during the outage" }],
    "appointments.listByPatient": ["GET", `/api/v1/appointments/patients/${ids.care.patient}`],
    "appointments.listByDoctor": ["GET", `/api/v1/appointments/doctors/${ids.care.doctor}`],
    "labResults.create": ["POST", "/api/v1/lab-results", { patient_id: ids.care.patient, test_name: "CBC", result_data: { wbc: 6 }, recorded_at: "2026-11-30T08:00:00Z" }],
    "labResults.listByPatient": ["GET", `/api/v1/lab-results/patients/${ids.care.patient}`],
    "tasks.get": ["GET", `/api/v1/tasks/${ids.care.task}`],
    "tasks.listByAppointment": ["GET", `/api/v1/tasks/appointments/${ids.care.appointment}`],
    "doctors.profile": ["GET", "/api/v1/doctors/me/profile", undefined, { "x-user-id": String(ids.care.doctor) }],
    "doctors.upsertProfile": ["PUT", "/api/v1/doctors/me/profile", { bio: "during" }, { "x-user-id": String(ids.care.doctor) }],
    "doctors.createSchedule": ["POST", "/api/v1/doctors/me/schedules", { start_time: "2032-01-01T09:00:00Z", end_time: "2032-01-01T12:00:00Z" }, {
      "x-user-id": String(ids.care.doctor)
    }],
    "doctors.schedules": ["GET", "/api/v1/doctors/me/schedules", undefined, { "x-user-id": String(ids.care.doctor) }],
    "doctors.updateSchedule": ["PATCH", `/api/v1/doctors/me/schedules/${ids.care.schedule}`, { max_patients: 3 }, { "x-user-id": String(ids.care.doctor) }],
    "doctors.deleteSchedule": ["DELETE", `/api/v1/doctors/me/schedules/${ids.care.schedule}`, undefined, { "x-user-id": String(ids.care.doctor) }],
    "doctors.appointments": ["GET", "/api/v1/doctors/me/appointments", undefined, { "x-user-id": String(ids.care.doctor) }],
    "patientPortal.profile": ["GET", "/api/v1/patients/me/profile", undefined, { "x-user-id": String(ids.care.patient) }],
    "patientPortal.upsertProfile": ["PUT", "/api/v1/patients/me/profile", { blood_type: "O+" }, { "x-user-id": String(ids.care.patient) }],
    "patientPortal.appointments": ["GET", "/api/v1/patients/me/appointments", undefined, { "x-user-id": String(ids.care.patient) }],
    "patientPortal.searchDoctors": ["GET", "/api/v1/patients/doctors"],
    "patientPortal.doctorSchedules": ["GET", `/api/v1/patients/doctors/${ids.care.doctor}/schedules`],
    "mlServices.register": ["POST", "/api/v1/services/register", metadata(unique("outage_model"), "During", "http://127.0.0.1:9", ["outage"])],
    "mlServices.list": ["GET", "/api/v1/services"],
    "mlServices.search": ["GET", "/api/v1/services/search/by-tags?tags=outage"],
    "mlServices.get": ["GET", `/api/v1/services/${ids.mlService}`],
    "mlServices.unregister": ["DELETE", `/api/v1/services/${ids.mlService}`],
    "mlServices.healthAll": ["GET", "/api/v1/health/all"]
  } satisfies Record<string, readonly [string, string, unknown?, Record<string, string>?]>
}

/** Every route of the contract, `group.endpoint`. */
const contractRoutes = Object.values((VigilApi as any).groups).flatMap((group: any) =>
  Object.values(group.endpoints).map((endpoint: any) => `${group.identifier}.${endpoint.name}`)
)

const grpcLookup = (address: string, method: string, request: object) =>
  Effect.async<grpc.status>((resume) => {
    const loaded = grpc.loadPackageDefinition(loadPackageDefinition()) as any
    const client = new loaded.registry.Registry(address, grpc.credentials.createInsecure())
    client[method](request, { deadline: Date.now() + ROUTE_TIME_LIMIT_MS }, (error: grpc.ServiceError | null) => {
      client.close()
      resume(Effect.succeed(error === null ? grpc.status.OK : error.code))
    })
  })

/** Seed 004's records to name: a doctor with a profile and a schedule, a patient, an appointment and its task record. */
const careRecords = Effect.gen(function*() {
  const user = (role: string) =>
    Effect.map(call("POST", "/api/v1/users", { email: `${unique(role)}@example.com`, full_name: role, role, password: "long enough" }), (r) => expectStatus(r, 201).id as number)
  const doctor = yield* user("doctor")
  const patient = yield* user("patient")
  const asDoctor = { "x-user-id": String(doctor) }
  expectStatus(yield* call("PUT", "/api/v1/doctors/me/profile", { specialization: "Nephrology" }, asDoctor), 200)
  const schedule = expectStatus(yield* call("POST", "/api/v1/doctors/me/schedules", { start_time: "2033-01-01T09:00:00Z", end_time: "2033-01-01T12:00:00Z" }, asDoctor), 201).id as number
  const appointment = expectStatus(yield* call("POST", "/api/v1/appointments", { patient_id: patient, doctor_id: doctor, scheduled_time: "2031-01-01T10:00:00Z", reason: "Before" }), 201).id as number
  const [task] = expectStatus(yield* call("GET", `/api/v1/tasks/appointments/${appointment}`), 200)
  return { doctor, patient, schedule, appointment, task: task.id as number } satisfies CareIds
})

describe.skipIf(!runNats)("database outage", () => {
  layer(app, { timeout: 180_000, excludeTestServices: true })("outage", (it) => {
    it.effect("answers 503 with Retry-After on every route while the database is down, and serves again, nothing acknowledged lost, once it is back", () =>
      Effect.gen(function*() {
        const own = server!
        // Records to name, and writes acknowledged before the outage.
        const patient = expectStatus(yield* call("POST", "/patients", { full_name: "Before", age: 50, sex: "M" }), 201)
        const device = expectStatus(yield* call("POST", "/devices", { serial: unique("OUT"), firmware: "v1", patient_id: patient.id }), 201)
        const breach = expectStatus(yield* call("POST", `/api/v1/devices/${device.id}/readings`, { reading_id: randomUUID(), heart_rate: 140 }), 201)
        const alert = breach.alerts.raised[0]
        const measure = expectStatus(yield* call("POST", `/api/v1/patient/${patient.id}/measurements`, {
          temperature_celsius: 36.6, blood_pressure_sys: 120, blood_pressure_dias: 80, body_weight: 70, height_cm: 175, stroke: false, diabetes: false
        }), 201)
        const care = yield* careRecords
        const mlService = unique("outage_model")
        expectStatus(yield* call("POST", "/api/v1/services/register", metadata(mlService, "Before", "http://127.0.0.1:9", ["outage"])), 201)
        // A token from before: verifying it needs its user, so the database.
        const email = `${unique("login")}@example.com`
        expectStatus(yield* call("POST", "/api/v1/users", { email, full_name: "Login", role: "patient", password: "long enough" }), 201)
        const token: string = expectStatus(yield* call("POST", "/api/v1/auth/login", { email, password: "long enough" }), 200).access_token
        const ids = { patient: patient.id, device: device.id, alert: alert.id, measure: measure.id, care, mlService, token }
        const table = requests(ids)
        expect(Object.keys(table).sort(), "a request for every route of the contract").toEqual([...contractRoutes].sort())
        const before = randomUUID()
        yield* publishReading(device.id, before, 81)
        yield* eventually(Effect.flatMap(call("GET", `/api/v1/patients/${patient.id}/vitals?limit=1000`), (r) =>
          r.body.items.some((item: { id: string }) => item.id === before) ? Effect.void : Effect.fail("not stored yet")))

        yield* Effect.promise(() => own.pause())
        const pausedAt = Date.now()
        // The registry cache stops serving the moment its notices stop.
        yield* eventually(Effect.flatMap(call("GET", "/health"), (r) => r.body.cache === "disconnected" ? Effect.void : Effect.fail("cache still connected")), 10)

        // NATS takes readings meanwhile: accepted, so they must be stored once the database is back.
        const during = [randomUUID(), randomUUID()]
        for (const id of during) yield* publishReading(device.id, id, 82)

        let heartbeat: string | undefined
        for (const [route, [method, path, body, headers]] of Object.entries(table) as Array<[string, readonly [string, string, unknown?, Record<string, string>?]]>) {
          const started = Date.now()
          const response = yield* call(method, path, body, headers)
          const elapsed = Date.now() - started
          expect(elapsed, `${route} answered in time`).toBeLessThan(ROUTE_TIME_LIMIT_MS)
          if (route === "mlServices.heartbeat") {
            // The service's actor holds its lease: a beat within a lease fraction of the last one
            // written is answered without the database, and written later (the lease sweep checks
            // this process's beats before it declares a lease run out).
            expect(response.status, JSON.stringify(response.body)).toBe(200)
            heartbeat = response.body.timestamp
            continue
          }
          if (route === "auth.jwks") {
            // The keys tokens are verified with are served from memory: verifiers can fetch them.
            expect(response.status).toBe(200)
            expect(response.body.keys.length).toBeGreaterThan(0)
            continue
          }
          if (route === "careRoot.root") {
            // Seed 004's root answers that the service runs, as its original did, without the database.
            expect(response.status).toBe(200)
            continue
          }
          if (route === "health.health") {
            // Liveness stays 200 (an orchestrator must not restart Vigil for its database) and says why.
            expect(response.status).toBe(200)
            expect(response.body).toMatchObject({ status: "degraded", database: "disconnected", cache: "disconnected" })
            continue
          }
          expect(response.status, `${route}: ${JSON.stringify(response.body)}`).toBe(503)
          expect(response.headers.get("retry-after"), route).toBe("5")
        }
        const address = yield* TestApp.grpcAddress
        for (const [method, request] of [
          ["GetPatient", { version: "1.0.0", patient_id: ids.patient }],
          ["GetDevice", { version: "1.0.0", device_id: ids.device }],
          ["GetThresholdProfile", { version: "1.0.0", patient_id: ids.patient, device_id: ids.device }]
        ] as const) {
          expect(yield* grpcLookup(address, method, request), method).toBe(grpc.status.UNAVAILABLE)
        }

        // The outage lasts at least three ack waits: held messages must not be redelivered meanwhile.
        yield* Effect.sleep(Math.max(0, 7_000 - (Date.now() - pausedAt)))
        yield* Effect.promise(() => own.resume())
        // Back without a restart.
        yield* eventually(Effect.flatMap(call("GET", "/ready"), (r) => r.status === 200 ? Effect.void : Effect.fail("not ready")))
        yield* eventually(Effect.flatMap(call("GET", "/health"), (r) => r.body.cache === "connected" ? Effect.void : Effect.fail("cache not back")))
        const after = expectStatus(yield* call("POST", "/patients", { full_name: "After", age: 51, sex: "F" }), 201)
        expectStatus(yield* call("GET", `/patients/${after.id}`), 200)
        expect(expectStatus(yield* call("POST", `/api/v1/devices/${device.id}/readings`, { reading_id: randomUUID(), heart_rate: 83 }), 201).status)
          .toBe("stored")
        expect(yield* grpcLookup(address, "GetPatient", { version: "1.0.0", patient_id: ids.patient })).toBe(grpc.status.OK)
        // The durable cluster holds its shards again: a booking is confirmed, an update reaches its actor.
        const booked = expectStatus(yield* call("POST", "/api/v1/appointments", {
          patient_id: care.patient, doctor_id: care.doctor, scheduled_time: "2031-03-01T10:00:00Z", reason: "After"
        }), 201)
        yield* eventually(Effect.flatMap(call("GET", `/api/v1/tasks/appointments/${booked.id}`), (r) =>
          r.body[0]?.status === "succeeded" ? Effect.void : Effect.fail(`task ${JSON.stringify(r.body)}`)), 30)
        expect(expectStatus(yield* call("PATCH", `/api/v1/appointments/${care.appointment}`, { notes: "after" }), 200).notes).toBe("after")

        // Nothing acknowledged was lost: the records from before, the heartbeat taken during the
        // outage, and every reading NATS accepted.
        expectStatus(yield* call("GET", `/patients/${patient.id}`), 200)
        expect(heartbeat).toBeDefined()
        expect(expectStatus(yield* call("GET", `/api/v1/services/${mlService}`), 200)).toMatchObject({ last_heartbeat: heartbeat, status: "passing" })
        expectStatus(yield* call("GET", `/api/v1/alerts/${alert.id}`), 200)
        const stored = yield* eventually(Effect.flatMap(call("GET", `/api/v1/patients/${patient.id}/vitals?limit=1000`), (r) => {
          const found = new Set(r.body.items.map((item: { id: string }) => item.id))
          return [before, ...during].every((id) => found.has(id)) ? Effect.succeed(found) : Effect.fail("not all stored yet")
        }))
        expect(stored.has(breach.reading_id)).toBe(true)
        // Held, not redelivered: no delivery was spent on the outage, nothing was dead-lettered.
        const { deadLetters, redelivered } = yield* Effect.promise(async () => {
          const nc = await connect({ servers: nats.available ? nats.url : "" })
          try {
            const jsm = await jetstreamManager(nc)
            const consumer = await jsm.consumers.info(`${scope.streamPrefix}_INGEST`, "vigil-ingest-vitals")
            return { deadLetters: (await jsm.streams.info(`${scope.streamPrefix}_DEADLETTER`)).state.messages, redelivered: consumer.num_redelivered }
          } finally {
            await nc.close()
          }
        })
        expect(deadLetters).toBe(0)
        expect(redelivered).toBe(0)
        expect(expectStatus(yield* call("GET", "/api/v1/audit/verify"), 200).valid).toBe(true)
      }), 180_000)
  })
})
