/** Authentication's settings are validated at start-up, naming the variable that is wrong. */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Option } from "effect"
import { AccessAuditConfig } from "../../src/services/AccessAudit.ts"
import { AuthModeConfig, authMode } from "../../src/services/AccessControl.ts"
import { AuthConfig } from "../../src/services/Authentication.ts"

const read = (env: Record<string, string>) =>
  Effect.runSyncExit(Effect.withConfigProvider(AuthConfig, ConfigProvider.fromMap(new Map(Object.entries(env)))))

describe("AuthConfig", () => {
  it("has the defaults the README lists", () => {
    const exit = read({})
    expect(Exit.isSuccess(exit)).toBe(true)
    if (Exit.isSuccess(exit)) expect(exit.value).toMatchObject({ issuer: "vigil", privateKey: Option.none(), freeFailures: 3, maxFailures: 5 })
  })

  it("refuses a signing key that is no EC P-256 private JWK, and failure counts out of range", () => {
    for (const [env, message] of [
      [{ VIGIL_JWT_PRIVATE_KEY: "not json" }, "VIGIL_JWT_PRIVATE_KEY must be an EC P-256 private key"],
      [{ VIGIL_JWT_PRIVATE_KEY: JSON.stringify({ kty: "RSA", n: "x", e: "AQAB", d: "y" }) }, "VIGIL_JWT_PRIVATE_KEY must be an EC P-256 private key"],
      [{ LOGIN_MAX_FAILURES: "0" }, "LOGIN_MAX_FAILURES must be from 1 to 100"],
      [{ LOGIN_FREE_FAILURES: "-1" }, "LOGIN_FREE_FAILURES must be from 0 to 100"]
    ] as const) {
      const exit = read(env)
      expect(Exit.isFailure(exit), JSON.stringify(env)).toBe(true)
      expect(String(Exit.isFailure(exit) ? exit.cause : ""), JSON.stringify(env)).toContain(message)
    }
  })
})

describe("VIGIL_AUTH", () => {
  const configured = (env: Record<string, string>) =>
    Effect.runSyncExit(Effect.withConfigProvider(AuthModeConfig, ConfigProvider.fromMap(new Map(Object.entries(env)))))

  it("is off on the embedded default, with a warning, and required when connected unless off is asked for", () => {
    expect(authMode("embedded", Option.none())).toEqual({ mode: "off", warning: expect.stringContaining("embedded default") })
    expect(authMode("connected", Option.none())).toEqual({ mode: "required", warning: undefined })
    expect(authMode("connected", Option.some("off"))).toEqual({ mode: "off", warning: expect.stringContaining("VIGIL_AUTH=off") })
    expect(authMode("embedded", Option.some("required"))).toEqual({ mode: "required", warning: undefined })
  })

  it("takes required or off, and refuses anything else naming the variable", () => {
    expect(configured({})).toEqual(Exit.succeed(Option.none()))
    expect(configured({ VIGIL_AUTH: "off" })).toEqual(Exit.succeed(Option.some("off")))
    const bad = configured({ VIGIL_AUTH: "maybe" })
    expect(Exit.isFailure(bad)).toBe(true)
    expect(String(Exit.isFailure(bad) ? bad.cause : "")).toContain("VIGIL_AUTH")
  })
})

describe("AccessAuditConfig", () => {
  it("refuses a batch or buffer below one, naming the variable (a batch of 0 would never empty the buffer)", () => {
    for (const name of ["ACCESS_AUDIT_BATCH", "ACCESS_AUDIT_BUFFER"]) {
      const exit = Effect.runSyncExit(Effect.withConfigProvider(AccessAuditConfig, ConfigProvider.fromMap(new Map([[name, "0"]]))))
      expect(Exit.isFailure(exit), name).toBe(true)
      expect(String(Exit.isFailure(exit) ? exit.cause : ""), name).toContain(`${name} must be at least 1`)
    }
    expect(Effect.runSync(Effect.withConfigProvider(AccessAuditConfig, ConfigProvider.fromMap(new Map())))).toMatchObject({ batch: 1000, buffer: 200000 })
  })
})
