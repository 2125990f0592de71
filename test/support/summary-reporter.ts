/** Ends the run with one plain line, `N passed, N failed, N skipped`, that any CI can read. */
import type { Reporter } from "vitest/node"

type Task = { type: string; mode?: string; result?: { state?: string }; tasks?: ReadonlyArray<Task> }

const count = (tasks: ReadonlyArray<Task>, totals = { passed: 0, failed: 0, skipped: 0 }) => {
  for (const task of tasks) {
    if (task.type === "test") {
      const state = task.result?.state
      if (state === "pass") totals.passed++
      else if (state === "fail") totals.failed++
      else totals.skipped++
    } else if (task.tasks) {
      // A suite that failed before its tests ran (a broken fixture) counts as a failure.
      if (task.result?.state === "fail" && task.tasks.every((t) => t.result?.state !== "fail")) totals.failed++
      count(task.tasks, totals)
    }
  }
  return totals
}

export default class SummaryReporter implements Reporter {
  // `onFinished` runs after the default reporter's summary, so this line closes the output.
  onFinished(files: ReadonlyArray<Task>) {
    const { passed, failed, skipped } = count(files)
    console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`)
  }
}
