/**
 * Authentication (seed 004 v2's login, Vigil's ES256 tokens): login's answers and its one message
 * for every failure, the published keys verifying the tokens, `/api/v1/auth/me`, the token
 * attacks refused (`alg: none`, a wrong key, HS256 with the public key as the secret, expired, a
 * tampered payload, another issuer, a deleted or deactivated user), and failed logins slowed, then
 * locked with 429 and `Retry-After`. The signing key is configured (VIGIL_JWT_PRIVATE_KEY), so the
 * test can sign tokens Vigil would, and then break them one way at a time.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { base64url, createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type JWK, jwtVerify, SignJWT, UnsecuredJWT } from "jose"
import { eventually } from "../support/eventually.ts"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp

const expectStatus = <A = any>(response: TestApp.JsonResponse, status: number): A => {
  expect(response.status, JSON.stringify(response.body)).toBe(status)
  return response.body as A
}

const vigilKey = await exportJWK((await generateKeyPair("ES256", { extractable: true })).privateKey)
const signingKey = await importJWK(vigilKey, "ES256")
const otherKey = (await generateKeyPair("ES256")).privateKey

let ids = 0
const unique = (prefix: string) => `${prefix}.${Date.now().toString(36)}.${ids++}@example.org`

const me = (token: string | undefined) => call("GET", "/api/v1/auth/me", undefined, token === undefined ? {} : { authorization: `Bearer ${token}` })

/** A token as Vigil makes them, signed with `key`, with `change` applied to its claims. */
const token = (sub: string, options: { key?: Parameters<SignJWT["sign"]>[0]; alg?: string; issuer?: string; expiresAt?: number; kid?: string } = {}) => {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ role: "patient" })
    .setProtectedHeader({ alg: options.alg ?? "ES256", kid: options.kid ?? "unknown", typ: "JWT" })
    .setSubject(sub)
    .setIssuer(options.issuer ?? "vigil")
    .setAudience(options.issuer ?? "vigil")
    .setIssuedAt(now - 10)
    .setExpirationTime(options.expiresAt ?? now + 600)
    .sign(options.key ?? signingKey)
}

describe("authentication", () => {
  layer(
    TestApp.layer({
      PASSWORD_SCRYPT_LOG_N: "10",
      VIGIL_JWT_PRIVATE_KEY: JSON.stringify(vigilKey),
      LOGIN_FREE_FAILURES: "2",
      LOGIN_MAX_FAILURES: "4",
      LOGIN_LOCKOUT: "2 seconds",
      SUPERADMIN_EMAIL: "root@vigil.example.org",
      SUPERADMIN_PASSWORD: "superadmin secret"
    }),
    { timeout: 60_000, excludeTestServices: true }
  )("login and tokens", (it) => {
    const createUser = (role = "patient") =>
      Effect.gen(function*() {
        const email = unique(role)
        const user = expectStatus(yield* call("POST", "/api/v1/users", { email, full_name: "Auth Test", role, password: "correct horse" }), 201)
        return { ...user, email } as { id: number; email: string }
      })

    it.effect("logs in with seed 004 v2's body and answer; the token verifies with the published keys and names the user", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        const login = expectStatus(yield* call("POST", "/api/v1/auth/login", { email: user.email.toUpperCase(), password: "correct horse" }), 200)
        expect(login).toMatchObject({ token_type: "bearer", user: { id: user.id, email: user.email, role: "patient", full_name: "Auth Test", is_active: true } })
        expect(Math.abs(Date.parse(login.user.issued_at) - Date.now())).toBeLessThan(5_000)
        const header = decodeProtectedHeader(login.access_token)
        expect(header).toMatchObject({ alg: "ES256", typ: "JWT" })
        const jwks = expectStatus<{ keys: Array<JWK> }>(yield* call("GET", "/.well-known/jwks.json"), 200)
        expect(jwks.keys.map((k) => k.kid)).toContain(header.kid)
        for (const key of jwks.keys) expect(key).not.toHaveProperty("d")
        const verified = yield* Effect.promise(() => jwtVerify(login.access_token, createLocalJWKSet(jwks), { issuer: "vigil", audience: "vigil" }))
        expect(verified.payload).toMatchObject({ sub: String(user.id), role: "patient" })
        expect(verified.payload.exp! - verified.payload.iat!).toBe(3600)
        expect(expectStatus(yield* me(login.access_token), 200)).toMatchObject({ id: user.id, email: user.email })
        // The password appears nowhere in the answer.
        expect(JSON.stringify(login)).not.toContain("correct horse")
      }))

    it.effect("creates the superadmin of SUPERADMIN_EMAIL / SUPERADMIN_PASSWORD at start-up (seed 004 v2's init_db)", () =>
      Effect.gen(function*() {
        const login = expectStatus(yield* call("POST", "/api/v1/auth/login", { email: "root@vigil.example.org", password: "superadmin secret" }), 200)
        expect(login.user).toMatchObject({ email: "root@vigil.example.org", role: "superadmin", is_active: true })
        expect(expectStatus(yield* me(login.access_token), 200).role).toBe("superadmin")
      }))

    it.effect("answers every failed login alike: an unknown email, a wrong password, an inactive user", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        const inactive = yield* createUser()
        expectStatus(yield* call("PATCH", `/api/v1/users/${inactive.id}`, { is_active: false }), 200)
        for (const body of [
          { email: unique("nobody"), password: "correct horse" },
          { email: user.email, password: "wrong horse!" },
          { email: inactive.email, password: "correct horse" }
        ]) {
          expect(expectStatus(yield* call("POST", "/api/v1/auth/login", body), 401)).toEqual({ detail: "Incorrect email or password" })
        }
        expect(expectStatus(yield* call("POST", "/api/v1/auth/login", { email: user.email }), 422).detail[0].loc).toEqual(["body", "password"])
      }))

    it.effect("refuses a missing, malformed, forged, expired, tampered or foreign token with v2's messages", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        const sub = String(user.id)
        const kid = decodeProtectedHeader(expectStatus(yield* call("POST", "/api/v1/auth/login", { email: user.email, password: "correct horse" }), 200).access_token).kid!
        const good = yield* Effect.promise(() => token(sub, { kid }))
        expect(expectStatus(yield* me(good), 200).id).toBe(user.id)

        expect(expectStatus(yield* me(undefined), 401)).toEqual({ detail: "Not authenticated" })
        expect(expectStatus(yield* call("GET", "/api/v1/auth/me", undefined, { authorization: good }), 401)).toEqual({ detail: "Not authenticated" })
        const publicJwk = expectStatus<{ keys: Array<JWK> }>(yield* call("GET", "/.well-known/jwks.json"), 200).keys.find((k) => k.kid === kid)!
        const [header, payload, signature] = good.split(".")
        const attacks: Record<string, string> = {
          "alg none": new UnsecuredJWT({ sub, role: "admin" }).setIssuer("vigil").setAudience("vigil").setIssuedAt().setExpirationTime("10m").encode(),
          "another key": yield* Effect.promise(() => token(sub, { key: otherKey, kid })),
          "HS256 with the public key as the secret": yield* Effect.promise(() =>
            token(sub, { alg: "HS256", kid, key: new TextEncoder().encode(JSON.stringify(publicJwk)) })
          ),
          "expired": yield* Effect.promise(() => token(sub, { kid, expiresAt: Math.floor(Date.now() / 1000) - 60 })),
          "another issuer": yield* Effect.promise(() => token(sub, { kid, issuer: "someone-else" })),
          "tampered payload": `${header}.${base64url.encode(JSON.stringify({ ...JSON.parse(new TextDecoder().decode(base64url.decode(payload!))), role: "admin", sub: "1" }))}.${signature}`,
          "not a JWT": "abc.def"
        }
        for (const [attack, forged] of Object.entries(attacks)) {
          expect(expectStatus(yield* me(forged), 401), attack).toEqual({ detail: "Could not validate credentials" })
        }
        // Well signed, but for a user who does not exist.
        expect(expectStatus(yield* me(yield* Effect.promise(() => token("999999", { kid }))), 401)).toEqual({ detail: "Inactive or missing user" })
      }))

    it.effect("stops a deactivated user's tokens within seconds", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        const login = expectStatus(yield* call("POST", "/api/v1/auth/login", { email: user.email, password: "correct horse" }), 200)
        expectStatus(yield* me(login.access_token), 200)
        expectStatus(yield* call("PATCH", `/api/v1/users/${user.id}`, { is_active: false }), 200)
        const started = Date.now()
        yield* eventually(Effect.flatMap(me(login.access_token), (r) => (r.status === 401 ? Effect.succeed(r.body) : Effect.fail(r.status))), 5)
        expect(Date.now() - started).toBeLessThan(4_000)
        expect(expectStatus(yield* me(login.access_token), 401)).toEqual({ detail: "Inactive or missing user" })
      }))

    it.effect("slows repeated failed logins for one email, then answers 429 with Retry-After until the lockout ends", () =>
      Effect.gen(function*() {
        const user = yield* createUser()
        const attempt = (password: string) =>
          Effect.gen(function*() {
            const started = Date.now()
            const response = yield* call("POST", "/api/v1/auth/login", { email: user.email, password })
            return { response, elapsed: Date.now() - started }
          })
        // Two free failures, then a third slowed by a second; the fourth locks.
        for (let i = 0; i < 2; i++) expect((yield* attempt("wrong horse!")).elapsed).toBeLessThan(900)
        const slowed = yield* attempt("wrong horse!")
        expectStatus(slowed.response, 401)
        expect(slowed.elapsed).toBeGreaterThanOrEqual(950)
        expectStatus((yield* attempt("wrong horse!")).response, 401)
        // Locked: even the right password waits, told for how long.
        const locked = (yield* attempt("correct horse")).response
        expect(expectStatus(locked, 429)).toEqual({ detail: "Too many failed logins; try again later" })
        expect(Number(locked.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
        expect(Number(locked.headers.get("retry-after"))).toBeLessThanOrEqual(2)
        // Another email is not locked.
        const other = yield* createUser()
        expectStatus(yield* call("POST", "/api/v1/auth/login", { email: other.email, password: "correct horse" }), 200)
        // After the lockout, the right password logs in.
        yield* eventually(Effect.flatMap(attempt("correct horse"), ({ response }) => (response.status === 200 ? Effect.void : Effect.fail(response.status))), 5, "250 millis")
      }))
  })
})
