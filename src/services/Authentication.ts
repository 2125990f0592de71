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
import { type Caller, deviceCaller, type MachineKind, serviceCaller, userCaller } from "../domain/Access.ts"
import { DeviceId } from "../domain/Device.ts"
import { ServiceId } from "../domain/MlService.ts"
import type { DataRefused, Unavailable } from "../domain/Errors.ts"
import type { User, UserId } from "../domain/User.ts"
import { AuthKeyRepo, type SigningKey } from "../persistence/AuthKeyRepo.ts"
import { DeviceRepo } from "../persistence/DeviceRepo.ts"
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
  lockout: Config.duration("LOGIN_LOCKOUT").pipe(Config.withDefault(Duration.minutes(1))),
  machineTokenTtl: Config.duration("VIGIL_MACHINE_TOKEN_TTL").pipe(Config.withDefault(Duration.days(30)))
})

/** How long a verified token's user is taken as active without asking the database again. */
const USER_CHECK_MILLIS = 2_000
/** Tokens whose signature was checked, kept until they expire so that a signature is checked once. */
const VERIFIED_TOKENS = 10_000

const isDeviceId = Schema.is(DeviceId)
const isServiceId = Schema.is(ServiceId)
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
    const devices = yield* DeviceRepo
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

    const sign = (subject: string, role: string, issuedAt: number, lifetimeSeconds: number) =>
      Effect.promise(() =>
        new SignJWT({ role })
          .setProtectedHeader({ alg: ALGORITHM, kid: signing.kid, typ: "JWT" })
          .setSubject(subject)
          .setIssuer(config.issuer)
          .setAudience(config.issuer)
          .setIssuedAt(issuedAt)
          .setExpirationTime(issuedAt + lifetimeSeconds)
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
      return { token: yield* sign(String(user.value.id), user.value.role, issuedAt, ttlSeconds), user: user.value, issuedAt: new Date(issuedAt * 1000) }
    })

    const machineTtlSeconds = Math.max(1, Math.floor(Duration.toSeconds(config.machineTokenTtl)))

    /**
     * A token for a machine: a device (`sub` "device:<id>") or an ML service ("service:<id>"),
     * valid for VIGIL_MACHINE_TOKEN_TTL (or `lifetimeSeconds`). A device token stops working when
     * its device is deleted; any token when its key is no longer published.
     */
    const issueMachineToken = Effect.fn("Authentication.issueMachineToken")(function*(kind: MachineKind, id: string, lifetimeSeconds?: number) {
      const issuedAt = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const lifetime = lifetimeSeconds ?? machineTtlSeconds
      const token = yield* sign(`${kind}:${id}`, kind, issuedAt, lifetime)
      return { token, expiresAt: new Date((issuedAt + lifetime) * 1000) }
    })

    const activeUsers = new ReadCache<User>(10_000, USER_CHECK_MILLIS)

    const verify = (token: string) =>
      Effect.tryPromise(() => jwtVerify(token, keySet, { algorithms: [ALGORITHM], issuer: config.issuer, audience: config.issuer, requiredClaims: ["sub", "exp", "iat"] }))

    /**
     * Whom a verified token names, read from its claims once: a user (`sub` the user id), a device
     * (`device:<id>`, role "device") or an ML service (`service:<id>`, role "service"). A machine's
     * caller is made here, once per token; a user's is made from the user record it is checked against.
     */
    interface Verified {
      readonly expiresAt: number
      readonly subject:
        | { readonly kind: "user"; readonly sub: string }
        | { readonly kind: "device"; readonly id: DeviceId; readonly caller: Caller }
        | { readonly kind: "service"; readonly caller: Caller }
    }
    const subjectOf = (sub: string, role: unknown): Verified["subject"] | undefined => {
      if (role === "device" && sub.startsWith("device:")) {
        const id = sub.slice("device:".length)
        return isDeviceId(id) ? { kind: "device", id, caller: deviceCaller(id) } : undefined
      }
      if (role === "service" && sub.startsWith("service:")) {
        const id = sub.slice("service:".length)
        return isServiceId(id) ? { kind: "service", caller: serviceCaller(id) } : undefined
      }
      return /^[1-9][0-9]{0,9}$/.test(sub) ? { kind: "user", sub } : undefined
    }

    const bearerToken = (authorization: string | undefined) => {
      const match = authorization === undefined ? null : /^Bearer +(\S+) *$/i.exec(authorization)
      return match === null ? undefined : match[1]!
    }

    const invalid = new AuthenticationFailed({ detail: INVALID_CREDENTIALS })
    const inactive = new AuthenticationFailed({ detail: INACTIVE_USER })
    const missing = new AuthenticationFailed({ detail: NOT_AUTHENTICATED })

    // Tokens whose signature was checked; an entry is used only before the token expires.
    const verifiedTokens = new Map<string, Verified>()
    const knownToken = (token: string): Verified | undefined => {
      const entry = verifiedTokens.get(token)
      if (entry === undefined || entry.expiresAt > Date.now()) return entry
      verifiedTokens.delete(token)
      return undefined
    }
    const verified = (token: string): Effect.Effect<Verified, AuthenticationFailed> =>
      Effect.suspend(() => {
        const known = knownToken(token)
        if (known !== undefined) return Effect.succeed(known)
        return verify(token).pipe(
          Effect.catchAll((error) =>
            (error.error as { code?: string } | undefined)?.code === "ERR_JWKS_NO_MATCHING_KEY"
              ? Effect.flatMap(rereadKeys(5_000), (reread) => (reread ? verify(token) : Effect.fail(error)))
              : Effect.fail(error)
          ),
          Effect.mapError(() => invalid),
          Effect.flatMap(({ payload }) => {
            const subject = subjectOf(payload.sub ?? "", payload.role)
            if (subject === undefined) return Effect.fail(invalid)
            const entry: Verified = { subject, expiresAt: (payload.exp ?? 0) * 1000 }
            if (verifiedTokens.size >= VERIFIED_TOKENS) verifiedTokens.clear()
            verifiedTokens.set(token, entry)
            return Effect.succeed(entry)
          })
        )
      })

    // One caller object per user record (a record is replaced when the user is read again).
    const userCallers = new WeakMap<User, Caller>()
    const callerOf = (user: User) => {
      let caller = userCallers.get(user)
      if (caller === undefined) userCallers.set(user, caller = userCaller(user))
      return caller
    }
    const activeCaller = (user: Option.Option<User>) => (Option.isSome(user) && user.value.is_active ? callerOf(user.value) : undefined)

    /**
     * Who an `Authorization: Bearer <token>` header names: an active user, a device that still
     * exists, or an ML service. A token's signature is checked once; who it names, every time
     * (the user from a cache at most 2 s old).
     */
    const authenticate = (authorization: string | undefined): Effect.Effect<Caller, AuthenticationFailed | Unavailable | DataRefused> =>
      Effect.gen(function*() {
        const token = bearerToken(authorization)
        if (token === undefined) return yield* missing
        const { subject } = yield* verified(token)
        switch (subject.kind) {
          case "service":
            return subject.caller
          case "device":
            return Option.isSome(yield* devices.findById(subject.id)) ? subject.caller : yield* inactive
          case "user":
            return activeCaller(yield* activeUsers.getOrLoad(subject.sub, () => users.findById(Number(subject.sub) as UserId))) ?? (yield* inactive)
        }
      })

    /**
     * Who the header names when that needs no waiting: a token whose signature was already
     * checked, naming a user checked less than USER_CHECK_MILLIS ago (or a device the registry
     * cache holds, or a service). `undefined`: ask `authenticate`, which also gives the reason.
     */
    const known = (authorization: string | undefined): Caller | undefined => {
      const token = bearerToken(authorization)
      const entry = token === undefined ? undefined : knownToken(token)
      if (entry === undefined) return undefined
      const { subject } = entry
      switch (subject.kind) {
        case "service":
          return subject.caller
        case "device": {
          const device = devices.cached(subject.id)
          return device !== undefined && Option.isSome(device) ? subject.caller : undefined
        }
        case "user": {
          const user = activeUsers.peek(subject.sub)
          return user === undefined ? undefined : activeCaller(user)
        }
      }
    }

    /** The active user a bearer header names (a machine's token is refused: it names no user). */
    const authenticateUser = (authorization: string | undefined) =>
      Effect.flatMap(authenticate(authorization), (caller) => (caller.kind === "user" ? Effect.succeed(caller.user) : Effect.fail(inactive)))

    /** The public keys tokens are verified with, as `/.well-known/jwks.json` serves them (a minute old at most, unless the database is down). */
    const jwks = Effect.map(rereadKeys(60_000), () => ({ keys: published as ReadonlyArray<Record<string, unknown>> }))

    return { login, authenticate, known, authenticateUser, issueMachineToken, jwks, tokenType: "bearer" as const } as const
  }),
  dependencies: [UserRepo.Default, DeviceRepo.Default, AuthKeyRepo.Default, Passwords.Default]
}) {}
