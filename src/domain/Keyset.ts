/**
 * Keyset pagination cursors, as this server writes them: base64url JSON of the last row's sort
 * time (under the list's own key, `measured_at` or `created_at`) and id. The schema reads exactly
 * what it writes: each list reads only its own cursors (no other keys), so one list's cursor never
 * silently restarts another, and a time PostgreSQL would not read is refused.
 */
import { Schema } from "effect"

/** A position in a list ordered by (time, id). */
export interface Keyset {
  readonly at: string
  readonly id: string
}

export type KeysetKey = "measured_at" | "created_at"

/** Exactly what `toISOString` writes, years 0001-9999 (what PostgreSQL reads too). */
const Instant = Schema.String.pipe(
  Schema.pattern(/^(?!0000)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
  Schema.filter((text) => !Number.isNaN(Date.parse(text)))
)
const Id = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/))

const exact = { parseOptions: { onExcessProperty: "error" } } as const

const cursor = <K extends KeysetKey>(key: K) => {
  const json = Schema.Struct({ [key]: Instant, id: Id } as { readonly [P in K]: typeof Instant } & { readonly id: typeof Id }).annotations(exact)
  return Schema.StringFromBase64Url.pipe(
    Schema.compose(Schema.parseJson(json)),
    Schema.transform(Schema.Struct({ at: Schema.String, id: Schema.String }), {
      strict: false,
      decode: (position) => {
        const fields = position as Record<string, string>
        return { at: fields[key]!, id: fields.id! }
      },
      encode: (position) => ({ [key]: position.at, id: position.id })
    })
  )
}

/** The cursors of the list sorted by `key`: text in, a position out. */
export const KeysetCursor: { readonly [K in KeysetKey]: Schema.Schema<Keyset, string> } = {
  measured_at: cursor("measured_at"),
  created_at: cursor("created_at")
}

/** Before every row: where a first page of no rows (`limit=0`) stands. */
const START: Keyset = { at: "0001-01-01T00:00:00.000Z", id: "00000000-0000-0000-0000-000000000000" }

/**
 * A page of a keyset list from `limit + 1` rows read after `after`: at most `limit` items, and the
 * cursor of the next page when more rows follow (after this page's last row; with `limit` 0, where
 * this page stood).
 */
export const pageOf = <R>(
  key: KeysetKey,
  rows: ReadonlyArray<R>,
  limit: number,
  after: Keyset | undefined,
  position: (row: R) => { readonly at: Date; readonly id: string }
): { readonly items: ReadonlyArray<R>; readonly next_cursor: string | null } => {
  const items = rows.slice(0, limit)
  if (rows.length <= limit) return { items, next_cursor: null }
  const last = items.at(-1)
  const next = last === undefined ? (after ?? START) : { at: position(last).at.toISOString(), id: position(last).id }
  return { items, next_cursor: Schema.encodeSync(KeysetCursor[key])(next) }
}
