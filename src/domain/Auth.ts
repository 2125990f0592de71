/**
 * Authentication's contract (seed 004 v2's login, Vigil's tokens): the login body, the identity a
 * verified token names, and the failures, with v2's messages.
 */
import { Schema } from "effect"
import { BoundedText } from "./Validation.ts"

/** Seed 004 v2's `POST /api/v1/auth/login` body: JSON, not a form. */
export class LoginRequest extends Schema.Class<LoginRequest>("LoginRequest")({
  email: BoundedText(255),
  password: Schema.Redacted(BoundedText(128))
}) {}

/** v2's 401 messages. */
export const NOT_AUTHENTICATED = "Not authenticated"
export const INVALID_CREDENTIALS = "Could not validate credentials"
export const INACTIVE_USER = "Inactive or missing user"
export const WRONG_LOGIN = "Incorrect email or password"

/** The caller is not known: no token, a token that does not verify, or a user who cannot log in. */
export class AuthenticationFailed extends Schema.TaggedError<AuthenticationFailed>()("AuthenticationFailed", {
  detail: Schema.String
}) {}

/** Too many failed logins for one email: the next attempt waits `retryAfterSeconds`. */
export class LoginLocked extends Schema.TaggedError<LoginLocked>()("LoginLocked", {
  retryAfterSeconds: Schema.Number
}) {}
