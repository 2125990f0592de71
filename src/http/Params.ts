/** Query-parameter schemas shared by the API's groups. */
import { Schema } from "effect"
import { atLeast, atMost, ErrorType, IntFromString } from "../domain/Validation.ts"

export const MAX_LIMIT = 1000

export const Pagination = Schema.Struct({
  skip: Schema.optionalWith(IntFromString.pipe(atLeast(0)), { default: () => 0 }),
  limit: Schema.optionalWith(IntFromString.pipe(atLeast(0), atMost(MAX_LIMIT)), { default: () => 100 })
})

export const IsoTimestamp = Schema.String.pipe(
  // Years 0001-9999: what PostgreSQL's timestamptz and JavaScript both read the same way.
  Schema.filter((s) => !Number.isNaN(Date.parse(s)) && /^\d{4}-\d\d-\d\d/.test(s) && !s.startsWith("0000"), {
    [ErrorType]: "datetime_parsing",
    message: () => "Input should be a valid ISO 8601 datetime"
  }),
  Schema.compose(Schema.Date)
)

