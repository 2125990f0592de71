/** Handlers of the authentication routes (`AuthApi.ts`), with seed 004 v2's answers and messages. */
import { Effect, Option, Schema } from "effect"
import { CurrentCaller } from "../domain/Access.ts"
import type { AuthenticationFailed } from "../domain/Auth.ts"
import { DeviceId } from "../domain/Device.ts"
import { ServiceId } from "../domain/MlService.ts"
import { DeviceRepo } from "../persistence/DeviceRepo.ts"
import { userView } from "../domain/User.ts"
import { Authentication } from "../services/Authentication.ts"
import type { Handlers } from "./Api.ts"
import type { AuthGroup } from "./AuthApi.ts"
import { InvalidField, TooManyRequests, Unauthorized } from "./Errors.ts"

const isDeviceId = Schema.is(DeviceId)
const isServiceId = Schema.is(ServiceId)

const unauthorized = (error: AuthenticationFailed) => Effect.fail(new Unauthorized({ detail: error.detail }))

export const make = Effect.gen(function*() {
  const authentication = yield* Authentication
  const devices = yield* DeviceRepo

  /** A device token only for a registered device; a service's id as seed 001 allows it. */
  const machineExists = (kind: "device" | "service", id: string) =>
    kind === "service"
      ? Effect.succeed(isServiceId(id) ? undefined : "is not a valid service_id")
      : !isDeviceId(id)
      ? Effect.succeed("is not a device id (a UUID)")
      : Effect.map(devices.findById(id), Option.match({ onNone: () => "names no registered device", onSome: () => undefined }))

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
      Effect.flatMap(CurrentCaller, (caller) =>
        caller.kind === "user"
          ? Effect.succeed(userView(caller.user))
          // Authentication off: the token is checked here, as it was before routes were guarded.
          : authentication.authenticateUser(headers.authorization).pipe(Effect.map(userView), Effect.catchTag("AuthenticationFailed", unauthorized))),
    machineToken: ({ payload }) =>
      Effect.gen(function*() {
        const problem = yield* machineExists(payload.kind, payload.id)
        if (problem !== undefined) return yield* new InvalidField({ field: "id", message: `'${payload.id}' ${problem}`, input: payload.id })
        const { expiresAt, token } = yield* authentication.issueMachineToken(payload.kind, payload.id, payload.ttl_seconds)
        return { access_token: token, token_type: authentication.tokenType, subject: `${payload.kind}:${payload.id}`, expires_at: expiresAt }
      }),
    jwks: () => authentication.jwks
  } satisfies Handlers<typeof AuthGroup>
})
