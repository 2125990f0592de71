/** SUPERADMIN_EMAIL and SUPERADMIN_PASSWORD are read together, validated, or refused at start-up naming what is wrong. */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Option, Redacted } from "effect"
import { SuperadminConfig } from "../../src/services/Accounts.ts"

const read = (env: Record<string, string>) =>
  Effect.runSyncExit(Effect.withConfigProvider(SuperadminConfig, ConfigProvider.fromMap(new Map(Object.entries(env)))))

describe("SuperadminConfig", () => {
  it("is nothing when neither is set", () => {
    expect(read({})).toEqual(Exit.succeed(Option.none()))
  })

  it("reads both, the domain of the email in lower case, the password redacted", () => {
    const exit = read({ SUPERADMIN_EMAIL: "Root@Vigil.Example.ORG", SUPERADMIN_PASSWORD: "long enough" })
    expect(Exit.isSuccess(exit)).toBe(true)
    const value = Option.getOrThrow((exit as Exit.Success<Option.Option<{ email: string; password: Redacted.Redacted<string> }>, never>).value)
    expect(value.email).toBe("Root@vigil.example.org")
    expect(Redacted.value(value.password)).toBe("long enough")
    expect(String(value.password)).not.toContain("long enough")
  })

  it("refuses one without the other, an invalid email and a short password, saying which", () => {
    for (const [env, message] of [
      [{ SUPERADMIN_EMAIL: "root@vigil.example.org" }, "set together"],
      [{ SUPERADMIN_PASSWORD: "long enough" }, "set together"],
      [{ SUPERADMIN_EMAIL: "not an email", SUPERADMIN_PASSWORD: "long enough" }, "SUPERADMIN_EMAIL is not a valid email address"],
      [{ SUPERADMIN_EMAIL: "root@vigil.example.org", SUPERADMIN_PASSWORD: "short" }, "SUPERADMIN_PASSWORD must be 8 to 128 characters"]
    ] as const) {
      const exit = read(env)
      expect(Exit.isFailure(exit), JSON.stringify(env)).toBe(true)
      expect(String(Exit.isFailure(exit) ? exit.cause : ""), JSON.stringify(env)).toContain(message)
    }
  })
})
