/**
 * A server a test run starts must stop when the run ends, however it ends: a pass, a failure,
 * Ctrl-C, or the worker killed outright. Normal teardown stops it; for every other ending, a small
 * detached shell watches the process that started the server and, once that process is gone,
 * stops the server and removes its folders. Teardown ends the watcher first, so it never signals
 * a process id that has been reused.
 */
import { spawn } from "node:child_process"

const SCRIPT = `
watched=$1; pid=$2; signal=$3; shift 3
while kill -0 "$watched" 2>/dev/null; do sleep 1; done
if kill -0 "$pid" 2>/dev/null; then
  kill -"$signal" "$pid" 2>/dev/null
  n=0
  while kill -0 "$pid" 2>/dev/null && [ $n -lt 20 ]; do sleep 0.5; n=$((n + 1)); done
  kill -KILL "$pid" 2>/dev/null
fi
rm -rf "$@"
`

export interface Reaper {
  /** Ends the watcher: the caller stops the server itself. */
  readonly cancel: () => void
}

export const reapWhenGone = (options: {
  /** The server's process id. */
  readonly pid: number
  /** The signal that stops it cleanly (nats-server: TERM; postgres: INT, a fast shutdown). */
  readonly signal: "TERM" | "INT"
  /** Folders to remove once it has stopped. */
  readonly dirs: ReadonlyArray<string>
}): Reaper => {
  const watcher = spawn("sh", ["-c", SCRIPT, "reaper", String(process.pid), String(options.pid), options.signal, ...options.dirs], {
    // Its own process group: Ctrl-C, which reaches the whole foreground group, does not end it.
    detached: true,
    stdio: "ignore"
  })
  watcher.unref()
  return { cancel: () => void watcher.kill("SIGKILL") }
}
