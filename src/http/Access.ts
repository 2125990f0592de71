/**
 * Access policies for the REST contract: what each endpoint lets through, declared as data beside
 * the contract (`Policies.ts`), typed by the endpoint's request so an ownership check reads the
 * decoded path, query or body. The server applies them in two steps: the principal (a user's role
 * or a machine's kind) is checked before the body is read; a grant with a check (the caller's own
 * patient, device, service or user) is checked once the request is decoded. A policy may also say
 * whose data a successful read returned, for the access audit.
 */
import type * as HttpApi from "@effect/platform/HttpApi"
import type * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import type * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import { Effect } from "effect"
import { type Accessed, type Caller, NOT_ENOUGH_PERMISSIONS, type Principal } from "../domain/Access.ts"
import type { DataRefused, Unavailable } from "../domain/Errors.ts"
import type { EndpointRequest } from "./Handlers.ts"

/** Whether `caller` may make `request`: for grants that depend on what is asked for. */
export type Check<Req, R = never> = (caller: Caller, request: Req) => Effect.Effect<boolean, Unavailable | DataRefused, R>


/** A grant decided by the answer of a read (the alert's patient): checked before it is sent. */
export interface AnswerCheck<Res> {
  readonly answer: (caller: Caller, response: Res) => boolean
}

export interface Policy<Req = any, Res = any, R = never> {
  /** Open to anyone, with or without a token. */
  readonly public: boolean
  /** Who may pass: a principal mapped to `true` always, to a check when it holds. */
  readonly grants: { readonly [P in Principal]?: true | Check<Req, R> | AnswerCheck<Res> }
  /** The 403 message. */
  readonly denied: string
  /** For the access audit: whose data a successful answer carries, if one patient's. */
  readonly reads?: ((request: Req, response: Res, caller: Caller) => Accessed | undefined) | undefined
}

export type Grants<Req, Res = unknown, R = never> = Policy<Req, Res, R>["grants"]

export const publicRoute: Policy<unknown, unknown> = { public: true, grants: {}, denied: NOT_ENOUGH_PERMISSIONS }

export const allow = <Req, Res = unknown, R = never>(
  grants: Grants<Req, Res, R>,
  options: { readonly denied?: string; readonly reads?: Policy<Req, Res, R>["reads"] } = {}
): Policy<Req, Res, R> => ({ public: false, grants, denied: options.denied ?? NOT_ENOUGH_PERMISSIONS, reads: options.reads })

export const ADMINS = { admin: true, superadmin: true } as const
export const STAFF = { doctor: true, admin: true, superadmin: true } as const
/** Every user, whatever the role (machines are not users). */
export const USERS = { patient: true, doctor: true, admin: true, superadmin: true } as const

const sync = <Req>(holds: (caller: Caller, request: Req) => boolean): Check<Req> => (caller, request) => Effect.succeed(holds(caller, request))

/** A patient user linked to the registry patient `patientId` names. */
export const ownPatient = <Req>(patientId: (request: Req) => string | undefined): Check<Req> =>
  sync((caller, request) => caller.kind === "user" && caller.user.registry_patient_id !== null && caller.user.registry_patient_id === patientId(request))

/** The user `userId` names (seed 004's "self"). */
export const self = <Req>(userId: (request: Req) => number | undefined): Check<Req> =>
  sync((caller, request) => caller.kind === "user" && caller.user.id === userId(request))

export const ownDevice = <Req>(deviceId: (request: Req) => string): Check<Req> =>
  sync((caller, request) => caller.kind === "device" && caller.deviceId === deviceId(request))

export const ownService = <Req>(serviceId: (request: Req) => string): Check<Req> =>
  sync((caller, request) => caller.kind === "service" && caller.serviceId === serviceId(request))

/** A patient user linked to the registry patient the answer is about (a read by id). */
export const answerOfOwnPatient = <Res>(patientId: (response: Res) => string | null): AnswerCheck<Res> => ({
  answer: (caller, response) => caller.kind === "user" && caller.user.registry_patient_id !== null && caller.user.registry_patient_id === patientId(response)
})

/** The user the answer is about (seed 004: an appointment's patient or doctor). */
export const answerOfSelf = <Res>(...userIds: ReadonlyArray<(response: Res) => number | null>): AnswerCheck<Res> => ({
  answer: (caller, response) => caller.kind === "user" && userIds.some((id) => id(response) === caller.user.id)
})

export const patientRead = (id: string | null | undefined): Accessed | undefined =>
  id === null || id === undefined ? undefined : { entityType: "patient", entityId: id }
export const userRead = (id: number | null | undefined): Accessed | undefined =>
  id === null || id === undefined ? undefined : { entityType: "user", entityId: String(id) }

/** Whether `caller` passes the door of `policy` (its principal is granted at all). */
export const admits = (policy: Policy, caller: Caller): boolean =>
  policy.public || caller.kind === "open" || (caller.kind !== "system" && policy.grants[caller.principal] !== undefined)

/** Whether `caller` may make `request` (after `admits`). */
export const permits = (policy: Policy, caller: Caller, request: unknown): Effect.Effect<boolean, Unavailable | DataRefused, any> => {
  if (policy.public || caller.kind === "open") return Effect.succeed(true)
  if (caller.kind === "system") return Effect.succeed(false)
  const grant = policy.grants[caller.principal]
  if (grant === undefined) return Effect.succeed(false)
  if (grant === true || typeof grant !== "function") return Effect.succeed(true)
  return grant(caller, request)
}

/** Whether `caller` may see `response` (a grant decided by the answer), after `permits`. */
export const shows = (policy: Policy, caller: Caller, response: unknown): boolean => {
  if (policy.public || caller.kind === "open") return true
  if (caller.kind === "system") return false
  const grant = policy.grants[caller.principal]
  return grant === undefined ? false : typeof grant === "object" ? grant.answer(caller, response) : true
}

type EndpointResponse<E extends HttpApiEndpoint.HttpApiEndpoint.Any> = HttpApiEndpoint.HttpApiEndpoint.Success<E>

/** One policy per endpoint of a group, typed by its request and answer: a missing one is a type error. */
export type GroupPolicies<G extends HttpApiGroup.HttpApiGroup.Any, R = never> = {
  readonly [E in HttpApiGroup.HttpApiGroup.Endpoints<G> as HttpApiEndpoint.HttpApiEndpoint.Name<E>]: Policy<
    EndpointRequest<E>,
    EndpointResponse<E>,
    R
  >
}

/** Every group's policies, keyed as the handlers are. */
export type ApiPolicies<Api, R = never> = Api extends HttpApi.HttpApi<infer _Id, infer Groups, infer _E, infer _R> ? {
    readonly [G in Groups as HttpApiGroup.HttpApiGroup.Name<G>]: GroupPolicies<G, R>
  }
  : never
