/**
 * Serves an `HttpApi` on `node:http`. The contract (paths, methods, schemas, statuses) is the
 * `HttpApi`; `Router.ts` precompiles each endpoint into a route with synchronous decoders and
 * encoders, and this module runs its handler Effect directly on the application's Runtime.
 *
 * Why not `HttpApiBuilder.serve`: on this hardware the stock stack served about 0.13 of bare
 * `node:http` on a GET (DESIGN.md section 11). Almost all of that cost is the per-request
 * machinery around the handler, not the handler or the schemas, so this adapter keeps the
 * schemas and drops the machinery. It also answers invalid input with FastAPI's 422 `detail`
 * list, naming where each bad value came from (`body`, `path`, `query`).
 *
 * Failures: a handler's typed errors answer with the status their schema declares (`Unavailable`:
 * 503 with `Retry-After`, on every route); a defect is a bug, logged with its cause and answered
 * 500; an interruption at shutdown is 503.
 */
import type * as HttpApi from "@effect/platform/HttpApi"
import { Cause, Effect, Either, Exit, Fiber, Option, Runtime, type Scope } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { AccessDenied, type Accessed, type Caller, CurrentCaller, OPEN } from "../../domain/Access.ts"
import type { AuthenticationFailed } from "../../domain/Auth.ts"
import type { DataRefused, Unavailable } from "../../domain/Errors.ts"
import { type ErrorDetail, fromParseIssue } from "../../domain/ValidationDetail.ts"
import { admits, type ApiPolicies, permits, type Policy, shows } from "../Access.ts"
import type { ApiHandlers, RawRoute } from "../Handlers.ts"
import { parentOf } from "../../observability/Tracing.ts"
import { isMultipart, queryRecord, readBody, sendDetail, sendJson } from "./Responses.ts"
import { type CompiledRoute, compile, match, splitPath } from "./Router.ts"

/** How a guarded server knows its callers (absent: authentication is off and every door is open). */
export interface ServeAccess {
  /** Who an `Authorization` header names, if that is known without waiting (a verified token, a fresh check). */
  readonly known: (authorization: string | undefined) => Caller | undefined
  /** Who an `Authorization` header names. */
  readonly authenticate: (authorization: string | undefined) => Effect.Effect<Caller, AuthenticationFailed | Unavailable | DataRefused>
  /** The access audit: `caller` read `accessed`'s data through `route`. Synchronous. */
  readonly record: (caller: Caller, accessed: Accessed, route: string, door: "http") => void
}

export interface ServeOptions<Api = unknown, R = never> {
  /** One policy per endpoint; serving refuses to start without one. */
  readonly policies: ApiPolicies<Api, R>
  readonly access?: ServeAccess | undefined
  readonly port: number
  readonly host?: string | undefined
  /** Largest request body accepted, in bytes; larger ones get 413. */
  readonly bodyLimit?: number | undefined
  readonly rawRoutes?: ReadonlyArray<RawRoute> | undefined
  /** How long shutdown waits for in-flight requests before closing their connections. */
  readonly drainMillis?: number | undefined
  readonly observe?: RequestObserver | undefined
  /** Each request of the contract in a server span (its parent the request's `traceparent`): when traces are exported. */
  readonly traced?: boolean | undefined
}

/** Told of each request once its route is known: the template (`/patients/{patient_id}`), or "" when none matched. */
export type RequestObserver = (request: IncomingMessage, response: ServerResponse, route: string) => void

const SAFE_METHODS = new Set(["GET", "HEAD"])

export const makeListener = <R>(
  runtime: Runtime.Runtime<R>,
  routes: ReadonlyArray<CompiledRoute>,
  options: {
    readonly bodyLimit: number
    readonly rawRoutes: ReadonlyArray<RawRoute>
    readonly access?: ServeAccess | undefined
    readonly observe?: RequestObserver | undefined
    readonly traced?: boolean | undefined
  },
  inFlight: Set<Fiber.RuntimeFiber<unknown, unknown>>
) => {
  const runFork = Runtime.runFork(runtime)
  const access = options.access
  const observe = options.observe
  const raw = new Map(options.rawRoutes.filter((route) => !route.prefix).map((route) => [route.path, route]))
  const prefixed = options.rawRoutes.filter((route) => route.prefix === true)
  const underPrefix = (path: string) => prefixed.find((route) => path === route.path || path.startsWith(`${route.path}/`))
  const logDefect = (method: string, path: string, cause: Cause.Cause<unknown>) =>
    runFork(Effect.logError("request failed", cause).pipe(Effect.annotateLogs({ method, path })))

  const denied = (policy: Policy) => new AccessDenied({ detail: policy.denied })

  const guarded = (route: CompiledRoute, input: unknown, caller: Caller): Effect.Effect<unknown, unknown, R> => {
    const handled = Effect.provideService(route.handler(input), CurrentCaller, caller)
    if (caller.kind === "open") return handled
    // A grant with nothing to check (or checked on the answer) needs no extra step.
    if (caller.kind !== "system" && typeof route.policy.grants[caller.principal] !== "function") return handled
    return Effect.flatMap(permits(route.policy, caller, input), (allowed) => (allowed ? handled : Effect.fail(denied(route.policy))))
  }

  const traced = (route: CompiledRoute, request: IncomingMessage, path: string, effect: Effect.Effect<unknown, unknown, R>) => {
    const parent = parentOf(request.headers.traceparent as string | undefined)
    return Effect.withSpan(effect, `${route.method} ${route.route}`, {
      kind: "server",
      ...(parent === undefined ? {} : { parent }),
      // The path, never the query: a query may name a patient.
      attributes: { "http.request.method": route.method, "http.route": route.route, "url.path": path }
    })
  }

  const run = (route: CompiledRoute, request: IncomingMessage, response: ServerResponse, input: unknown, path: string, caller: Caller) => {
    const handled = guarded(route, input, caller)
    const fiber = runFork(options.traced === true ? traced(route, request, path, handled) : handled)
    inFlight.add(fiber)
    if (SAFE_METHODS.has(route.method)) {
      // A reader that went away needs no answer; a writer's work is finished regardless.
      response.on("close", () => {
        if (!response.writableFinished) fiber.unsafeInterruptAsFork(fiber.id())
      })
    }
    fiber.addObserver((exit) => {
      inFlight.delete(fiber)
      if (Exit.isSuccess(exit)) {
        if (caller.kind !== "open") {
          // In a fiber's observer: a bug here must not escape, or the process goes down.
          try {
            if (!shows(route.policy, caller, exit.value)) return sendDetail(response, 403, route.policy.denied)
            const accessed = route.policy.reads?.(input, exit.value, caller)
            if (accessed !== undefined) access?.record(caller, accessed, route.template, "http")
          } catch (error) {
            logDefect(request.method ?? "", path, Cause.die(error))
            return sendDetail(response, 500, "Internal Server Error")
          }
        }
        const encoded = route.encodeSuccess(exit.value)
        if (Either.isRight(encoded)) return sendJson(response, route.successStatus, encoded.right)
        logDefect(request.method ?? "", path, Cause.die(new Error(`response does not match its schema: ${String(encoded.left)}`)))
        return sendDetail(response, 500, "Internal Server Error")
      }
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure)) {
        const error = failure.value
        if (error instanceof AccessDenied) return sendDetail(response, 403, error.detail)
        for (const candidate of route.errors) {
          if (!candidate.is(error)) continue
          const encoded = candidate.encode(error)
          const retryAfter = (error as { readonly retryAfterSeconds?: unknown } | null)?.retryAfterSeconds
          if (Either.isRight(encoded)) return sendJson(response, candidate.status, encoded.right, typeof retryAfter === "number" ? retryAfter : undefined)
        }
      }
      if (Cause.isInterruptedOnly(exit.cause)) {
        if (!response.headersSent && !response.destroyed) sendDetail(response, 503, "Service is shutting down")
        return
      }
      logDefect(request.method ?? "", path, exit.cause)
      sendDetail(response, 500, "Internal Server Error")
    })
  }

  return (request: IncomingMessage, response: ServerResponse): void => {
    const url = request.url ?? "/"
    const queryStart = url.indexOf("?")
    let path = queryStart === -1 ? url : url.slice(0, queryStart)
    if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1)
    const method = request.method === "HEAD" ? "GET" : request.method ?? "GET"

    const rawRoute = (method === "GET" ? raw.get(path) : undefined) ?? underPrefix(path)
    if (rawRoute !== undefined) {
      observe?.(request, response, rawRoute.template?.(path) ?? rawRoute.path)
      // A browser's EventSource cannot send headers: a stream may take the token as `access_token`.
      const token = queryStart === -1 ? null : new URLSearchParams(url.slice(queryStart + 1)).get("access_token")
      return withCaller(request, response, rawRoute.policy, token, (caller) => rawRoute.handle(request, response, caller), rawRoute.refuse)
    }

    let segments: Array<string>
    try {
      segments = splitPath(path).map(decodeURIComponent)
    } catch {
      return sendDetail(response, 404, "Not Found")
    }
    let pathMatched = false
    for (const route of routes) {
      const params = match(route, segments)
      if (params === undefined) continue
      pathMatched = true
      if (route.method !== method) continue
      observe?.(request, response, route.route)
      return withCaller(request, response, route.policy, null, (caller) => decodeAndRun(route, params, caller))
    }
    request.resume()
    observe?.(request, response, "")
    if (pathMatched) return sendDetail(response, 405, "Method Not Allowed")
    sendDetail(response, 404, "Not Found")

    function decodeAndRun(route: CompiledRoute, params: Record<string, string>, caller: Caller): void {

      const problems: Array<ErrorDetail> = []
      const input: { path?: unknown; urlParams?: unknown; payload?: unknown; headers?: unknown } = {}
      if (route.decodePath !== undefined) {
        const decoded = route.decodePath(params)
        if (Either.isRight(decoded)) input.path = decoded.right
        else problems.push(...fromParseIssue("path", decoded.left))
      }
      if (route.decodeUrlParams !== undefined) {
        const decoded = route.decodeUrlParams(queryRecord(queryStart === -1 ? "" : url.slice(queryStart + 1)))
        if (Either.isRight(decoded)) input.urlParams = decoded.right
        else problems.push(...fromParseIssue("query", decoded.left))
      }
      if (route.decodeHeaders !== undefined) {
        const decoded = route.decodeHeaders(request.headers)
        if (Either.isRight(decoded)) input.headers = decoded.right
        else problems.push(...fromParseIssue("header", decoded.left))
      }
      if (route.decodePayload === undefined) {
        if (problems.length > 0) {
          request.resume()
          return sendDetail(response, 422, problems)
        }
        return run(route, request, response, input, path, caller)
      }
      const decodePayload = route.decodePayload
      if (isMultipart(request.headers["content-type"])) {
        request.resume()
        return sendDetail(response, 415, "Unsupported Media Type: send application/json")
      }
      return readBody(request, options.bodyLimit, (body) => {
        // Runs in a socket callback: nothing may escape it, or the process goes down.
        try {
          onBody(body)
        } catch (error) {
          logDefect(request.method ?? "", path, Cause.die(error))
          sendDetail(response, 500, "Internal Server Error")
        }
      })
      function onBody(body: Buffer | "too-large") {
        if (body === "too-large") {
          sendDetail(response, 413, `Request body larger than ${options.bodyLimit} bytes`)
          request.destroy()
          return
        }
        if (body.length === 0) {
          problems.push({ type: "missing", loc: ["body"], msg: "Field required", input: null })
        } else {
          let json: unknown
          try {
            json = JSON.parse(body.toString("utf8"))
          } catch (error) {
            problems.push({
              type: "json_invalid",
              loc: ["body"],
              msg: "JSON decode error",
              input: {},
              ...({ ctx: { error: error instanceof Error ? error.message : String(error) } })
            } as ErrorDetail)
          }
          if (json !== undefined) {
            const decoded = decodePayload(json)
            if (Either.isRight(decoded)) input.payload = decoded.right
            else problems.push(...fromParseIssue("body", decoded.left))
          }
        }
        if (problems.length > 0) return sendDetail(response, 422, problems)
        run(route, request, response, input, path, caller)
      }
    }
  }

  /**
   * Calls `proceed` with the caller once they are known and the policy admits their principal:
   * 401 (with `WWW-Authenticate`) when the token names nobody, 403 when their principal has no
   * grant. Open routes, and every route with authentication off, proceed at once.
   */
  function withCaller(
    request: IncomingMessage,
    response: ServerResponse,
    policy: Policy,
    token: string | null,
    proceed: (caller: Caller) => void,
    refuse: (response: ServerResponse, status: 401 | 403 | 503, detail: string) => void = (response, status, detail) =>
      status === 503 ? sendJson(response, 503, { detail }, 1) : sendDetail(response, status, detail)
  ): void {
    if (access === undefined || policy.public) return proceed(OPEN)
    const authorization = request.headers.authorization ?? (token === null ? undefined : `Bearer ${token}`)
    // Most requests carry a token already verified, naming a caller checked a moment ago: no fiber.
    const known = access.known(authorization)
    if (known !== undefined) {
      if (admits(policy, known)) return proceed(known)
      request.resume()
      return refuse(response, 403, policy.denied)
    }
    runFork(access.authenticate(authorization)).addObserver((exit) => {
      try {
        if (Exit.isSuccess(exit)) {
          if (admits(policy, exit.value)) return proceed(exit.value)
          request.resume()
          return refuse(response, 403, policy.denied)
        }
        request.resume()
        const failure = Cause.failureOption(exit.cause)
        if (Option.isSome(failure)) {
          const error = failure.value
          if (error._tag === "AuthenticationFailed") {
            response.setHeader("www-authenticate", "Bearer")
            return refuse(response, 401, error.detail)
          }
          if (error._tag === "Unavailable") return refuse(response, 503, `Service unavailable: ${error.reason}; retry later`)
        }
        logDefect(request.method ?? "", request.url ?? "", exit.cause)
        sendDetail(response, 500, "Internal Server Error")
      } catch (error) {
        logDefect(request.method ?? "", request.url ?? "", Cause.die(error))
        if (!response.headersSent) sendDetail(response, 500, "Internal Server Error")
      }
    })
  }
}

export interface RunningServer {
  readonly server: Server
  readonly port: number
}

/**
 * Listens until the scope closes. Closing stops accepting connections, lets in-flight requests
 * finish (up to `drainMillis`), then closes what is left.
 */
export const serve = <Api extends HttpApi.HttpApi.Any, R, PR = never>(
  api: Api,
  handlers: ApiHandlers<Api, R>,
  options: ServeOptions<Api, PR>
): Effect.Effect<RunningServer, never, R | PR | Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<R | PR>()
    const routes = compile(api, handlers as unknown as Record<string, Record<string, unknown>>, options.policies as unknown as Record<string, Record<string, Policy>>)
    const inFlight = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
    const listener = makeListener(runtime, routes, {
      bodyLimit: options.bodyLimit ?? 1024 * 1024,
      rawRoutes: options.rawRoutes ?? [],
      access: options.access,
      observe: options.observe,
      traced: options.traced
    }, inFlight)
    const server = createServer({ keepAliveTimeout: 65_000 }, listener)
    const port = yield* Effect.async<number>((resume) => {
      server.listen(options.port, options.host ?? "0.0.0.0", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
    })
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        // Streams never finish by themselves: end them first, or closing waits out the drain time.
        for (const route of options.rawRoutes ?? []) route.close?.()
        const closed = Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeIdleConnections()
        })
        const drained = Effect.promise(() =>
          Promise.allSettled([...inFlight].map((fiber) => Effect.runPromise(Fiber.await(fiber))))
        )
        yield* Effect.all([closed, drained], { concurrency: 2 }).pipe(
          Effect.timeout(options.drainMillis ?? 10_000),
          Effect.ignore
        )
        server.closeAllConnections()
      })
    )
    return { server, port }
  })
