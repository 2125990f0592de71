/**
 * Serves an `HttpApi` on `node:http`. The contract (paths, methods, schemas, statuses) is the
 * `HttpApi`; this module precompiles each endpoint into a route with synchronous decoders and
 * encoders, and runs its handler Effect directly on the application's Runtime.
 *
 * Why not `HttpApiBuilder.serve`: on this hardware the stock stack served about 0.13 of bare
 * `node:http` on a GET (DESIGN.md section 11). Almost all of that cost is the per-request
 * machinery around the handler, not the handler or the schemas, so this adapter keeps the
 * schemas and drops the machinery. It also answers invalid input with FastAPI's 422 `detail`
 * list, naming where each bad value came from (`body`, `path`, `query`).
 */
import type { HttpApi, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { HttpApiSchema } from "@effect/platform"
import { Cause, Effect, Either, Exit, Fiber, Option, ParseResult, Runtime, Schema, SchemaAST, type Scope } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { type ErrorDetail, fromParseIssue } from "../domain/ValidationDetail.ts"

// ---------------------------------------------------------------------------------------------
// Handler types, derived from the contract
// ---------------------------------------------------------------------------------------------

export interface EndpointRequest<E extends HttpApiEndpoint.HttpApiEndpoint.Any> {
  readonly path: HttpApiEndpoint.HttpApiEndpoint.PathParsed<E>
  readonly urlParams: HttpApiEndpoint.HttpApiEndpoint.UrlParams<E>
  readonly payload: HttpApiEndpoint.HttpApiEndpoint.Payload<E>
}

export type EndpointHandler<E extends HttpApiEndpoint.HttpApiEndpoint.Any, GroupError, R> = (
  request: EndpointRequest<E>
) => Effect.Effect<HttpApiEndpoint.HttpApiEndpoint.Success<E>, HttpApiEndpoint.HttpApiEndpoint.Error<E> | GroupError, R>

export type GroupHandlers<G extends HttpApiGroup.HttpApiGroup.Any, R> = {
  readonly [E in HttpApiGroup.HttpApiGroup.Endpoints<G> as HttpApiEndpoint.HttpApiEndpoint.Name<E>]: EndpointHandler<
    E,
    HttpApiGroup.HttpApiGroup.Error<G>,
    R
  >
}

/** One handler per endpoint, grouped as the API is: a missing or mistyped handler is a type error. */
export type ApiHandlers<Api, R> = Api extends HttpApi.HttpApi<infer _Id, infer Groups, infer _E, infer _R> ? {
    readonly [G in Groups as HttpApiGroup.HttpApiGroup.Name<G>]: GroupHandlers<G, R>
  }
  : never

/** A route outside the contract (docs pages, the OpenAPI document, metrics): plain node:http. */
export interface RawRoute {
  readonly method: "GET"
  readonly path: string
  readonly handle: (request: IncomingMessage, response: ServerResponse) => void
  /** Called when shutdown begins: a route holding responses open (a stream) ends them here. */
  readonly close?: () => void
}

export interface ServeOptions {
  readonly port: number
  readonly host?: string | undefined
  /** Largest request body accepted, in bytes; larger ones get 413. */
  readonly bodyLimit?: number | undefined
  readonly rawRoutes?: ReadonlyArray<RawRoute> | undefined
  /** How long shutdown waits for in-flight requests before closing their connections. */
  readonly drainMillis?: number | undefined
}

// ---------------------------------------------------------------------------------------------
// Compilation
// ---------------------------------------------------------------------------------------------

type Decoder = (input: unknown) => Either.Either<unknown, ParseResult.ParseIssue>

interface ErrorEncoder {
  readonly is: (u: unknown) => boolean
  readonly encode: (u: unknown) => Either.Either<unknown, ParseResult.ParseIssue>
  readonly status: number
}

interface CompiledRoute {
  readonly method: string
  readonly segments: ReadonlyArray<string>
  readonly paramNames: ReadonlyArray<string | undefined>
  readonly decodePath: Decoder | undefined
  readonly decodeUrlParams: Decoder | undefined
  readonly decodePayload: Decoder | undefined
  readonly encodeSuccess: (u: unknown) => Either.Either<unknown, ParseResult.ParseIssue>
  readonly successStatus: number
  readonly errors: ReadonlyArray<ErrorEncoder>
  readonly handler: (request: unknown) => Effect.Effect<unknown, unknown, any>
}

const decodeOptions = { errors: "all", onExcessProperty: "ignore" } as const

const decoder = (schema: Option.Option<Schema.Schema<any, any, any>>): Decoder | undefined =>
  Option.isSome(schema) ? ParseResult.decodeUnknownEither(schema.value as Schema.Schema<any, any>, decodeOptions) : undefined

const unionMembers = (ast: SchemaAST.AST): Array<SchemaAST.AST> =>
  ast._tag === "Union" ? ast.types.flatMap(unionMembers) : ast._tag === "NeverKeyword" ? [] : [ast]

const errorEncoders = (...schemas: Array<Schema.Schema.All>): Array<ErrorEncoder> =>
  schemas.flatMap((schema) => unionMembers(schema.ast)).map((ast) => {
    const schema = Schema.make(ast) as Schema.Schema<unknown, unknown>
    return {
      is: Schema.is(Schema.typeSchema(schema)),
      encode: ParseResult.encodeUnknownEither(schema),
      status: HttpApiSchema.getStatusErrorAST(ast)
    }
  })

const splitPath = (path: string): Array<string> => path.split("/").filter((segment) => segment.length > 0)

const compile = (api: HttpApi.HttpApi.Any, handlers: Record<string, Record<string, unknown>>): Array<CompiledRoute> => {
  const routes: Array<CompiledRoute> = []
  const { groups } = api as unknown as HttpApi.HttpApi.AnyWithProps
  for (const group of Object.values(groups) as Array<HttpApiGroup.HttpApiGroup.AnyWithProps>) {
    for (const endpoint of Object.values(group.endpoints) as Array<HttpApiEndpoint.HttpApiEndpoint.AnyWithProps>) {
      const handler = handlers[group.identifier]?.[endpoint.name]
      if (typeof handler !== "function") {
        throw new Error(`no handler for ${group.identifier}.${endpoint.name} (${endpoint.method} ${endpoint.path})`)
      }
      const segments = splitPath(endpoint.path)
      routes.push({
        method: endpoint.method,
        segments,
        paramNames: segments.map((segment) => (segment.startsWith(":") ? segment.slice(1) : undefined)),
        decodePath: decoder(endpoint.pathSchema),
        decodeUrlParams: decoder(endpoint.urlParamsSchema),
        decodePayload: decoder(endpoint.payloadSchema),
        encodeSuccess: ParseResult.encodeUnknownEither(endpoint.successSchema as Schema.Schema<unknown, unknown>),
        successStatus: HttpApiSchema.getStatusSuccessAST(endpoint.successSchema.ast),
        errors: errorEncoders(endpoint.errorSchema, group.errorSchema),
        handler: handler as CompiledRoute["handler"]
      })
    }
  }
  // Static segments win over parameters, so `/devices/link` is never read as a device id.
  return routes.sort((a, b) => a.paramNames.filter(Boolean).length - b.paramNames.filter(Boolean).length)
}

const match = (
  route: CompiledRoute,
  segments: ReadonlyArray<string>
): Record<string, string> | undefined => {
  if (route.segments.length !== segments.length) return undefined
  let params: Record<string, string> | undefined
  for (let i = 0; i < segments.length; i++) {
    const name = route.paramNames[i]
    if (name === undefined) {
      if (route.segments[i] !== segments[i]) return undefined
    } else {
      ;(params ??= {})[name] = segments[i]!
    }
  }
  return params ?? {}
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/**
 * `JSON.stringify` that never throws: a 422 echoes the caller's input, which may be nested
 * deeper than the stack allows. Then the echoed inputs are left out, and failing that, 500.
 */
const serialise = (status: number, body: unknown): { readonly status: number; readonly text: string } => {
  if (body === undefined) return { status, text: "" }
  try {
    return { status, text: JSON.stringify(body) }
  } catch {
    const detail = (body as { detail?: unknown }).detail
    if (Array.isArray(detail)) {
      try {
        return { status, text: JSON.stringify({ detail: detail.map(({ input: _input, ...rest }) => rest) }) }
      } catch {
        // fall through
      }
    }
    return { status: 500, text: JSON.stringify({ detail: "Internal Server Error" }) }
  }
}

export const sendJson = (response: ServerResponse, status: number, body: unknown): void => {
  if (response.headersSent) return
  const { status: sent, text } = serialise(status, body)
  status = sent
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text)
  })
  response.end(text)
}

const sendDetail = (response: ServerResponse, status: number, detail: string | ReadonlyArray<ErrorDetail>) =>
  sendJson(response, status, { detail })

/**
 * Bodies are read as JSON whatever their declared type (`curl -d` sends form-urlencoded), as
 * FastAPI's clients are used to; only multipart is refused outright.
 */
const isMultipart = (contentType: string | undefined): boolean =>
  contentType !== undefined && contentType.toLowerCase().startsWith("multipart/")

const readBody = (request: IncomingMessage, limit: number, onDone: (body: Buffer | "too-large") => void) => {
  const chunks: Array<Buffer> = []
  let size = 0
  let finished = false
  request.on("data", (chunk: Buffer) => {
    if (finished) return
    size += chunk.length
    if (size > limit) {
      finished = true
      onDone("too-large")
      return
    }
    chunks.push(chunk)
  })
  request.on("end", () => {
    if (finished) return
    finished = true
    onDone(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks))
  })
  request.on("error", () => {
    finished = true
  })
}

const queryRecord = (query: string): Record<string, string> => {
  const record: Record<string, string> = {}
  // As in FastAPI, a repeated scalar parameter takes its last value.
  for (const [key, value] of new URLSearchParams(query)) record[key] = value
  return record
}

// ---------------------------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------------------------

const SAFE_METHODS = new Set(["GET", "HEAD"])

export const makeListener = <R>(
  runtime: Runtime.Runtime<R>,
  routes: ReadonlyArray<CompiledRoute>,
  options: { readonly bodyLimit: number; readonly rawRoutes: ReadonlyArray<RawRoute> },
  inFlight: Set<Fiber.RuntimeFiber<unknown, unknown>>
) => {
  const runFork = Runtime.runFork(runtime)
  const raw = new Map(options.rawRoutes.map((route) => [route.path, route]))
  const logDefect = (method: string, path: string, cause: Cause.Cause<unknown>) =>
    runFork(Effect.logError("request failed", cause).pipe(Effect.annotateLogs({ method, path })))

  const run = (route: CompiledRoute, request: IncomingMessage, response: ServerResponse, input: unknown, path: string) => {
    const fiber = runFork(route.handler(input) as Effect.Effect<unknown, unknown, R>)
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
        const encoded = route.encodeSuccess(exit.value)
        if (Either.isRight(encoded)) return sendJson(response, route.successStatus, encoded.right)
        logDefect(request.method ?? "", path, Cause.die(new Error(`response does not match its schema: ${String(encoded.left)}`)))
        return sendDetail(response, 500, "Internal Server Error")
      }
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure)) {
        const error = failure.value
        for (const candidate of route.errors) {
          if (!candidate.is(error)) continue
          const encoded = candidate.encode(error)
          if (Either.isRight(encoded)) return sendJson(response, candidate.status, encoded.right)
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

    const rawRoute = method === "GET" ? raw.get(path) : undefined
    if (rawRoute !== undefined) return rawRoute.handle(request, response)

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

      const problems: Array<ErrorDetail> = []
      const input: { path?: unknown; urlParams?: unknown; payload?: unknown } = {}
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
      if (route.decodePayload === undefined) {
        if (problems.length > 0) return sendDetail(response, 422, problems)
        return run(route, request, response, input, path)
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
        run(route, request, response, input, path)
      }
    }
    request.resume()
    if (pathMatched) return sendDetail(response, 405, "Method Not Allowed")
    sendDetail(response, 404, "Not Found")
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
export const serve = <Api extends HttpApi.HttpApi.Any, R>(
  api: Api,
  handlers: ApiHandlers<Api, R>,
  options: ServeOptions
): Effect.Effect<RunningServer, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<R>()
    const routes = compile(api, handlers as unknown as Record<string, Record<string, unknown>>)
    const inFlight = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
    const listener = makeListener(runtime, routes, {
      bodyLimit: options.bodyLimit ?? 1024 * 1024,
      rawRoutes: options.rawRoutes ?? []
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
