/** Handlers of the authentication routes (`AuthApi.ts`), with seed 004 v2's answers and messages. */
import { Effect } from "effect"
import type { AuthenticationFailed } from "../domain/Auth.ts"
import { userView } from "../domain/User.ts"
import { Authentication } from "../services/Authentication.ts"
import type { Handlers } from "./Api.ts"
import type { AuthGroup } from "./AuthApi.ts"
import { TooManyRequests, Unauthorized } from "./Errors.ts"

const unauthorized = (error: AuthenticationFailed) => Effect.fail(new Unauthorized({ detail: error.detail }))

export const make = Effect.gen(function*() {
  const authentication = yield* Authentication

  return {
    login: ({ payload }) =>
      authentication.login(payload).pipe(
        Effect.map(({ issuedAt, token, user }) => ({
          access_token: token,
          token_type: authentication.tokenType,
          user: { id: user.id, email: user.email, role: user.role, full_name: user.full_name, is_active: user.is_active, issued_at: issuedAt }
        })),
        Effect.catchTags({
          AuthenticationFailed: unauthorized,
          LoginLocked: (locked) =>
            Effect.fail(new TooManyRequests({ detail: "Too many failed logins; try again later", retryAfterSeconds: locked.retryAfterSeconds }))
        })
      ),
    me: ({ headers }) =>
      authentication.authenticate(headers.authorization).pipe(Effect.map(userView), Effect.catchTag("AuthenticationFailed", unauthorized)),
    jwks: () => authentication.jwks
  } satisfies Handlers<typeof AuthGroup>
})
