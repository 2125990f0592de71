/**
 * Password hashing: scrypt at OWASP's cost by default, each hash with its own salt and its
 * parameters in the PHC string, verified in constant time; nothing else is accepted as a hash.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import { Passwords } from "../../src/services/Passwords.ts"

const withConfig = (entries: ReadonlyArray<readonly [string, string]>) =>
  Passwords.Default.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(entries)))))

describe("passwords", () => {
  it.effect("hashes with scrypt at N=2^14, r=8, p=5 by default, a fresh salt each time, and verifies only the same password", () =>
    Effect.gen(function*() {
      const passwords = yield* Passwords
      const secret = Redacted.make("correct horse battery staple")
      const first = yield* passwords.hash(secret)
      const second = yield* passwords.hash(secret)
      expect(first).toMatch(/^\$scrypt\$ln=14,r=8,p=5\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
      expect(second).not.toBe(first)
      expect(yield* passwords.verify(secret, first)).toBe(true)
      expect(yield* passwords.verify(secret, second)).toBe(true)
      expect(yield* passwords.verify(Redacted.make("correct horse battery stapler"), first)).toBe(false)
      for (const notAHash of ["", "correct horse battery staple", "$2b$12$abcdefghijklmnopqrstuv", "$scrypt$ln=99,r=8,p=5$AAAA$AAAA"]) {
        expect(yield* passwords.verify(secret, notAHash), notAHash).toBe(false)
      }
    }).pipe(Effect.provide(withConfig([]))), 30_000)

  it.effect("verifies a hash made at another cost: the parameters travel with the hash", () =>
    Effect.gen(function*() {
      const cheap = yield* Effect.provide(Passwords, withConfig([["PASSWORD_SCRYPT_LOG_N", "10"]]))
      const hash = yield* cheap.hash(Redacted.make("long enough"))
      expect(hash.startsWith("$scrypt$ln=10,")).toBe(true)
      expect(yield* (yield* Passwords).verify(Redacted.make("long enough"), hash)).toBe(true)
    }).pipe(Effect.provide(withConfig([]))))
})
