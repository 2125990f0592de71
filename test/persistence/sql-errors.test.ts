/** The one classification of database errors (`src/persistence/SqlErrors.ts`): outage, refused data, or bug. */
import { describe, expect, it } from "@effect/vitest"
import { SqlError } from "@effect/sql/SqlError"
import { Effect, Exit } from "effect"
import { classify, fromSqlError } from "../../src/persistence/SqlErrors.ts"

const pgError = (code: string, extra: Record<string, unknown> = {}) =>
  new SqlError({ message: "Failed to execute statement", cause: Object.assign(new Error(`pg says ${code}`), { code, ...extra }) })

describe("SQL error classification", () => {
  it("reads a lost or refused connection, a server shutting down or starting, and lost races as unavailable", () => {
    for (const code of ["08006", "08001", "57P01", "57P03", "53300", "40001", "40P01", "25006"]) expect(classify(pgError(code)), code).toBe("unavailable")
    for (const code of ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT"]) {
      expect(classify(new SqlError({ message: "Failed to acquire connection", cause: Object.assign(new Error("connect"), { code }) })), code).toBe("unavailable")
    }
    // Several addresses tried (localhost: ::1 and 127.0.0.1): an AggregateError whose members say why.
    const aggregate = Object.assign(new AggregateError([Object.assign(new Error("x"), { code: "ECONNREFUSED" })], ""), {})
    expect(classify(new SqlError({ message: "Failed to acquire connection", cause: aggregate }))).toBe("unavailable")
    expect(classify(new SqlError({ message: "Failed", cause: new Error("Connection terminated unexpectedly") }))).toBe("unavailable")
    expect(classify(new SqlError({ message: "Failed", cause: new Error("timeout exceeded when trying to connect") }))).toBe("unavailable")
  })

  it("reads SQLSTATE classes 22 and 23 as data the database refuses, naming the column and constraint", () =>
    Effect.gen(function*() {
      expect(classify(pgError("23514"))).toBe("refused")
      expect(classify(pgError("22P02"))).toBe("refused")
      const error = yield* Effect.flip(fromSqlError(pgError("23502", { column: "full_name", constraint: "c" })))
      expect(error).toMatchObject({ _tag: "DataRefused", sqlState: "23502", column: "full_name", constraint: "c", reason: "pg says 23502" })
    }))

  it("reads anything else as a bug: a defect, never a disguised outage", () =>
    Effect.gen(function*() {
      for (const code of ["42601", "42703", "XX000", "P0001"]) expect(classify(pgError(code)), code).toBe("bug")
      expect(classify(new SqlError({ message: "Failed", cause: new TypeError("x is not a function") }))).toBe("bug")
      const exit = yield* Effect.exit(fromSqlError(pgError("42703")))
      expect(Exit.isFailure(exit) && exit.cause._tag === "Die").toBe(true)
    }))
})
