/** `ALERT_*` settings: the default profile overridden from the environment, checked as a whole. */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either } from "effect"
import { AlertConfig } from "../../src/actors/AlertConfig.ts"
import { defaultLimits } from "../../src/domain/ThresholdProfile.ts"

const load = (env: Record<string, string>) =>
  Effect.either(Effect.withConfigProvider(AlertConfig, ConfigProvider.fromMap(new Map(Object.entries(env)))))

describe("AlertConfig", () => {
  it.effect("uses the documented default profile, and overrides only the limits ALERT_DEFAULT_PROFILE names", () =>
    Effect.gen(function*() {
      const plain = yield* load({})
      expect(Either.getOrThrow(plain).defaultProfile).toEqual(defaultLimits)
      const overridden = Either.getOrThrow(yield* load({ ALERT_DEFAULT_PROFILE: '{"hr_max": 100, "rr_critical_max": 30}' }))
      expect(overridden.defaultProfile).toEqual({ ...defaultLimits, hr_max: 100, rr_critical_max: 30 })
    }))

  it.effect("refuses an override that breaks the profile rules once merged, naming the field", () =>
    Effect.gen(function*() {
      const cases: Array<[string, string]> = [
        ['{"hr_min": 120}', "hr_max: Value error, hr_max must be greater than hr_min"],
        ['{"sbp_critical_min": 200, "sbp_critical_max": 100}', "sbp_critical_min"],
        ['{"spo2_min": 101}', "spo2_min"],
        ["not json", "ALERT_DEFAULT_PROFILE is not a valid threshold profile"]
      ]
      for (const [value, expected] of cases) {
        const result = yield* load({ ALERT_DEFAULT_PROFILE: value })
        expect(Either.isLeft(result), value).toBe(true)
        if (Either.isLeft(result)) expect(String(result.left), value).toContain(expected)
      }
    }))
})
