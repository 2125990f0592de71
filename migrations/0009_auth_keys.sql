-- The keys Vigil signs its access tokens with (ES256). The newest key not retired signs; every
-- key retired less than a token's lifetime ago is still published (/.well-known/jwks.json), so the
-- tokens it signed stay valid until they expire. A key from configuration (VIGIL_JWT_PRIVATE_KEY)
-- is recorded without its private half; a generated one keeps it here, so every process and every
-- restart signs with the same key.
CREATE TABLE auth_signing_keys (
  kid          text PRIMARY KEY,
  public_jwk   jsonb NOT NULL CHECK (jsonb_typeof(public_jwk) = 'object'),
  private_jwk  jsonb CHECK (private_jwk IS NULL OR jsonb_typeof(private_jwk) = 'object'),
  created_at   timestamptz NOT NULL DEFAULT now(),
  retired_at   timestamptz
);
CREATE UNIQUE INDEX auth_signing_keys_one_current ON auth_signing_keys ((true)) WHERE retired_at IS NULL;
