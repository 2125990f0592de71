/**
 * The contract compiled for serving: each `HttpApi` endpoint becomes a route with synchronous
 * decoders (path, query, headers, body) and encoders (success, each error with its status), and a request
 * path is matched against them, static segments before parameters.
 */
import type * as HttpApi from "@effect/platform/HttpApi"
import type * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import type * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import { type Effect, type Either, Option, ParseResult, Schema, SchemaAST } from "effect"
import type { Policy } from "../Access.ts"

export type Decoder = (input: unknown) => Either.Either<unknown, ParseResult.ParseIssue>

export interface ErrorEncoder {
  readonly is: (u: unknown) => boolean
  readonly encode: (u: unknown) => Either.Either<unknown, ParseResult.ParseIssue>
  readonly status: number
}

export interface CompiledRoute {
  readonly method: string
  readonly segments: ReadonlyArray<string>
  readonly paramNames: ReadonlyArray<string | undefined>
  readonly decodePath: Decoder | undefined
  readonly decodeUrlParams: Decoder | undefined
  readonly decodePayload: Decoder | undefined
  readonly decodeHeaders: Decoder | undefined
  readonly encodeSuccess: (u: unknown) => Either.Either<unknown, ParseResult.ParseIssue>
  readonly successStatus: number
  readonly errors: ReadonlyArray<ErrorEncoder>
  readonly handler: (request: unknown) => Effect.Effect<unknown, unknown, any>
  /** Who may call it (`Policies.ts`). */
  readonly policy: Policy
  /** "GET /patients/:patient_id": how the access audit names the route. */
  readonly template: string
  /** "/patients/{patient_id}": OpenTelemetry's `http.route`. */
  readonly route: string
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

export const splitPath = (path: string): Array<string> => path.split("/").filter((segment) => segment.length > 0)

export const compile = (
  api: HttpApi.HttpApi.Any,
  handlers: Record<string, Record<string, unknown>>,
  policies: Record<string, Record<string, Policy>>
): Array<CompiledRoute> => {
  const routes: Array<CompiledRoute> = []
  const { errorSchema, groups } = api as unknown as HttpApi.HttpApi.AnyWithProps
  for (const group of Object.values(groups) as Array<HttpApiGroup.HttpApiGroup.AnyWithProps>) {
    for (const endpoint of Object.values(group.endpoints) as Array<HttpApiEndpoint.HttpApiEndpoint.AnyWithProps>) {
      const handler = handlers[group.identifier]?.[endpoint.name]
      if (typeof handler !== "function") {
        throw new Error(`no handler for ${group.identifier}.${endpoint.name} (${endpoint.method} ${endpoint.path})`)
      }
      const policy = policies[group.identifier]?.[endpoint.name]
      if (policy === undefined) {
        // No door opens without a declared policy.
        throw new Error(`no access policy for ${group.identifier}.${endpoint.name} (${endpoint.method} ${endpoint.path})`)
      }
      const segments = splitPath(endpoint.path)
      routes.push({
        method: endpoint.method,
        segments,
        paramNames: segments.map((segment) => (segment.startsWith(":") ? segment.slice(1) : undefined)),
        decodePath: decoder(endpoint.pathSchema),
        decodeUrlParams: decoder(endpoint.urlParamsSchema),
        decodePayload: decoder(endpoint.payloadSchema),
        decodeHeaders: decoder(endpoint.headersSchema),
        encodeSuccess: ParseResult.encodeUnknownEither(endpoint.successSchema as Schema.Schema<unknown, unknown>),
        successStatus: HttpApiSchema.getStatusSuccessAST(endpoint.successSchema.ast),
        errors: errorEncoders(endpoint.errorSchema, group.errorSchema, errorSchema),
        handler: handler as CompiledRoute["handler"],
        policy,
        template: `${endpoint.method} ${endpoint.path}`,
        route: endpoint.path.replace(/:(\w+)/g, "{$1}")
      })
    }
  }
  // Static segments win over parameters, so `/devices/link` is never read as a device id.
  return routes.sort((a, b) => a.paramNames.filter(Boolean).length - b.paramNames.filter(Boolean).length)
}

export const match = (
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

