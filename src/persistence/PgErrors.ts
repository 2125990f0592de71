/** Reads PostgreSQL's error code and constraint name off an `SqlError` raised by `@effect/sql-pg`. */
import type { SqlError } from "@effect/sql/SqlError"

export const UNIQUE_VIOLATION = "23505"
export const FOREIGN_KEY_VIOLATION = "23503"

export const violation = (error: SqlError): { readonly code?: string; readonly constraint?: string } => {
  const cause = error.cause as { code?: unknown; constraint?: unknown } | null | undefined
  return {
    ...(typeof cause?.code === "string" ? { code: cause.code } : {}),
    ...(typeof cause?.constraint === "string" ? { constraint: cause.constraint } : {})
  }
}

export const isViolation = (error: SqlError, code: string, constraint?: string): boolean => {
  const found = violation(error)
  return found.code === code && (constraint === undefined || found.constraint === constraint)
}
