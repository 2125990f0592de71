/** Schemas shared by the API's groups: pages, how many rows, and how answers write times. */
import { Schema } from "effect"
import { atLeast, atMost, IntFromString } from "../domain/Validation.ts"

export const MAX_LIMIT = 1000

/**
 * How many rows a list answers: 0 to 1000, 100 when left out. Every list takes it, offset and
 * keyset alike (`limit=0` is an empty page: FastAPI's clients get `[]` from the seeds' lists).
 */
export const Limit = Schema.optionalWith(IntFromString.pipe(atLeast(0), atMost(MAX_LIMIT)), { default: () => 100 })

/** Offset pagination as the seeds define it: `skip` rows, then at most `limit`. */
export const Pagination = Schema.Struct({
  skip: Schema.optionalWith(IntFromString.pipe(atLeast(0)), { default: () => 0 }),
  limit: Limit
})

/** A time in an answer: ISO 8601 in UTC, ending in `Z` (inputs are read with `domain/Validation.ts`'s `Timestamp`). */
export const UtcTime = Schema.Date.annotations({ description: "ISO 8601, UTC, ending in Z" })
