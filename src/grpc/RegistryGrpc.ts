/**
 * The `registry.Registry` gRPC service of seed 000, plus server reflection and the standard
 * `grpc.health.v1.Health` service, so `grpcurl` works with no proto file. Lookups share the
 * REST routes' repositories and caches.
 *
 * Seed behaviour kept: a missing record answers OK with `status = STATUS_NOT_FOUND`; every
 * response carries `version = "1.0.0"` and a UTC timestamp ending in `Z`. Seed behaviour fixed:
 * a malformed id is `INVALID_ARGUMENT` naming the field (the original answered INTERNAL); the
 * database unavailable is `UNAVAILABLE` (retry); only a bug is `INTERNAL`, logged with its cause.
 *
 * Access: each method's policy is declared in `rpcPolicies`, beside the implementation. With
 * authentication required, the token comes in the `authorization` metadata ("Bearer <token>"):
 * none or a bad one is `UNAUTHENTICATED`, a caller the policy does not admit `PERMISSION_DENIED`
 * (seed 004 v2's messages); a lookup of one patient's data is recorded in the access audit.
 * Health and reflection stay open, as probes and tools need them.
 */
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"
import { ReflectionService } from "@grpc/reflection"
import { Cause, Config, Context, Effect, Either, Exit, Layer, Option, ParseResult, Runtime, Schema } from "effect"
import { HealthImplementation, protoPath as healthProtoPath } from "grpc-health-check"
import { fileURLToPath } from "node:url"
import { listenPort } from "../domain/ConfigValues.ts"
import { DeviceId } from "../domain/Device.ts"
import type { DataRefused, Unavailable } from "../domain/Errors.ts"
import { PatientId } from "../domain/Patient.ts"
import { AccessDenied, type Caller, CurrentCaller, OPEN } from "../domain/Access.ts"
import { DeviceRepo } from "../persistence/DeviceRepo.ts"
import { AccessControl } from "../services/AccessControl.ts"
import { admits, allow, ownDevice, ownPatient, patientRead, permits, type Policy, STAFF } from "../http/Access.ts"
import { PatientRepo } from "../persistence/PatientRepo.ts"
import { ThresholdProfileRepo } from "../persistence/ThresholdProfileRepo.ts"
import { fromParseIssue } from "../domain/ValidationDetail.ts"
import * as Messages from "./RegistryMessages.ts"
import { MetricsEnabled, timedUnary } from "../observability/Metrics.ts"

export const REGISTRY_PROTO = fileURLToPath(new URL("../../proto/registry.proto", import.meta.url))
export const SERVICE_NAME = "registry.Registry"

/** Both protos in one definition: reflection describes only what it is given. */
export const loadPackageDefinition = () =>
  protoLoader.loadSync([REGISTRY_PROTO, healthProtoPath], {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true
  })

export const GrpcConfig = Config.all({
  port: listenPort("GRPC_PORT", 50051),
  host: Config.string("GRPC_HOST").pipe(Config.withDefault("0.0.0.0"))
})

const invalidArgument = (issue: ParseResult.ParseIssue): grpc.ServiceError => {
  const details = fromParseIssue("body", issue)
    .map((problem) => `${problem.loc.slice(1).join(".")}: ${problem.msg}`)
    .join("; ")
  return Object.assign(new Error(details), { code: grpc.status.INVALID_ARGUMENT, details, metadata: new grpc.Metadata() })
}

const serviceError = (code: grpc.status, details: string): grpc.ServiceError =>
  Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() })

const GetDeviceRequest = Schema.Struct({ version: Schema.String, device_id: DeviceId })
const GetPatientRequest = Schema.Struct({ version: Schema.String, patient_id: PatientId })
const GetThresholdProfileRequest = Schema.Struct({
  version: Schema.String,
  patient_id: PatientId,
  // Echoed back, never looked up, as the seed does: clients send serials here as well as ids.
  device_id: Schema.String.pipe(Schema.maxLength(255))
})

/** Who may call each method of `registry.Registry` (every rpc of the proto needs one: a test checks). */
export const rpcPolicies = {
  GetDevice: allow<typeof GetDeviceRequest.Type>({ ...STAFF, device: ownDevice((r) => r.device_id) }),
  GetPatient: allow<typeof GetPatientRequest.Type>({ ...STAFF, patient: ownPatient((r) => r.patient_id) }, { reads: (r) => patientRead(r.patient_id) }),
  GetThresholdProfile: allow<typeof GetThresholdProfileRequest.Type>({ ...STAFF, patient: ownPatient((r) => r.patient_id) }, {
    reads: (r) => patientRead(r.patient_id)
  })
} satisfies Record<string, Policy>

export interface GrpcServer {
  readonly port: number
}

export class RegistryGrpcServer extends Context.Tag("vigil/RegistryGrpcServer")<RegistryGrpcServer, GrpcServer>() {}

export const make = Effect.gen(function*() {
  const config = yield* GrpcConfig
  const patients = yield* PatientRepo
  const devices = yield* DeviceRepo
  const thresholds = yield* ThresholdProfileRepo
  const control = yield* AccessControl
  const runtime = yield* Effect.runtime<never>()
  const runFork = Runtime.runFork(runtime)

  /** The caller the `authorization` metadata names, once the policy admits them; an error otherwise. */
  const withCaller = (call: grpc.ServerUnaryCall<unknown, unknown>, policy: Policy, proceed: (caller: Caller) => void, fail: (error: grpc.ServiceError) => void) => {
    if (!control.required) return proceed(OPEN)
    const header = call.metadata.get("authorization")[0]
    runFork(control.authenticate(typeof header === "string" ? header : undefined)).addObserver((exit) => {
      if (Exit.isSuccess(exit)) {
        return admits(policy, exit.value) ? proceed(exit.value) : fail(serviceError(grpc.status.PERMISSION_DENIED, policy.denied))
      }
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure) && failure.value._tag === "AuthenticationFailed") return fail(serviceError(grpc.status.UNAUTHENTICATED, failure.value.detail))
      if (Option.isSome(failure) && failure.value._tag === "Unavailable") return fail(serviceError(grpc.status.UNAVAILABLE, `service unavailable: ${failure.value.reason}; retry later`))
      runFork(Effect.logError("gRPC authentication failed", exit.cause).pipe(Effect.annotateLogs("rpc", call.getPath())))
      fail(serviceError(grpc.status.INTERNAL, "internal error"))
    })
  }

  /** Authenticates, decodes the request, checks the policy, runs the lookup, and answers through the callback. */
  const unary = <I, A, Res>(
    schema: Schema.Schema<A, I>,
    policy: Policy<A>,
    lookup: (request: A) => Effect.Effect<Res, Unavailable | DataRefused>
  ): grpc.handleUnaryCall<unknown, Res> => {
    const decode = ParseResult.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "ignore" })
    return (call, callback) => withCaller(call, policy, (caller) => {
      const decoded = decode(call.request)
      if (Either.isLeft(decoded)) return callback(invalidArgument(decoded.left))
      const request = decoded.right
      const guarded: Effect.Effect<Res, Unavailable | DataRefused | AccessDenied> = caller.kind === "open" ? lookup(request) : Effect.flatMap(permits(policy, caller, request), (allowed): Effect.Effect<Res, Unavailable | DataRefused | AccessDenied> =>
        allowed
          ? lookup(request).pipe(
            Effect.tap((response) => {
              // A record that does not exist was not read.
              if ((response as { readonly status?: unknown }).status !== "STATUS_SUCCESS") return
              const accessed = policy.reads?.(request, undefined, caller)
              if (accessed !== undefined) control.record(caller, accessed, call.getPath(), "grpc")
            }),
            Effect.provideService(CurrentCaller, caller)
          )
          : Effect.fail(new AccessDenied({ detail: policy.denied }))) as Effect.Effect<Res, Unavailable | DataRefused | AccessDenied>
      const fiber = runFork(guarded)
      call.on("cancelled", () => fiber.unsafeInterruptAsFork(fiber.id()))
      fiber.addObserver((exit) => {
        if (Exit.isSuccess(exit)) return callback(null, exit.value)
        if (Cause.isInterruptedOnly(exit.cause)) return
        const failure = Cause.failureOption(exit.cause)
        if (Option.isSome(failure)) {
          const error = failure.value
          return callback(
            error._tag === "AccessDenied"
              ? serviceError(grpc.status.PERMISSION_DENIED, error.detail)
              : error._tag === "Unavailable"
              ? serviceError(grpc.status.UNAVAILABLE, `service unavailable: ${error.reason}; retry later`)
              : serviceError(grpc.status.INVALID_ARGUMENT, `the database refused the request: ${error.reason}`)
          )
        }
        // A bug: logged with its cause, never disguised.
        runFork(Effect.logError("gRPC call failed", exit.cause).pipe(Effect.annotateLogs("rpc", call.getPath())))
        callback(serviceError(grpc.status.INTERNAL, "internal error"))
      })
    }, (error) => callback(error))
  }

  const implementation: grpc.UntypedServiceImplementation = {
    GetDevice: unary(GetDeviceRequest, rpcPolicies.GetDevice, (request) =>
      devices.findById(request.device_id).pipe(Effect.map(Option.match({
        onNone: () => Messages.notFound(),
        onSome: (device) => Messages.deviceFound(device)
      })))),
    GetPatient: unary(GetPatientRequest, rpcPolicies.GetPatient, (request) =>
      patients.findById(request.patient_id).pipe(Effect.map(Option.match({
        onNone: () => Messages.notFound(),
        onSome: (patient) => Messages.patientFound(patient)
      })))),
    GetThresholdProfile: unary(GetThresholdProfileRequest, rpcPolicies.GetThresholdProfile, (request) =>
      thresholds.findByPatient(request.patient_id).pipe(Effect.map(Option.match({
        onNone: () => Messages.notFound(),
        onSome: (profile) => Messages.thresholdProfileFound(profile, request.device_id)
      }))))
  }

  const packageDefinition = loadPackageDefinition()
  const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as {
    registry: { Registry: grpc.ServiceClientConstructor }
  }
  const server = new grpc.Server({ "grpc.max_receive_message_length": 1024 * 1024 })
  const timed = (yield* MetricsEnabled)
    ? Object.fromEntries(Object.entries(implementation).map(([method, handler]) => [
      method,
      timedUnary("registry.Registry", method, handler as grpc.handleUnaryCall<unknown, unknown>)
    ]))
    : implementation
  server.addService(loaded.registry.Registry.service, timed)
  new ReflectionService(packageDefinition).addToServer(server)
  const health = new HealthImplementation({ "": "SERVING", [SERVICE_NAME]: "SERVING" })
  health.addToServer(server)

  const port = yield* Effect.async<number, Error>((resume) => {
    server.bindAsync(`${config.host}:${config.port}`, grpc.ServerCredentials.createInsecure(), (error, port) =>
      resume(error ? Effect.fail(error) : Effect.succeed(port)))
  }).pipe(Effect.orDie)

  yield* Effect.addFinalizer(() =>
    Effect.async<void>((resume) => {
      health.setStatus("", "NOT_SERVING")
      health.setStatus(SERVICE_NAME, "NOT_SERVING")
      server.tryShutdown(() => resume(Effect.void))
    }).pipe(
      Effect.timeout("10 seconds"),
      Effect.catchAll(() => Effect.sync(() => server.forceShutdown()))
    )
  )
  return { port } satisfies GrpcServer
})

export const layer = Layer.scoped(RegistryGrpcServer, make)
