/**
 * Authentication's routes: seed 004 v2's login (its body and answer), the caller's own user, and
 * the public keys tokens are verified with (a JWK Set, as OpenID Connect publishes it).
 */
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { LoginRequest } from "../domain/Auth.ts"
import { ROLES } from "../domain/User.ts"
import { UserResponse } from "./CareApi.ts"
import { TooManyRequestsResponse, UnauthorizedResponse } from "./Errors.ts"
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
    HttpApiEndpoint.get("jwks", "/.well-known/jwks.json").addSuccess(Schema.Struct({
      keys: Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
    }))
  )
  .annotate(OpenApi.Description, "Login (seed 004 v2), the caller's own user, and the keys access tokens are signed with")
{}
