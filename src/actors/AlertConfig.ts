/** The alerting settings, from the environment, validated at start-up. */
import { Config, ConfigError, Duration, Either, Option, ParseResult, Schema } from "effect"
import { DefaultProfileLimits, DefaultProfileOverride, defaultLimits, type Limits } from "../domain/ThresholdProfile.ts"

const positiveInt = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: `${name} must be a whole number from 1 to 1000`, validation: (n) => n >= 1 && n <= 1000 }),
    Config.withDefault(fallback)
  )

/** `ALERT_DEFAULT_PROFILE`: JSON overriding some or all of the default limits, checked as a whole. */
const defaultProfile: Config.Config<Limits> = Config.option(Config.string("ALERT_DEFAULT_PROFILE")).pipe(
  Config.mapOrFail((text) => {
    if (Option.isNone(text)) return Either.right(defaultLimits)
    const merged = Schema.decodeUnknownEither(DefaultProfileOverride)(text.value).pipe(
      Either.flatMap((override) => Schema.decodeUnknownEither(DefaultProfileLimits)({ ...defaultLimits, ...override }))
    )
    return Either.mapLeft(merged, (error) =>
      ConfigError.InvalidData([], `ALERT_DEFAULT_PROFILE is not a valid threshold profile: ${
        ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => `${issue.path.join(".") || "(whole)"}: ${issue.message}`).join("; ")
      }`))
  })
)

export const AlertConfig = Config.all({
  /** Consecutive breaching readings before an alert is raised (1: at once). */
  sustained: positiveInt("ALERT_SUSTAINED_READINGS", 1),
  /** Consecutive in-range readings before an alert resolves itself. */
  clearAfter: positiveInt("ALERT_CLEAR_AFTER", 3),
  /** How long a critical alert may stay unacknowledged before it is escalated. */
  escalateAfter: Config.duration("ALERT_ESCALATE_AFTER").pipe(Config.withDefault(Duration.minutes(5))),
  /** How often the escalation and offline sweeps run. */
  sweepInterval: Config.duration("ALERT_SWEEP_INTERVAL").pipe(Config.withDefault(Duration.seconds(5))),
  /** A device silent for longer than this is reported offline. */
  deviceOfflineAfter: Config.duration("DEVICE_OFFLINE_AFTER").pipe(Config.withDefault(Duration.minutes(5))),
  defaultProfile
})
export type AlertConfig = Config.Config.Success<typeof AlertConfig>
