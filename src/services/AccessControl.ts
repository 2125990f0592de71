/**
 * Whether the doors are guarded (`VIGIL_AUTH=required | off`) and how: callers are known by
 * `Authentication`, and their reads of patient data recorded by `AccessAudit`. The embedded
 * default (no `DATABASE_URL`) runs with `off`, so the seeds' curl examples work for a new user,
 * and says so at start-up; connected mode defaults to `required`, and `off` there must be asked
 * for (and is warned about too).
 */
import { Config, Effect, Option } from "effect"
import { Database } from "../persistence/Database.ts"
import { AccessAudit } from "./AccessAudit.ts"
import { Authentication } from "./Authentication.ts"

export const AuthModeConfig = Config.option(Config.literal("required", "off")("VIGIL_AUTH"))

/** The mode a start runs in, and the warning it gives (none when the doors are guarded). */
export const authMode = (
  database: "embedded" | "connected",
  configured: Option.Option<"required" | "off">
): { readonly mode: "required" | "off"; readonly warning: string | undefined } => {
  const mode = Option.getOrElse(configured, () => (database === "embedded" ? "off" as const : "required" as const))
  if (mode === "required") return { mode, warning: undefined }
  return {
    mode,
    warning: Option.isNone(configured)
      ? "authentication is off (the embedded default): anyone who can reach Vigil may read and change everything; set VIGIL_AUTH=required to guard it"
      : "authentication is off (VIGIL_AUTH=off): anyone who can reach Vigil may read and change everything"
  }
}

export class AccessControl extends Effect.Service<AccessControl>()("vigil/AccessControl", {
  effect: Effect.gen(function*() {
    const database = yield* Database
    const configured = yield* AuthModeConfig
    const { mode, warning } = authMode(database.mode, configured)
    if (warning !== undefined) yield* Effect.logWarning(warning)
    const authentication = yield* Authentication
    const audit = yield* AccessAudit
    return { required: mode === "required", authenticate: authentication.authenticate, known: authentication.known, record: audit.record } as const
  }),
  dependencies: [AccessAudit.Default]
}) {}
