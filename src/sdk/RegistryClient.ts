/**
 * The TypeScript SDK of the ML service registry (seed 001's `RegistryClient`, typed): a service
 * registers its metadata, heartbeats, looks others up and searches them by tag, and `keepAlive`
 * keeps it registered for as long as it runs. Its requests and answers are derived from the
 * registry's own contract (`MlRegistryApi`), so the client and the server cannot disagree.
 *
 * Importable as `vigil/sdk`. Effect programs use the `RegistryClient` service (its `layer` needs an
 * `HttpClient`; `layerFetch` brings the platform's `fetch`); others use `createRegistryClient`,
 * whose methods return promises and reject with the same typed errors.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Context, Duration, Effect, Either, Fiber, Layer, ManagedRuntime, ParseResult, type Redacted, Schedule, Schema } from "effect"
import { DataRefused, Unavailable } from "../domain/Errors.ts"
import type { ServiceId } from "../domain/MlService.ts"
import { ServiceRegistration } from "../domain/MlService.ts"
import { NotFound } from "../http/Errors.ts"
import { MlRegistryApi } from "../http/MlRegistryApi.ts"
import type { ServiceHealth, ServiceMetadataResponse } from "../http/MlRegistryApi.ts"

export { NotFound }

/** The metadata a service registers, as the seed's `ServiceMetadata` (defaults left out). */
export type ServiceMetadata = typeof ServiceRegistration.Encoded

/** A registered service as the registry answers it: the seed's metadata and the lease's status. */
export type RegisteredService = typeof ServiceMetadataResponse.Type

/** What the last probe of a service's health URL found. */
export type ServiceHealthEntry = typeof ServiceHealth.Type

/** A search: any (or, with `match: "all"`, all) of the tags, a lease status, text in the name or description. */
export interface ServiceQuery {
  readonly tags?: ReadonlyArray<string>
  readonly match?: "any" | "all"
  readonly status?: "passing" | "critical"
  readonly q?: string
}

/** The metadata breaks the seed's schema; `reason` names the field. Nothing was sent. */
export class InvalidMetadata extends Schema.TaggedError<InvalidMetadata>()("InvalidMetadata", {
  reason: Schema.String
}) {}

/** The registry did not answer as its contract says (unreachable, timed out, unavailable, refused). */
export class RegistryError extends Schema.TaggedError<RegistryError>()("RegistryError", {
  reason: Schema.String
}) {}

export interface KeepAliveOptions {
  /** The registry's lease (its SERVICE_TIMEOUT_SECONDS); heartbeats go at a third of it. Default 60 s. */
  readonly lease?: Duration.DurationInput
  /** Unregister when keepAlive is stopped, as the seed's services do at shutdown. Default true. */
  readonly unregisterOnStop?: boolean
}

export interface RegistryClientOptions {
  /** The registry's base URL, e.g. `http://127.0.0.1:9000`. */
  readonly baseUrl: string
  /** How long one request may take (the seed's client: 5 s). */
  readonly timeout?: Duration.DurationInput
  /**
   * The bearer token sent with every request, where the registry requires one (`VIGIL_AUTH=
   * required`): a service's own token (`POST /api/v1/auth/machine-tokens`, kind "service").
   */
  readonly token?: string | Redacted.Redacted<string> | undefined
}

export interface Registry {
  readonly register: (metadata: ServiceMetadata) => Effect.Effect<{ readonly service_id: string; readonly message: string }, InvalidMetadata | RegistryError>
  readonly unregister: (serviceId: string) => Effect.Effect<void, NotFound | RegistryError>
  /** The registry's time of this heartbeat (`last_heartbeat` from now on). */
  readonly heartbeat: (serviceId: string) => Effect.Effect<string, NotFound | RegistryError>
  readonly get: (serviceId: string) => Effect.Effect<RegisteredService, NotFound | RegistryError>
  readonly list: Effect.Effect<ReadonlyArray<RegisteredService>, RegistryError>
  readonly search: (query: ServiceQuery) => Effect.Effect<ReadonlyArray<RegisteredService>, RegistryError>
  /** The last probe of every service (`refresh` probes them now). */
  readonly health: (options?: { readonly refresh?: boolean }) => Effect.Effect<Readonly<Record<string, ServiceHealthEntry>>, RegistryError>
  /**
   * Registers, then heartbeats at a third of the lease until interrupted, registering again
   * whenever the registry answers that it does not know the service (it was deregistered or
   * forgotten). An unreachable registry is retried at the same pace, never given up on.
   */
  readonly keepAlive: (metadata: ServiceMetadata, options?: KeepAliveOptions) => Effect.Effect<never, InvalidMetadata>
}

const describe = (error: unknown): string =>
  error instanceof Unavailable
    ? `the registry is unavailable: ${error.reason}`
    : error instanceof DataRefused
    ? `the registry refused the data: ${error.reason}`
    : ParseResult.isParseError(error)
    ? `the registry's answer breaks its contract: ${error.message}`
    : error instanceof Error
    ? error.message
    : String(error)

const decodeMetadata = (metadata: ServiceMetadata) =>
  Schema.decodeUnknown(ServiceRegistration, { onExcessProperty: "ignore" })(metadata).pipe(
    Effect.mapError((error) => new InvalidMetadata({ reason: error.message }))
  )

export const make = (options: RegistryClientOptions): Effect.Effect<Registry, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const token = options.token
    const client = (yield* HttpApiClient.make(MlRegistryApi, {
      baseUrl: options.baseUrl,
      ...(token === undefined ? {} : { transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(token)) })
    })).mlServices
    const timeout = Duration.decode(options.timeout ?? "5 seconds")

    /** One request: its declared NotFound kept, anything else a RegistryError saying what happened. */
    const request = <A, E>(what: string, effect: Effect.Effect<A, E>): Effect.Effect<A, Exclude<E, Exclude<E, NotFound>> | RegistryError> =>
      effect.pipe(
        Effect.timeoutFail({ duration: timeout, onTimeout: () => new RegistryError({ reason: `${what}: no answer within ${Duration.format(timeout)}` }) }),
        Effect.mapError((error) => error instanceof NotFound || error instanceof RegistryError ? error : new RegistryError({ reason: `${what}: ${describe(error)}` })),
        Effect.withSpan(`RegistryClient.${what}`)
      ) as Effect.Effect<A, Exclude<E, Exclude<E, NotFound>> | RegistryError>

    const id = (serviceId: string) => ({ path: { service_id: serviceId as ServiceId } })

    const registerDecoded = (registration: ServiceRegistration) =>
      request("register", client.register({ payload: registration })).pipe(
        Effect.map(({ message, service_id }) => ({ service_id, message }))
      )

    const register = (metadata: ServiceMetadata) => Effect.flatMap(decodeMetadata(metadata), registerDecoded)
    const unregister = (serviceId: string) => request("unregister", client.unregister(id(serviceId))).pipe(Effect.asVoid)
    const heartbeat = (serviceId: string) => request("heartbeat", client.heartbeat(id(serviceId))).pipe(Effect.map(({ timestamp }) => timestamp))

    const keepAlive = (metadata: ServiceMetadata, keepAliveOptions: KeepAliveOptions = {}) =>
      Effect.gen(function*() {
        const registration = yield* decodeMetadata(metadata)
        const every = Duration.unsafeDivide(Duration.decode(keepAliveOptions.lease ?? "60 seconds"), 3)
        const registerUntilAccepted = registerDecoded(registration).pipe(
          Effect.tapError((error) => Effect.logWarning("registration failed; trying again", error.reason)),
          Effect.retry(Schedule.spaced(every)),
          // The schedule never ends, so neither does the retrying: no error is left.
          Effect.orDie,
          Effect.tap(() => Effect.logInfo("registered"))
        )
        const beat = heartbeat(registration.service_id).pipe(
          Effect.asVoid,
          Effect.catchTags({
            NotFound: () => Effect.logWarning("the registry does not know this service; registering again").pipe(Effect.zipRight(registerUntilAccepted)),
            RegistryError: (error) => Effect.logWarning("heartbeat failed; the next one is on schedule", error.reason)
          })
        )
        yield* registerUntilAccepted
        return yield* Effect.forever(Effect.delay(beat, every))
      }).pipe(
        Effect.onInterrupt(() =>
          keepAliveOptions.unregisterOnStop === false ? Effect.void : unregister(metadata.service_id).pipe(Effect.ignore)
        ),
        Effect.annotateLogs({ service_id: metadata.service_id, registry: options.baseUrl })
      )

    return {
      register,
      unregister,
      heartbeat,
      get: (serviceId) => request("get", client.get(id(serviceId))),
      list: request("list", client.list({})),
      search: (query) =>
        request(
          "search",
          client.search({
            urlParams: {
              match: query.match ?? "any",
              ...(query.tags !== undefined ? { tags: query.tags.join(",") } : {}),
              ...(query.status !== undefined ? { status: query.status } : {}),
              ...(query.q !== undefined ? { q: query.q } : {})
            }
          })
        ),
      health: (healthOptions) => request("health", client.healthAll({ urlParams: { refresh: healthOptions?.refresh === true ? "true" : "false" } })),
      keepAlive
    } satisfies Registry
  })

export class RegistryClient extends Context.Tag("vigil/sdk/RegistryClient")<RegistryClient, Registry>() {
  static readonly make = make
  static readonly layer = (options: RegistryClientOptions) => Layer.effect(RegistryClient, make(options))
  /** The client on the platform's `fetch`. */
  static readonly layerFetch = (options: RegistryClientOptions) => RegistryClient.layer(options).pipe(Layer.provide(FetchHttpClient.layer))
}

type Promised<F> = F extends (...args: infer Args) => Effect.Effect<infer A, infer _E> ? (...args: Args) => Promise<A>
  : F extends Effect.Effect<infer A, infer _E> ? () => Promise<A>
  : never

/** The client for code that is not an Effect program: promises that reject with the typed errors. */
export interface PromiseRegistry {
  readonly register: Promised<Registry["register"]>
  readonly unregister: Promised<Registry["unregister"]>
  readonly heartbeat: Promised<Registry["heartbeat"]>
  readonly get: Promised<Registry["get"]>
  readonly list: Promised<Registry["list"]>
  readonly search: Promised<Registry["search"]>
  readonly health: Promised<Registry["health"]>
  /** Starts keeping the service registered; `stop` ends it (and unregisters, unless told not to). */
  readonly keepAlive: (metadata: ServiceMetadata, options?: KeepAliveOptions) => { readonly stop: () => Promise<void> }
  /** Stops every keepAlive and releases the client. */
  readonly close: () => Promise<void>
}

export const createRegistryClient = (options: RegistryClientOptions): PromiseRegistry => {
  const runtime = ManagedRuntime.make(RegistryClient.layerFetch(options))
  const keeping = new Set<Fiber.RuntimeFiber<never, InvalidMetadata>>()
  const run = <A, E>(effect: Effect.Effect<A, E, RegistryClient>): Promise<A> =>
    runtime.runPromise(Effect.either(effect)).then(Either.match({ onLeft: (error) => Promise.reject(error), onRight: (value) => value }))
  return {
    register: (metadata) => run(Effect.flatMap(RegistryClient, (c) => c.register(metadata))),
    unregister: (serviceId) => run(Effect.flatMap(RegistryClient, (c) => c.unregister(serviceId))),
    heartbeat: (serviceId) => run(Effect.flatMap(RegistryClient, (c) => c.heartbeat(serviceId))),
    get: (serviceId) => run(Effect.flatMap(RegistryClient, (c) => c.get(serviceId))),
    list: () => run(Effect.flatMap(RegistryClient, (c) => c.list)),
    search: (query) => run(Effect.flatMap(RegistryClient, (c) => c.search(query))),
    health: (healthOptions) => run(Effect.flatMap(RegistryClient, (c) => c.health(healthOptions))),
    keepAlive: (metadata, keepAliveOptions) => {
      const fiber = runtime.runFork(Effect.flatMap(RegistryClient, (c) => c.keepAlive(metadata, keepAliveOptions)))
      keeping.add(fiber)
      fiber.addObserver(() => keeping.delete(fiber))
      return { stop: () => runtime.runPromise(Fiber.interrupt(fiber)).then(() => undefined) }
    },
    close: () => runtime.runPromise(Fiber.interruptAll(keeping)).then(() => runtime.dispose())
  }
}
