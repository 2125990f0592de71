/**
 * The handlers' types, derived from the contract (`Api.ts`): one handler per endpoint, grouped as
 * the API is, so a missing or mistyped handler is a type error. A handler may fail with its
 * endpoint's errors, its group's and the API's (`Unavailable`, `DataRefused`: every route's).
 * Routes outside the contract (docs pages, the event stream) are `RawRoute`s.
 */
import type * as HttpApi from "@effect/platform/HttpApi"
import type * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import type * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import type { Effect } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Caller } from "../domain/Access.ts"
import type { Policy } from "./Access.ts"

export interface EndpointRequest<E extends HttpApiEndpoint.HttpApiEndpoint.Any> {
  readonly path: HttpApiEndpoint.HttpApiEndpoint.PathParsed<E>
  readonly urlParams: HttpApiEndpoint.HttpApiEndpoint.UrlParams<E>
  readonly payload: HttpApiEndpoint.HttpApiEndpoint.Payload<E>
  readonly headers: HttpApiEndpoint.HttpApiEndpoint.Headers<E>
}

export type EndpointHandler<E extends HttpApiEndpoint.HttpApiEndpoint.Any, OtherErrors, R> = (
  request: EndpointRequest<E>
) => Effect.Effect<HttpApiEndpoint.HttpApiEndpoint.Success<E>, HttpApiEndpoint.HttpApiEndpoint.Error<E> | OtherErrors, R>

export type GroupHandlers<G extends HttpApiGroup.HttpApiGroup.Any, R, ApiError = never> = {
  readonly [E in HttpApiGroup.HttpApiGroup.Endpoints<G> as HttpApiEndpoint.HttpApiEndpoint.Name<E>]: EndpointHandler<
    E,
    HttpApiGroup.HttpApiGroup.Error<G> | ApiError,
    R
  >
}

/** The API's own errors (declared with `HttpApi.addError`): any route may fail with them. */
export type ApiError<Api> = Api extends HttpApi.HttpApi<infer _Id, infer _Groups, infer E, infer _R> ? E : never

export type ApiHandlers<Api, R> = Api extends HttpApi.HttpApi<infer _Id, infer Groups, infer E, infer _R> ? {
    readonly [G in Groups as HttpApiGroup.HttpApiGroup.Name<G>]: GroupHandlers<G, R, E>
  }
  : never

/**
 * A route outside the contract (docs pages, the OpenAPI document, the event stream, the FHIR
 * API): plain node:http. An exact route answers GET of its path; a `prefix` route answers every
 * method of every path under it and checks them itself.
 */
export interface RawRoute {
  readonly method: "GET"
  readonly path: string
  readonly prefix?: boolean | undefined
  /** Who may open it. */
  readonly policy: Policy
  /** The caller as `policy` admitted them (`OPEN` when authentication is off). */
  readonly handle: (request: IncomingMessage, response: ServerResponse, caller: Caller) => void
  /** How it answers 401, 403 and 503 before `handle` runs (default: FastAPI's `{"detail"}`). */
  readonly refuse?: ((response: ServerResponse, status: 401 | 403 | 503, detail: string) => void) | undefined
  /** The `http.route` of a path under a prefix route (default: `path`); never the raw path, whose ids are data. */
  readonly template?: ((path: string) => string) | undefined
  /** Called when shutdown begins: a route holding responses open (a stream) ends them here. */
  readonly close?: () => void
}
