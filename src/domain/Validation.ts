/**
 * Field rules shared by every model, each annotated with the machine-readable error type and the
 * message that clients of the seed systems (FastAPI + pydantic v2) already know, so that a 422
 * from Vigil reads like one from the systems it replaces.
 */
import { Schema } from "effect"

/** Annotation key: the pydantic-style error `type` of a rule ("string_too_short", ...). */
export const ErrorType: unique symbol = Symbol.for("vigil/domain/ErrorType")

export const errorType = (ast: Schema.Schema.AnyNoContext["ast"]): string | undefined =>
  ast.annotations[ErrorType] as string | undefined

const rule = (type: string, message: string) => ({ [ErrorType]: type, message: () => message })

type NumberSchema<S extends Schema.Schema.Any> = S & Schema.Schema<number, Schema.Schema.Encoded<S>, Schema.Schema.Context<S>>

const StringInput = Schema.String.annotations(rule("string_type", "Input should be a valid string"))

/** Any string PostgreSQL can store: `text` cannot hold NUL, so it is refused here, not by the database. */
export const Text = StringInput.pipe(
  Schema.filter<typeof StringInput>((s) => !s.includes("\u0000"), rule("value_error", "Value error, text must not contain NUL (\\u0000) characters"))
)

export const BoundedText = (max: number) =>
  Text.pipe(Schema.maxLength(max, rule("string_too_long", `String should have at most ${max} characters`)))

export const NonEmptyBoundedString = (max: number) =>
  Text.pipe(
    Schema.minLength<typeof Text>(1, rule("string_too_short", "String should have at least 1 character")),
    Schema.maxLength(max, rule("string_too_long", `String should have at most ${max} characters`))
  )

const NumberInput = Schema.Number.annotations(rule("float_type", "Input should be a valid number"))
const IntInput = Schema.Number.annotations(rule("int_type", "Input should be a valid integer"))

export const Int = IntInput.pipe(
  Schema.int<typeof IntInput>(rule("int_from_float", "Input should be a valid integer, got a number with a fractional part"))
)

export const FiniteNumber = NumberInput.pipe(
  Schema.finite<typeof NumberInput>(rule("finite_number", "Input should be a finite number"))
)

export const atLeast = (min: number) => <S extends Schema.Schema.Any>(self: NumberSchema<S>) =>
  Schema.greaterThanOrEqualTo<S>(min, rule("greater_than_equal", `Input should be greater than or equal to ${min}`))(self)

export const atMost = (max: number) => <S extends Schema.Schema.Any>(self: NumberSchema<S>) =>
  Schema.lessThanOrEqualTo<S>(max, rule("less_than_equal", `Input should be less than or equal to ${max}`))(self)

const UuidInput = Schema.String.annotations(rule("uuid_type", "UUID input should be a string"))

export const Uuid = UuidInput.pipe(
  Schema.pattern<typeof UuidInput>(/^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/, {
    ...rule("uuid_parsing", "Input should be a valid UUID"),
    jsonSchema: { format: "uuid" }
  }),
  // One canonical spelling, so that the same id never becomes two cache keys or two lookups.
  Schema.transform(Schema.String, {
    strict: true,
    decode: (s) => {
      const hex = s.replace(/-/g, "").toLowerCase()
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
    },
    encode: (s) => s
  })
)

/** A literal set written as pydantic's regex pattern, e.g. `^(M|F|Other)$`. */
export const OneOf = <const L extends ReadonlyArray<string>>(...values: L) => {
  const pattern = `^(${values.join("|")})$`
  return Schema.Literal(...values).annotations({
    ...rule("string_pattern_mismatch", `String should match pattern '${pattern}'`),
    jsonSchema: { type: "string", enum: values, pattern }
  })
}

/** An integer written as text (query and path parameters). */
export const IntFromString = StringInput.pipe(
  Schema.pattern<typeof StringInput>(
    /^[+-]?\d{1,15}$/,
    rule("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
  ),
  Schema.compose(Schema.NumberFromString)
)

const TIMESTAMP = /^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.\d{1,9})?)?(Z|z|[+-]\d\d:?\d\d)?)?$/

/** A timestamp's text as JavaScript reads it exactly: no offset is UTC, a date alone is its midnight UTC. */
const normalise = (text: string): string => {
  const zone = TIMESTAMP.exec(text)![7]
  const date = text.slice(0, 10)
  if (text.length === 10) return `${date}T00:00:00Z`
  const time = text.slice(11, zone === undefined ? undefined : text.length - zone.length)
  const offset = zone === undefined || zone === "z" ? "Z" : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone
  return `${date}T${time}${offset}`
}

/** Whether `text` is a timestamp whose date and time exist (JavaScript reads 2026-02-30 as 2 March). */
const isTimestamp = (text: string): boolean => {
  const match = TIMESTAMP.exec(text)
  if (match === null) return false
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((part) => (part === undefined ? 0 : Number(part))) as [
    number, number, number, number, number, number
  ]
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  return year >= 1 && date.getUTCMonth() === month - 1 && date.getUTCDate() === day && hour <= 23 && minute <= 59 && second <= 59 &&
    !Number.isNaN(Date.parse(normalise(text)))
}

/**
 * A point in time as ISO 8601 (RFC 3339) text: a date and time with an offset (`Z`, `+02:00`), a
 * date and time without one (read as UTC, never as the server's local time), or a date alone (its
 * midnight UTC). The date must exist, in years 0001-9999 (what PostgreSQL and JavaScript both
 * read alike). The one timestamp schema of every input; rules of their own (a reading's time not
 * in the future) are refinements on top of it.
 */
export const Timestamp = StringInput.pipe(
  Schema.filter<typeof StringInput>(isTimestamp, rule("datetime_parsing", "Input should be a valid datetime (ISO 8601, e.g. 2026-01-31T12:00:00Z)")),
  Schema.compose(Schema.transform(Schema.String, Schema.DateFromSelf, {
    strict: true,
    decode: (text) => new Date(normalise(text)),
    encode: (date) => date.toISOString()
  }))
)

/** Text of `min` to `max` characters (pydantic's `constr(min_length, max_length)`). */
export const TextBetween = (min: number, max: number) =>
  Text.pipe(
    Schema.minLength<typeof Text>(min, rule("string_too_short", `String should have at least ${min} character${min === 1 ? "" : "s"}`)),
    Schema.maxLength(max, rule("string_too_long", `String should have at most ${max} characters`))
  )

/** One of an enumeration's values, refused as pydantic refuses an `Enum` member it does not know. */
export const Enum = <const L extends ReadonlyArray<string>>(...values: L) => {
  const quoted = values.map((value) => `'${value}'`)
  const listed = quoted.length === 1 ? quoted[0]! : `${quoted.slice(0, -1).join(", ")} or ${quoted.at(-1)}`
  return Schema.Literal(...values).annotations({ ...rule("enum", `Input should be ${listed}`), jsonSchema: { type: "string", enum: values } })
}

/** An integer id of seed 004's records (users, appointments, ...), as its clients send them: from 1 to the column's 2^31 - 1. */
export const IntId = Int.pipe(atLeast(1), atMost(2_147_483_647))

const EMAIL = /^[^\s@"(),:;<>[\\\]]+@[^\s@"(),:;<>[\\\]]+\.[^\s@"(),:;<>[\\\].]{2,}$/

/**
 * An email address (pydantic's `EmailStr`): one `@`, a dotted domain, no spaces; the domain is
 * lower-cased, as email-validator normalises it.
 */
export const Email = BoundedText(255).pipe(
  Schema.filter<ReturnType<typeof BoundedText>>((s) => EMAIL.test(s) && !s.includes(".."), rule("value_error", "value is not a valid email address: The email address is not valid.")),
  Schema.compose(Schema.transform(Schema.String, Schema.String, {
    strict: true,
    decode: (s) => {
      const at = s.lastIndexOf("@")
      return `${s.slice(0, at)}@${s.slice(at + 1).toLowerCase()}`
    },
    encode: (s) => s
  }))
)

const DATE = /^(\d{4})-(\d\d)-(\d\d)$/

/** A calendar date (`YYYY-MM-DD`) that exists, kept as that text (a date has no time zone). */
export const CalendarDate = StringInput.pipe(
  Schema.filter<typeof StringInput>((text) => {
    const match = DATE.exec(text)
    if (match === null) return false
    const [year, month, day] = match.slice(1, 4).map(Number) as [number, number, number]
    const date = new Date(0)
    date.setUTCFullYear(year, month - 1, day)
    return year >= 1 && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
  }, rule("date_from_datetime_parsing", "Input should be a valid date in the format YYYY-MM-DD"))
)
