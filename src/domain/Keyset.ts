/**
 * Keyset pagination cursors, as this server writes them: base64url JSON of the last row's sort
 * time (under the list's own key, `measured_at` or `created_at`) and id. Each list reads only
 * its own cursors, so one list's cursor never silently restarts another.
 */
import { Option } from "effect"

/** A position in a list ordered by (time, id). */
export interface Keyset {
  readonly at: string
  readonly id: string
}

export type KeysetKey = "measured_at" | "created_at"

/** Exactly what `toISOString` writes, years 0001-9999 (what PostgreSQL reads too): anything else is not our cursor. */
const ISO = /^(?!0000)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

export const encodeKeyset = (key: KeysetKey, at: Date, id: string): string =>
  Buffer.from(JSON.stringify({ [key]: at.toISOString(), id })).toString("base64url")

/** `None` for anything that is not a cursor of the list sorted by `key`. */
export const decodeKeyset = (key: KeysetKey, text: string): Option.Option<Keyset> => {
  try {
    const value = JSON.parse(Buffer.from(text, "base64url").toString("utf8"))
    if (
      typeof value === "object" && value !== null && Object.keys(value).length === 2 &&
      typeof value.id === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value.id) &&
      typeof value[key] === "string" && ISO.test(value[key]) && !Number.isNaN(Date.parse(value[key]))
    ) return Option.some({ at: value[key], id: value.id })
  } catch {
    // not base64url JSON
  }
  return Option.none()
}
