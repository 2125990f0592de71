/**
 * The keys access tokens are signed with, across restarts and rotations: a generated key is kept
 * (a restart signs with it, its tokens stay valid); a configured key (VIGIL_JWT_PRIVATE_KEY)
 * takes over from it, and the tokens of the key before stay valid until they expire; once the
 * configuration is gone a new key is generated, and every key still in use is published.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { decodeProtectedHeader, exportJWK, generateKeyPair } from "jose"
import pg from "pg"
import { startInstance, withDatabase } from "../support/instances.ts"
import * as TestDatabase from "../support/test-database.ts"

const configuredKey = JSON.stringify(await exportJWK((await generateKeyPair("ES256", { extractable: true })).privateKey))

describe("signing keys", () => {
  it.live("keeps a generated key across restarts, rotates to a configured one, and honours the old keys' tokens", () =>
    withDatabase((name) =>
      Effect.gen(function*() {
        const env = { PASSWORD_SCRYPT_LOG_N: "10", ML_REGISTRY_PROBE_INTERVAL: "1 hour" }
        const email = `keys.${Date.now().toString(36)}@example.org`
        /** One instance's life: a login's token and key id, and whether `tokens` still verify there. */
        const life = (extra: Record<string, string>, tokens: ReadonlyArray<string>) =>
          Effect.gen(function*() {
            const vigil = yield* startInstance(name, { ...env, ...extra })
            if (tokens.length === 0) {
              expect((yield* vigil.call("POST", "/api/v1/users", { email, full_name: "Keys", role: "admin", password: "long enough" })).status).toBe(201)
            }
            const login = yield* vigil.call("POST", "/api/v1/auth/login", { email, password: "long enough" })
            expect(login.status, JSON.stringify(login.body)).toBe(200)
            const token: string = login.body.access_token
            const accepted = []
            for (const old of tokens) accepted.push((yield* vigil.call("GET", "/api/v1/auth/me", undefined, { authorization: `Bearer ${old}` })).status)
            const published = ((yield* vigil.call("GET", "/.well-known/jwks.json")).body.keys as Array<{ kid: string }>).map((k) => k.kid)
            yield* vigil.stop
            return { token, kid: decodeProtectedHeader(token).kid!, accepted, published }
          })

        const first = yield* life({}, [])
        const restarted = yield* life({}, [first.token])
        expect(restarted.kid, "a restart signs with the key it generated").toBe(first.kid)
        expect(restarted.accepted).toEqual([200])

        const configured = yield* life({ VIGIL_JWT_PRIVATE_KEY: configuredKey }, [first.token])
        expect(configured.kid).not.toBe(first.kid)
        expect(configured.accepted, "the key before's tokens stay valid").toEqual([200])
        expect(configured.published.sort()).toEqual([first.kid, configured.kid].sort())

        const regenerated = yield* life({}, [first.token, configured.token])
        expect([first.kid, configured.kid]).not.toContain(regenerated.kid)
        expect(regenerated.accepted).toEqual([200, 200])
        expect(regenerated.published.sort()).toEqual([first.kid, configured.kid, regenerated.kid].sort())

        // Once a key has been retired longer than a token lives (an hour: here, the retirements moved
        // back two), it is no longer published, and its tokens are refused.
        yield* Effect.promise(async () => {
          const client = new pg.Client({ connectionString: TestDatabase.databaseUrl(name) })
          await client.connect()
          await client.query("UPDATE auth_signing_keys SET retired_at = retired_at - interval '2 hours' WHERE retired_at IS NOT NULL")
          await client.end()
        })
        const expired = yield* life({}, [first.token, regenerated.token])
        expect(expired.published).toEqual([regenerated.kid])
        expect(expired.accepted).toEqual([401, 200])
      })
    ), 120_000)
})
