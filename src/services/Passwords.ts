/**
 * Password hashing: scrypt (memory-hard; node's own, off the event loop on libuv's threads),
 * stored as a PHC string `$scrypt$ln=14,r=8,p=5$<salt>$<hash>` (base64, no padding) so that the
 * parameters travel with each hash and can be raised later without breaking old ones. The
 * default cost is OWASP's scrypt recommendation in its 16 MiB form (N=2^14, r=8, p=5, equivalent
 * to N=2^17, p=1 at an eighth of the memory). At most two hashes run at once, so a burst of sign-ups
 * cannot take the process's memory or every libuv thread.
 */
import { Config, Effect, Redacted } from "effect"
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto"

export const PasswordConfig = Config.all({
  /** log2 of scrypt's N. Tests lower it to keep hashing cheap; production keeps the default. */
  logN: Config.integer("PASSWORD_SCRYPT_LOG_N").pipe(
    Config.withDefault(14),
    Config.validate({ message: "PASSWORD_SCRYPT_LOG_N must be between 10 and 20", validation: (n) => n >= 10 && n <= 20 })
  )
})

const BLOCK_SIZE = 8
const PARALLELISM = 5
const KEY_LENGTH = 32
const SALT_LENGTH = 16

const PHC = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/

const derive = (password: string, salt: Buffer, logN: number, r: number, p: number, length: number) =>
  Effect.async<Buffer, never>((resume) => {
    scrypt(password.normalize("NFKC"), salt, length, { N: 2 ** logN, r, p, maxmem: 256 * 2 ** logN * r + 1024 * 1024 }, (error, key) => {
      // Only invalid parameters make scrypt fail, and they are fixed here or checked by PHC: a bug.
      resume(error === null ? Effect.succeed(key) : Effect.die(error))
    })
  })

const b64 = (buffer: Buffer) => buffer.toString("base64").replace(/=+$/, "")

export class Passwords extends Effect.Service<Passwords>()("vigil/Passwords", {
  effect: Effect.gen(function*() {
    const { logN } = yield* PasswordConfig
    const permits = yield* Effect.makeSemaphore(2)

    /** A new PHC string for `password`, with a fresh salt. */
    const hash = Effect.fn("Passwords.hash")(function*(password: Redacted.Redacted<string>) {
      const salt = randomBytes(SALT_LENGTH)
      const key = yield* permits.withPermits(1)(derive(Redacted.value(password), salt, logN, BLOCK_SIZE, PARALLELISM, KEY_LENGTH))
      return `$scrypt$ln=${logN},r=${BLOCK_SIZE},p=${PARALLELISM}$${b64(salt)}$${b64(key)}`
    })

    /** Whether `password` is the one `phc` was made from (in constant time); false for a string that is no scrypt PHC. */
    const verify = Effect.fn("Passwords.verify")(function*(password: Redacted.Redacted<string>, phc: string) {
      const parts = PHC.exec(phc)
      if (parts === null) return false
      const [ln, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])]
      if (ln < 1 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) return false
      const expected = Buffer.from(parts[5]!, "base64")
      const key = yield* permits.withPermits(1)(derive(Redacted.value(password), Buffer.from(parts[4]!, "base64"), ln, r, p, expected.length))
      return key.length === expected.length && timingSafeEqual(key, expected)
    })

    return { hash, verify } as const
  })
}) {}
