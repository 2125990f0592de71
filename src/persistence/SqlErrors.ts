/**
 * The one place where a database error is classified (DESIGN.md section 8):
 * - the connection is lost or refused, the server is shutting down, starting or out of resources,
 *   or a transaction lost a serialization race: `Unavailable`, retry later;
 * - SQLSTATE class 22 (data exception) or 23 (integrity constraint violation): `DataRefused`, the
 *   same data would be refused again (repositories turn the violations they expect, such as a
 *   duplicate serial, into their own domain errors first);
 * - anything else (a syntax error, a missing column, a row that does not decode): a bug, raised as
 *   a defect, which the doors log with its cause and answer 500.
 */
import { SqlError } from "@effect/sql/SqlError"
import { Effect, ParseResult } from "effect"
import { DataRefused, Unavailable } from "../domain/Errors.ts"

export const UNIQUE_VIOLATION = "23505"
export const FOREIGN_KEY_VIOLATION = "23503"

/** Socket errors of the connection to the server. */
const CONNECTION_ERRORS = new Set([
  "ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"
])
/** What node-postgres says, without a code, when a connection dies or cannot be made in time. */
const CONNECTION_MESSAGES = /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Connection timed out|Connection ended/i

interface PgErrorFields {
  readonly code?: unknown
  readonly constraint?: unknown
  readonly column?: unknown
  readonly message?: unknown
  readonly cause?: unknown
  readonly errors?: unknown
}

/** The errors in `error`'s cause chain (and an AggregateError's members), nearest first. */
const causes = (error: SqlError): Array<PgErrorFields> => {
  const found: Array<PgErrorFields> = []
  const visit = (value: unknown, depth: number) => {
    if (depth > 5 || value === null || typeof value !== "object") return
    const fields = value as PgErrorFields
    found.push(fields)
    if (Array.isArray(fields.errors)) for (const inner of fields.errors) visit(inner, depth + 1)
    visit(fields.cause, depth + 1)
  }
  visit(error.cause, 0)
  return found
}

/** PostgreSQL's five-character SQLSTATE, when the server answered with one. */
export const sqlState = (error: SqlError): string | undefined => {
  for (const cause of causes(error)) {
    if (typeof cause.code === "string" && /^[0-9A-Z]{5}$/.test(cause.code)) return cause.code
  }
  return undefined
}

const violation = (error: SqlError): { readonly code?: string; readonly constraint?: string } => {
  const cause = error.cause as PgErrorFields | null | undefined
  return {
    ...(typeof cause?.code === "string" ? { code: cause.code } : {}),
    ...(typeof cause?.constraint === "string" ? { constraint: cause.constraint } : {})
  }
}

export const isViolation = (error: SqlError, code: string, constraint?: string): boolean => {
  const found = violation(error)
  return found.code === code && (constraint === undefined || found.constraint === constraint)
}

const isTransient = (state: string) =>
  state.startsWith("08") || // connection exception
  state.startsWith("53") || // insufficient resources (too many connections, disk full)
  state.startsWith("57") || // operator intervention (shutdown, cannot connect now, query canceled)
  state === "58030" || // I/O error
  state === "25006" || // read-only transaction: a standby, during a failover
  state === "40001" || // serialization failure
  state === "40P01" // deadlock detected

export type SqlFailure = "unavailable" | "refused" | "bug"

export const classify = (error: SqlError): SqlFailure => {
  const state = sqlState(error)
  if (state !== undefined) {
    if (isTransient(state)) return "unavailable"
    if (state.startsWith("22") || state.startsWith("23")) return "refused"
    return "bug"
  }
  for (const cause of causes(error)) {
    if (typeof cause.code === "string" && CONNECTION_ERRORS.has(cause.code)) return "unavailable"
    if (typeof cause.message === "string" && CONNECTION_MESSAGES.test(cause.message)) return "unavailable"
  }
  return CONNECTION_MESSAGES.test(error.message) ? "unavailable" : "bug"
}

/** `error` as Vigil's doors see it: `Unavailable`, `DataRefused`, or a defect. */
export const fromSqlError = (error: SqlError): Effect.Effect<never, Unavailable | DataRefused> => {
  switch (classify(error)) {
    case "unavailable":
      return Effect.fail(new Unavailable({ reason: "the database is unavailable" }))
    case "refused": {
      const cause = causes(error).find((c) => typeof c.code === "string")
      return Effect.fail(new DataRefused({
        reason: typeof cause?.message === "string" ? cause.message : error.message,
        sqlState: sqlState(error)!,
        ...(typeof cause?.column === "string" ? { column: cause.column } : {}),
        ...(typeof cause?.constraint === "string" ? { constraint: cause.constraint } : {})
      }))
    }
    case "bug":
      return Effect.die(error)
  }
}

const isDatabaseError = (error: unknown): error is SqlError | ParseResult.ParseError =>
  error instanceof SqlError || ParseResult.isParseError(error)

/**
 * A repository's failures as the layers above see them: database errors classified, a row that
 * does not decode a defect (the schema and the code disagree: a bug), domain errors untouched.
 */
export const classified = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, Exclude<E, SqlError | ParseResult.ParseError> | Unavailable | DataRefused, R> =>
  Effect.catchIf(effect, isDatabaseError, (error) => error instanceof SqlError ? fromSqlError(error) : Effect.die(error)) as Effect.Effect<
    A,
    Exclude<E, SqlError | ParseResult.ParseError> | Unavailable | DataRefused,
    R
  >
