/**
 * Pins the gRPC door as a real client sees it (DESIGN.md section 9, seed-sources.md section 1.3):
 * - `registry.Registry` fills GetPatient / GetDevice / GetThresholdProfile as seed 000 does, with
 *   `version = "1.0.0"` and a UTC timestamp on every response;
 * - an unknown id is gRPC OK with `status = STATUS_NOT_FOUND` and no payload;
 * - a malformed id is INVALID_ARGUMENT naming the field;
 * - REST and gRPC see the same data (a REST change shows over gRPC);
 * - `grpc.health.v1.Health` answers SERVING, and server reflection describes the registry
 *   without a proto file (what `grpcurl` needs).
 *
 * Clients load the proto the way the seed's own clients do (`@grpc/proto-loader`, keepCase,
 * enums as strings, defaults on). Every call carries a gRPC deadline, so no test can hang.
 */
import { expect, layer } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"
import { Context, Effect, Layer } from "effect"
import { protoPath as healthProtoPath } from "grpc-health-check"
import descriptor from "protobufjs/ext/descriptor/index.js"
import { fileURLToPath } from "node:url"
import * as TestApp from "../support/test-app.ts"

const REGISTRY_PROTO = fileURLToPath(new URL("../../proto/registry.proto", import.meta.url))
const REFLECTION_PROTO = fileURLToPath(
  new URL("../../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto", import.meta.url)
)
const CLIENT_OPTIONS = { keepCase: true, enums: String, defaults: true, longs: String } as const
const CALL_DEADLINE_MS = 5_000

const VERSION = "1.0.0"
const UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/

// ---------------------------------------------------------------------------------------------
// Clients: one of each, opened on the running test app and closed when the suite ends.
// ---------------------------------------------------------------------------------------------

const loadService = (file: string, options: protoLoader.Options, ...path: Array<string>): grpc.ServiceClientConstructor => {
  let node: any = grpc.loadPackageDefinition(protoLoader.loadSync(file, options))
  for (const key of path) node = node[key]
  return node as grpc.ServiceClientConstructor
}

type ServiceClient = InstanceType<grpc.ServiceClientConstructor>

class Clients extends Context.Tag("test/GrpcClients")<Clients, {
  readonly registry: ServiceClient
  readonly health: ServiceClient
  readonly reflection: ServiceClient
}>() {}

const ClientsLive = Layer.scoped(
  Clients,
  Effect.gen(function*() {
    const address = yield* TestApp.grpcAddress
    const open = (constructor: grpc.ServiceClientConstructor) =>
      Effect.acquireRelease(
        Effect.sync(() => new constructor(address, grpc.credentials.createInsecure())),
        (client) => Effect.sync(() => client.close())
      )
    return {
      registry: yield* open(loadService(REGISTRY_PROTO, CLIENT_OPTIONS, "registry", "Registry")),
      health: yield* open(loadService(healthProtoPath, CLIENT_OPTIONS, "grpc", "health", "v1", "Health")),
      reflection: yield* open(
        loadService(REFLECTION_PROTO, { keepCase: true, longs: String, enums: String, oneofs: true }, "grpc", "reflection", "v1", "ServerReflection")
      )
    }
  })
)

/** One unary call, bounded by a gRPC deadline; interrupting the effect cancels the call. */
const unary = (client: ServiceClient, method: string, request: object): Effect.Effect<any, grpc.ServiceError> =>
  Effect.async((resume) => {
    const call: grpc.ClientUnaryCall = client[method]!.call(
      client,
      request,
      { deadline: Date.now() + CALL_DEADLINE_MS },
      (error: grpc.ServiceError | null, response: unknown) =>
        resume(error === null ? Effect.succeed(response) : Effect.fail(error))
    )
    return Effect.sync(() => call.cancel())
  })

const registryCall = (method: "GetPatient" | "GetDevice" | "GetThresholdProfile", request: object) =>
  Effect.flatMap(Clients, ({ registry }) => unary(registry, method, { version: VERSION, ...request }))

const getPatient = (patient_id: string) => registryCall("GetPatient", { patient_id })
const getDevice = (device_id: string) => registryCall("GetDevice", { device_id })
const getThresholdProfile = (patient_id: string, device_id?: string) =>
  registryCall("GetThresholdProfile", device_id === undefined ? { patient_id } : { patient_id, device_id })

/**
 * Sends each reflection request on one bidi `ServerReflectionInfo` stream, the next only once the
 * previous one is answered, then half-closes and waits for the server's OK status.
 */
const reflect = (requests: ReadonlyArray<object>): Effect.Effect<Array<any>, grpc.ServiceError, Clients> =>
  Effect.flatMap(Clients, ({ reflection }) =>
    Effect.async((resume) => {
      const responses: Array<any> = []
      let settled = false
      const settle = (effect: Effect.Effect<Array<any>, grpc.ServiceError>) => {
        if (settled) return
        settled = true
        resume(effect)
      }
      const stream: grpc.ClientDuplexStream<object, any> = reflection["ServerReflectionInfo"]!.call(
        reflection,
        { deadline: Date.now() + CALL_DEADLINE_MS }
      )
      stream.on("data", (response: any) => {
        responses.push(response)
        const next = requests[responses.length]
        if (next === undefined) stream.end()
        else stream.write(next)
      })
      stream.on("error", (error: grpc.ServiceError) => settle(Effect.fail(error)))
      stream.on("status", (status: grpc.StatusObject) => {
        if (status.code === grpc.status.OK) settle(Effect.succeed(responses))
      })
      stream.write(requests[0]!)
      return Effect.sync(() => stream.cancel())
    }))

// ---------------------------------------------------------------------------------------------
// Fixtures, made over REST.
// ---------------------------------------------------------------------------------------------

const created = (path: string, body: object) =>
  Effect.map(TestApp.call("POST", path, body), (response) => {
    expect(response.status, JSON.stringify(response.body)).toBe(201)
    return response.body
  })

let serials = 0
const createPatient = (sex: "M" | "F" | "Other", full_name = `Patient ${sex}`, age = 40) =>
  created("/patients", { full_name, age, sex })
const createDevice = (patient_id?: string) =>
  created("/devices", { serial: `GRPC-${Date.now()}-${++serials}`, firmware: "v2.0.1", ...(patient_id ? { patient_id } : {}) })

const expectEnvelope = (response: any, status: "STATUS_SUCCESS" | "STATUS_NOT_FOUND") => {
  expect(response.status).toBe(status)
  expect(response.version).toBe(VERSION)
  expect(response.timestamp).toMatch(ISO_UTC)
}

const expectInvalidArgument = (error: grpc.ServiceError, field: string) => {
  expect(error.code).toBe(grpc.status.INVALID_ARGUMENT)
  expect(error.details).toContain(field)
}

// ---------------------------------------------------------------------------------------------

layer(Layer.provideMerge(ClientsLive, TestApp.layer()), { timeout: 60_000, excludeTestServices: true })("registry gRPC", (it) => {
  it.effect("GetPatient returns the patient as the seed fills it, mapping M/F/Other to GENDER_*", () =>
    Effect.gen(function*() {
      const cases = [
        { sex: "M", age: 45, full_name: "Gina Male", gender: "GENDER_MALE" },
        { sex: "F", age: 32, full_name: "Gina Female", gender: "GENDER_FEMALE" },
        { sex: "Other", age: 0, full_name: "Gina Other", gender: "GENDER_OTHER" }
      ] as const
      for (const { sex, age, full_name, gender } of cases) {
        const patient = yield* createPatient(sex, full_name, age)
        const response = yield* getPatient(patient.id)
        expectEnvelope(response, "STATUS_SUCCESS")
        expect(response.patient).toEqual({
          patient_id: patient.id,
          age,
          gender,
          medical_conditions: [],
          medications: [],
          allergies: [],
          metadata: { full_name },
          registered_at: expect.stringMatching(ISO_UTC),
          updated_at: expect.stringMatching(ISO_UTC)
        })
      }
    }))

  it.effect("GetPatient of an unknown id answers OK with STATUS_NOT_FOUND and no patient", () =>
    Effect.gen(function*() {
      const response = yield* getPatient(UNKNOWN_ID)
      expectEnvelope(response, "STATUS_NOT_FOUND")
      expect(response.patient).toBeNull()
    }))

  it.effect("GetPatient with a malformed or empty id fails INVALID_ARGUMENT naming patient_id", () =>
    Effect.gen(function*() {
      for (const id of ["not-a-uuid", ""]) {
        const error = yield* Effect.flip(getPatient(id))
        expectInvalidArgument(error, "patient_id")
      }
    }))

  it.effect("GetDevice returns linked and unlinked devices, STATUS_NOT_FOUND for unknown, INVALID_ARGUMENT for malformed", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient("F")
      const linked = yield* createDevice(patient.id)
      const linkedResponse = yield* getDevice(linked.id)
      expectEnvelope(linkedResponse, "STATUS_SUCCESS")
      expect(linkedResponse.device).toEqual({
        device_id: linked.id,
        device_type: "medical_device",
        patient_id: patient.id,
        status: "DEVICE_STATUS_ACTIVE",
        metadata: { serial: linked.serial, firmware: "v2.0.1" },
        registered_at: expect.stringMatching(ISO_UTC),
        updated_at: expect.stringMatching(ISO_UTC)
      })

      const unlinked = yield* createDevice()
      const unlinkedResponse = yield* getDevice(unlinked.id)
      expectEnvelope(unlinkedResponse, "STATUS_SUCCESS")
      expect(unlinkedResponse.device.device_id).toBe(unlinked.id)
      expect(unlinkedResponse.device.patient_id).toBe("")

      const unknown = yield* getDevice(UNKNOWN_ID)
      expectEnvelope(unknown, "STATUS_NOT_FOUND")
      expect(unknown.device).toBeNull()

      expectInvalidArgument(yield* Effect.flip(getDevice("not-a-uuid")), "device_id")
      expectInvalidArgument(yield* Effect.flip(getDevice("")), "device_id")
    }))

  it.effect("GetThresholdProfile maps the limits to heart_rate / oxygen_saturation / temperature and echoes device_id", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient("M")
      const limits = { hr_min: 55, hr_max: 105, spo2_min: 93, temp_min: 35.9, temp_max: 37.6 }
      const profile = yield* created("/thresholds", { patient_id: patient.id, ...limits })
      const device = yield* createDevice(patient.id)

      const response = yield* getThresholdProfile(patient.id, device.id)
      expectEnvelope(response, "STATUS_SUCCESS")
      expect(response.profile).toMatchObject({
        profile_id: profile.id,
        patient_id: patient.id,
        device_id: device.id,
        heart_rate: { lower_bound: 55, upper_bound: 105, unit: "bpm", critical_lower: 0, critical_upper: 0 },
        oxygen_saturation: { lower_bound: 93, upper_bound: 100, unit: "%", critical_lower: 0, critical_upper: 0 },
        temperature: { lower_bound: 35.9, upper_bound: 37.6, unit: "°C", critical_lower: 0, critical_upper: 0 },
        // The seed never fills these.
        blood_pressure: null,
        respiratory_rate: null
      })

      const withoutDevice = yield* getThresholdProfile(patient.id)
      expectEnvelope(withoutDevice, "STATUS_SUCCESS")
      expect(withoutDevice.profile.profile_id).toBe(profile.id)
      expect(withoutDevice.profile.device_id).toBe("")
    }))

  it.effect("GetThresholdProfile answers STATUS_NOT_FOUND for a patient without one and INVALID_ARGUMENT for a malformed patient_id", () =>
    Effect.gen(function*() {
      const unknown = yield* getThresholdProfile(UNKNOWN_ID)
      expectEnvelope(unknown, "STATUS_NOT_FOUND")
      expect(unknown.profile).toBeNull()

      const withoutProfile = yield* createPatient("Other")
      const none = yield* getThresholdProfile(withoutProfile.id)
      expectEnvelope(none, "STATUS_NOT_FOUND")
      expect(none.profile).toBeNull()

      expectInvalidArgument(yield* Effect.flip(getThresholdProfile("not-a-uuid")), "patient_id")
    }))

  it.effect("a device unlinked over REST shows an empty patient_id over gRPC, even after a cached read", () =>
    Effect.gen(function*() {
      const patient = yield* createPatient("M")
      const device = yield* createDevice(patient.id)
      // Read it first so that the lookup cache holds the linked device.
      expect((yield* getDevice(device.id)).device.patient_id).toBe(patient.id)

      const patched = yield* TestApp.call("PATCH", `/devices/${device.id}`, { patient_id: null })
      expect(patched.status, JSON.stringify(patched.body)).toBe(200)

      const after = yield* getDevice(device.id)
      expectEnvelope(after, "STATUS_SUCCESS")
      expect(after.device.patient_id).toBe("")
    }))

  it.effect("grpc.health.v1.Health/Check answers SERVING for the server and for registry.Registry", () =>
    Effect.gen(function*() {
      const { health } = yield* Clients
      for (const service of ["", "registry.Registry"]) {
        const response = yield* unary(health, "Check", { service })
        expect(response.status, `service "${service}"`).toBe("SERVING")
      }
      const unknown = yield* Effect.flip(unary(health, "Check", { service: "no.such.Service" }))
      expect(unknown.code).toBe(grpc.status.NOT_FOUND)
    }))

  it.effect("server reflection lists the services and serves registry.proto's descriptor, with no proto file", () =>
    Effect.gen(function*() {
      const [listed, described] = yield* reflect([
        { list_services: "" },
        { file_containing_symbol: "registry.Registry" }
      ])

      expect(listed.error_response ?? null).toBeNull()
      const names = listed.list_services_response.service.map((service: { name: string }) => service.name)
      expect(names).toEqual(expect.arrayContaining(["registry.Registry", "grpc.health.v1.Health"]))

      expect(described.error_response ?? null).toBeNull()
      const files: Array<Uint8Array> = described.file_descriptor_response.file_descriptor_proto
      expect(files.length).toBeGreaterThan(0)
      const file = descriptor.FileDescriptorProto.decode(files[0]!).toJSON()
      expect(file["package"]).toBe("registry")
      const services: Array<{ name: string; method: Array<{ name: string }> }> = file["service"]
      expect(services.map((service) => service.name)).toEqual(["Registry"])
      expect(services[0]!.method.map((method) => method.name)).toEqual(["GetDevice", "GetPatient", "GetThresholdProfile"])
    }))
})
