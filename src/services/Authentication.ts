/**
 * Who is calling (seed 004 v2's login and bearer tokens, made asymmetric): a login checks the
 * email and password and answers a JWT signed with the current ES256 key (`AuthKeyRepo`); a bearer
 * token is verified against the published keys with `jose`, pinned to ES256, this issuer and
 * audience, and names a user who must still exist and be active (checked again every few seconds,
 * so a deactivated user's tokens stop working within seconds).
 *
 * Failed logins are answered alike (unknown email, wrong password, inactive user: the same 401,
 * after the same password hashing), slowed after LOGIN_FREE_FAILURES failures for one email, and
 * locked for LOGIN_LOCKOUT (doubling) after LOGIN_MAX_FAILURES: 429 with when to come back. The
 * count is this process's.
 */
import { Clock, Config, ConfigError, Duration, Effect, Either, Option, Redacted, Schema } from "effect"
import { calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, importJWK, type JWK, jwtVerify, SignJWT } from "jose"
import { randomBytes, randomUUID } from "node:crypto"
import {
  AuthenticationFailed,
  INACTIVE_USER,
  INVALID_CREDENTIALS,
  LoginLocked,
  type LoginRequest,
  NOT_AUTHENTICATED,
  WRONG_LOGIN
} from "../domain/Auth.ts"
import type { User, UserId } from "../domain/User.ts"
import { AuthKeyRepo, type SigningKey } from "../persistence/AuthKeyRepo.ts"
import { ReadCache } from "../persistence/ReadCache.ts"
import { UserRepo } from "../persistence/UserRepo.ts"
import { Passwords } from "./Passwords.ts"

const ALGORITHM = "ES256"

/** An EC P-256 private key as a JWK: what VIGIL_JWT_PRIVATE_KEY holds. */
const PrivateJwk = Schema.parseJson(Schema.Struct({
  kty: Schema.Literal("EC"),
  crv: Schema.Literal("P-256"),
  x: Schema.String,
  y: Schema.String,
  d: Schema.String
}))

const privateKeyConfig = Config.option(Config.redacted("VIGIL_JWT_PRIVATE_KEY")).pipe(
  Config.mapOrFail((text) =>
    Option.match(text, {
      onNone: () => Either.right(Option.none<JWK>()),
      onSome: (value) =>
        Either.mapBoth(Schema.decodeEither(PrivateJwk)(Redacted.value(value)), {
          onLeft: () => ConfigError.InvalidData(["VIGIL_JWT_PRIVATE_KEY"], "VIGIL_JWT_PRIVATE_KEY must be an EC P-256 private key as a JWK (kty EC, crv P-256, x, y, d)"),
          onRight: (jwk) => Option.some(jwk as JWK)
        })
    })
  )
)

const failureCount = (name: string, fallback: number, least: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: `${name} must be from ${least} to 100`, validation: (n) => n >= least && n <= 100 }),
    Config.withDefault(fallback)
  )

export const AuthConfig = Config.all({
  tokenTtl: Config.duration("VIGIL_TOKEN_TTL").pipe(Config.withDefault(Duration.minutes(60))),
  issuer: Config.string("VIGIL_TOKEN_ISSUER").pipe(Config.withDefault("vigil")),
  privateKey: privateKeyConfig,
  freeFailures: failureCount("LOGIN_FREE_FAILURES", 3, 0),
  maxFailures: failureCount("LOGIN_MAX_FAILURES", 5, 1),
  lockout: Config.duration("LOGIN_LOCKOUT").pipe(Config.withDefault(Duration.minutes(1)))
})

/** How long a verified token's user is taken as active without asking the database again. */
const USER_CHECK_MILLIS = 2_000
const MAX_LOCKOUT_MILLIS = 15 * 60_000

const keyFromJwk = (privateJwk: JWK) =>
  Effect.promise(async (): Promise<SigningKey> => {
    const { d: _d, ...publicJwk } = privateJwk
    const kid = await calculateJwkThumbprint(publicJwk)
    return { kid, publicJwk: { ...publicJwk, alg: ALGORITHM, use: "sig" }, privateJwk: { ...privateJwk } }
  })

const generated = Effect.promise(() => generateKeyPair(ALGORITHM, { extractable: true })).pipe(
  Effect.flatMap(({ privateKey }) => Effect.promise(() => exportJWK(privateKey))),
  Effect.flatMap(keyFromJwk)
)

interface Failures {
  count: number
  lockedUntil: number
  last: number
}

export class Authentication extends Effect.Service<Authentication>()("vigil/Authentication", {
  scoped: Effect.gen(function*() {
    const config = yield* AuthConfig
    const users = yield* UserRepo
    const keys = yield* AuthKeyRepo
    const passwords = yield* Passwords

    const configured = yield* Option.match(config.privateKey, { onNone: () => Effect.succeedNone, onSome: (jwk) => Effect.asSome(keyFromJwk(jwk)) })
    const signing = yield* keys.current(configured, generated)
    const privateKey = yield* Effect.promise(() => importJWK(signing.privateJwk as JWK, ALGORITHM))

    // The published keys, read again when a token names a key this process does not know yet
    // (at most every 5 s), and for the JWK Set once a minute; kept when the database cannot say.
    let published = (yield* keys.published(config.tokenTtl)) as Array<JWK>
    let keySet = createLocalJWKSet({ keys: published })
    let keysReadAt = yield* Clock.currentTimeMillis
    const rereadKeys = (olderThan: number) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        if (now - keysReadAt < olderThan) return false
        keysReadAt = now
        published = (yield* keys.published(config.tokenTtl)) as Array<JWK>
        keySet = createLocalJWKSet({ keys: published })
        return true
      }).pipe(Effect.catchAll((error) => Effect.as(Effect.logWarning("signing keys not read again", error), false)))

    const ttlSeconds = Math.max(1, Math.floor(Duration.toSeconds(config.tokenTtl)))

    const sign = (user: User, issuedAt: number) =>
      Effect.promise(() =>
        new SignJWT({ role: user.role })
          .setProtectedHeader({ alg: ALGORITHM, kid: signing.kid, typ: "JWT" })
          .setSubject(String(user.id))
          .setIssuer(config.issuer)
          .setAudience(config.issuer)
          .setIssuedAt(issuedAt)
          .setExpirationTime(issuedAt + ttlSeconds)
          .setJti(randomUUID())
          .sign(privateKey)
      )

    // What an unknown email's password is checked against, so that it costs what a known one does.
    const decoy = yield* passwords.hash(Redacted.make(randomBytes(24).toString("base64")))

    const failures = new Map<string, Failures>()
    const forgetOld = (now: number) => {
      if (failures.size < 10_000) return
      for (const [email, entry] of failures) if (now - entry.last > MAX_LOCKOUT_MILLIS && entry.lockedUntil < now) failures.delete(email)
    }
    const failed = (email: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        forgetOld(now)
        const entry = failures.get(email) ?? { count: 0, lockedUntil: 0, last: now }
        entry.count++
        entry.last = now
        failures.set(email, entry)
        if (entry.count >= config.maxFailures) {
          const lockout = Math.min(MAX_LOCKOUT_MILLIS, Duration.toMillis(config.lockout) * 2 ** (entry.count - config.maxFailures))
          entry.lockedUntil = now + lockout
        } else if (entry.count > config.freeFailures) {
          yield* Effect.sleep(Duration.seconds(entry.count - config.freeFailures))
        }
        return yield* new AuthenticationFailed({ detail: WRONG_LOGIN })
      })

    /** Seed 004 v2's login: the user and a token for them. */
    const login = Effect.fn("Authentication.login")(function*(request: LoginRequest) {
      const email = request.email.trim().toLowerCase()
      const now = yield* Clock.currentTimeMillis
      const entry = failures.get(email)
      if (entry !== undefined && entry.lockedUntil > now) {
        return yield* new LoginLocked({ retryAfterSeconds: Math.ceil((entry.lockedUntil - now) / 1000) })
      }
      const user = yield* users.findByEmail(email)
      const matches = yield* passwords.verify(request.password, Option.match(user, { onNone: () => decoy, onSome: (u) => u.hashed_password }))
      if (Option.isNone(user) || !matches || !user.value.is_active) return yield* failed(email)
      failures.delete(email)
      const issuedAt = Math.floor(now / 1000)
      return { token: yield* sign(user.value, issuedAt), user: user.value, issuedAt: new Date(issuedAt * 1000) }
    })

    const activeUsers = new ReadCache<User>(10_000, USER_CHECK_MILLIS)

    const verified = (token: string) =>
      Effect.tryPromise(() => jwtVerify(token, keySet, { algorithms: [ALGORITHM], issuer: config.issuer, audience: config.issuer, requiredClaims: ["sub", "exp", "iat"] }))

    /** The active user an `Authorization: Bearer <token>` header names; v2's 401 messages otherwise. */
    const authenticate = (authorization: string | undefined) =>
      Effect.gen(function*() {
        const match = authorization === undefined ? null : /^Bearer +(\S+) *$/i.exec(authorization)
        if (match === null) return yield* new AuthenticationFailed({ detail: NOT_AUTHENTICATED })
        const token = match[1]!
        const result = yield* verified(token).pipe(
          Effect.catchAll((error) =>
            (error.error as { code?: string } | undefined)?.code === "ERR_JWKS_NO_MATCHING_KEY"
              ? Effect.flatMap(rereadKeys(5_000), (reread) => (reread ? verified(token) : Effect.fail(error)))
              : Effect.fail(error)
          ),
          Effect.mapError(() => new AuthenticationFailed({ detail: INVALID_CREDENTIALS }))
        )
        const sub = result.payload.sub ?? ""
        if (!/^[1-9][0-9]{0,9}$/.test(sub)) return yield* new AuthenticationFailed({ detail: INVALID_CREDENTIALS })
        const user = yield* activeUsers.getOrLoad(sub, () => users.findById(Number(sub) as UserId))
        if (Option.isNone(user) || !user.value.is_active) return yield* new AuthenticationFailed({ detail: INACTIVE_USER })
        return user.value
      })

    /** The public keys tokens are verified with, as `/.well-known/jwks.json` serves them (a minute old at most, unless the database is down). */
    const jwks = Effect.map(rereadKeys(60_000), () => ({ keys: published as ReadonlyArray<Record<string, unknown>> }))

    return { login, authenticate, jwks, tokenType: "bearer" as const } as const
  }),
  dependencies: [UserRepo.Default, AuthKeyRepo.Default, Passwords.Default]
}) {}
