/**
 * Authentication's routes: seed 004 v2's login (its body and answer), the caller's own user, and
 * the public keys tokens are verified with (a JWK Set, as OpenID Connect publishes it).
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { MachineKind } from "../domain/Access.ts"
import { LoginRequest } from "../domain/Auth.ts"
import { ROLES } from "../domain/User.ts"
import { UserResponse } from "./CareApi.ts"
import { InvalidFieldResponse, TooManyRequestsResponse, UnauthorizedResponse } from "./Errors.ts"
import { UtcTime } from "./Params.ts"

/** The bearer token, in `Authorization`. */
export const Bearer = Schema.Struct({ authorization: Schema.optional(Schema.String) })

export const LoginResponse = Schema.Struct({
  access_token: Schema.String,
  token_type: Schema.Literal("bearer"),
  user: Schema.Struct({
    id: Schema.Number,
    email: Schema.String,
    role: Schema.Literal(...ROLES),
    full_name: Schema.String,
    is_active: Schema.Boolean,
    issued_at: UtcTime
  })
}).annotations({ identifier: "LoginResponse" })

/** A machine identity's token (`POST /api/v1/auth/machine-tokens`, admins only). */
export const MachineTokenRequest = Schema.Struct({
  kind: MachineKind,
  /** The device's id (a registered device) or the ML service's `service_id`. */
  id: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255)),
  /** Lifetime in seconds (default VIGIL_MACHINE_TOKEN_TTL, 30 days). */
  ttl_seconds: Schema.optional(Schema.Int.pipe(Schema.between(60, 366 * 24 * 3600)))
}).annotations({ identifier: "MachineTokenRequest" })

export const MachineTokenResponse = Schema.Struct({
  access_token: Schema.String,
  token_type: Schema.Literal("bearer"),
  subject: Schema.String,
  expires_at: UtcTime
}).annotations({ identifier: "MachineTokenResponse" })

export class AuthGroup extends HttpApiGroup.make("auth")
  .add(
    HttpApiEndpoint.post("login", "/api/v1/auth/login")
      .setPayload(LoginRequest)
      .addSuccess(LoginResponse)
      .addError(UnauthorizedResponse)
      .addError(TooManyRequestsResponse)
  )
  .add(HttpApiEndpoint.get("me", "/api/v1/auth/me").setHeaders(Bearer).addSuccess(UserResponse).addError(UnauthorizedResponse))
  .add(
    HttpApiEndpoint.post("machineToken", "/api/v1/auth/machine-tokens")
      .setPayload(MachineTokenRequest)
      .addSuccess(MachineTokenResponse, { status: 201 })
      .addError(InvalidFieldResponse)
      .annotate(OpenApi.Description, "A token for a device (it may submit readings for itself only) or an ML service (it may register and heartbeat itself only)")
  )
  .add(
    HttpApiEndpoint.get("jwks", "/.well-known/jwks.json").addSuccess(Schema.Struct({
      keys: Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
    }))
  )
  .annotate(OpenApi.Description, "Login (seed 004 v2), the caller's own user, and the keys access tokens are signed with")
{}
