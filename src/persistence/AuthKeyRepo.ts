/**
 * The keys access tokens are signed with (`auth_signing_keys`): which one signs now, made the same
 * for every process under one advisory lock, and which are published for verification (the
 * current one and those retired less than a token's lifetime ago).
 */
import { SqlClient } from "@effect/sql"
import { Duration, Effect, Option, Schema } from "effect"
import { classified } from "./SqlErrors.ts"

const Jwk = Schema.Record({ key: Schema.String, value: Schema.Unknown })

export const SigningKeyRow = Schema.Struct({
  kid: Schema.String,
  public_jwk: Jwk,
  private_jwk: Schema.NullOr(Jwk)
})
export type SigningKeyRow = typeof SigningKeyRow.Type

const decodeKeys = Schema.decodeUnknown(Schema.Array(SigningKeyRow))

/** A key to sign with: its id (the public key's thumbprint) and both halves as JWKs. */
export interface SigningKey {
  readonly kid: string
  readonly publicJwk: Record<string, unknown>
  readonly privateJwk: Record<string, unknown>
}

export class AuthKeyRepo extends Effect.Service<AuthKeyRepo>()("vigil/AuthKeyRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const retireCurrent = sql`UPDATE auth_signing_keys SET retired_at = now() WHERE retired_at IS NULL`

    /**
     * The key that signs from now on: `configured` when given (the one before it retired, and
     * recorded without its private half); otherwise the stored current key, or a key `generate`
     * makes, stored with its private half. One process at a time decides.
     */
    const current = Effect.fn("AuthKeyRepo.current")(function*(configured: Option.Option<SigningKey>, generate: Effect.Effect<SigningKey>) {
      return yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT pg_advisory_xact_lock(hashtext('vigil_auth_signing_keys'))`
        const [now] = yield* sql`SELECT * FROM auth_signing_keys WHERE retired_at IS NULL`.pipe(Effect.flatMap(decodeKeys))
        if (Option.isSome(configured)) {
          const key = configured.value
          if (now?.kid !== key.kid) {
            yield* retireCurrent
            yield* sql`
              INSERT INTO auth_signing_keys (kid, public_jwk) VALUES (${key.kid}, ${JSON.stringify(key.publicJwk)}::jsonb)
              ON CONFLICT (kid) DO UPDATE SET retired_at = NULL`
          }
          return key
        }
        if (now !== undefined && now.private_jwk !== null) return { kid: now.kid, publicJwk: now.public_jwk, privateJwk: now.private_jwk }
        // None yet, or the current one came from configuration that is gone: a new key.
        const key = yield* generate
        yield* retireCurrent
        yield* sql`
          INSERT INTO auth_signing_keys (kid, public_jwk, private_jwk)
          VALUES (${key.kid}, ${JSON.stringify(key.publicJwk)}::jsonb, ${JSON.stringify(key.privateJwk)}::jsonb)`
        return key
      }))
    }, classified)

    /** The public keys tokens may still be signed with: the current one, and those retired less than `lifetime` ago. */
    const published = Effect.fn("AuthKeyRepo.published")(function*(lifetime: Duration.Duration) {
      const seconds = Duration.toSeconds(lifetime)
      const rows = yield* sql`
        SELECT kid, public_jwk, NULL AS private_jwk FROM auth_signing_keys
        WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => ${seconds})
        ORDER BY created_at DESC`.pipe(Effect.flatMap(decodeKeys))
      return rows.map((row) => ({ ...row.public_jwk, kid: row.kid }))
    }, classified)

    return { current, published } as const
  })
}) {}
