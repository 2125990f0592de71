/**
 * Vigil as a real child process (`node --import tsx src/main.ts`, or under Deno), as in production,
 * for the tests that kill it or run it under another runtime: on 127.0.0.1 at `port` (gRPC on any
 * free port), no demo data, logging warnings only, plus the test's `env`. The environment's `NATS_URL` is passed on unless `env` says
 * otherwise; `NATS_URL: undefined` runs it on the in-process bus.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { until } from "./eventually.ts"

const ROOT = fileURLToPath(new URL("../..", import.meta.url))

export interface VigilProcess {
  /** Starts it and resolves once `/ready` answers 200; fails with its output if it exits first. */
  readonly start: () => Promise<void>
  /** Sends `signal` and resolves once it has exited (at once if it is not running). */
  readonly kill: (signal: NodeJS.Signals) => Promise<void>
  /** The signal that ended the last process, if one did. */
  readonly signalCode: () => NodeJS.Signals | null
  /** The running process's id. */
  readonly pid: () => number | undefined
}

/** Under Deno: `deno run -A src/main.ts` (`npm run start:deno`), with the `deno` npm package's binary. */
const DENO = fileURLToPath(new URL("../../node_modules/.bin/deno", import.meta.url))

export const vigilProcess = (
  port: number,
  env: Readonly<Record<string, string | undefined>>,
  runtime: "node" | "deno" = "node"
): VigilProcess => {
  let child: ChildProcess | undefined
  let output = ""
  const start = async () => {
    output = ""
    const merged: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      GRPC_PORT: "0",
      GRPC_HOST: "127.0.0.1",
      ML_REGISTRY_PORT: "0",
      SEED_DEMO_DATA: "false",
      LOG_LEVEL: "Warn",
      VIGIL_AUTH: "off",
      ...env
    }
    for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name]
    const [command, args] = runtime === "deno" ? [DENO, ["run", "-A", "src/main.ts"]] : [process.execPath, ["--import", "tsx", "src/main.ts"]]
    const started = spawn(command, args, { cwd: ROOT, env: merged, stdio: ["ignore", "pipe", "pipe"] })
    started.stdout!.on("data", (chunk) => output += chunk)
    started.stderr!.on("data", (chunk) => output += chunk)
    child = started
    await until("Vigil's /ready", 60_000, async () => {
      if (started.exitCode !== null) throw new Error(`Vigil exited with ${started.exitCode}:\n${output}`)
      const response = await fetch(`http://127.0.0.1:${port}/ready`).catch(() => undefined)
      return response?.status === 200 ? true : undefined
    })
  }
  const kill = (signal: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      const running = child
      if (running === undefined || running.exitCode !== null || running.signalCode !== null) return resolve()
      running.once("exit", () => resolve())
      running.kill(signal)
    })
  return { start, kill, signalCode: () => child?.signalCode ?? null, pid: () => child?.pid }
}
