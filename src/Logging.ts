/** JSON-lines logging at `LOG_LEVEL` (default Info; names as Effect's or common aliases such as "warning"). */
import { Config, Effect, Layer, Logger, LogLevel } from "effect"

const LEVELS: Record<string, LogLevel.LogLevel> = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None,
  off: LogLevel.None
}

export const LogLevelConfig = Config.string("LOG_LEVEL").pipe(
  Config.withDefault("info"),
  Config.validate({
    message: `LOG_LEVEL must be one of ${Object.keys(LEVELS).join(", ")}`,
    validation: (name) => name.trim().toLowerCase() in LEVELS
  }),
  Config.map((name) => LEVELS[name.trim().toLowerCase()]!)
)

export const layer = Layer.unwrapEffect(Effect.gen(function*() {
  const level = yield* LogLevelConfig
  return Layer.merge(Logger.json, Logger.minimumLogLevel(level))
}))
