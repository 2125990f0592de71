/**
 * NATS for tests, in the order DEVELOPERS.md gives: `NATS_URL` when set; otherwise one
 * `nats-server` from PATH (or /usr/sbin) for the whole run, started by the global setup with
 * JetStream in a temporary directory and stopped when the run ends (`reaper.ts`: however it ends).
 * Without either, NATS tests skip with a loud message, except under `CI=true`, where that is a
 * failure. Tests that must stop and restart NATS start their own server and stop it themselves.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { createConnection, createServer } from "node:net"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { type Reaper, reapWhenGone } from "./reaper.ts"

export const natsServerBinary = (): string | undefined => {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/bin"]
  return dirs.map((dir) => join(dir, "nats-server")).find((path) => existsSync(path))
}

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

const waitForPort = async (port: number, timeoutMillis: number) => {
  const deadline = Date.now() + timeoutMillis
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: "127.0.0.1" }, () => {
        socket.end()
        resolve(true)
      })
      socket.once("error", () => resolve(false))
    })
    if (open) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`nats-server did not open port ${port} within ${timeoutMillis} ms`)
}

/** A nats-server of the test's own, which it may stop and start again on the same port and store. */
export class OwnNatsServer {
  private process: ChildProcess | undefined
  private reaper: Reaper | undefined
  readonly storeDir = mkdtempSync(join(tmpdir(), "vigil-test-nats-"))
  private constructor(readonly binary: string, readonly port: number) {}

  static async start(): Promise<OwnNatsServer> {
    const binary = natsServerBinary()
    if (binary === undefined) throw new Error("no nats-server binary on PATH")
    const server = new OwnNatsServer(binary, await freePort())
    await server.resume()
    return server
  }

  get url() {
    return `nats://127.0.0.1:${this.port}`
  }

  async resume(): Promise<void> {
    const child = spawn(this.binary, ["-a", "127.0.0.1", "-p", String(this.port), "-js", "-sd", this.storeDir], {
      stdio: "ignore"
    })
    this.process = child
    this.reaper = reapWhenGone({ pid: child.pid!, signal: "TERM", dirs: [this.storeDir] })
    await waitForPort(this.port, 10_000)
  }

  async pause(): Promise<void> {
    const child = this.process
    this.reaper?.cancel()
    this.reaper = undefined
    if (child === undefined || child.exitCode !== null) return
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve())
      child.kill("SIGTERM")
    })
    this.process = undefined
  }

  async stop(): Promise<void> {
    await this.pause()
    rmSync(this.storeDir, { recursive: true, force: true })
  }
}

export type NatsAvailability =
  | { readonly available: true; readonly url: string; readonly own?: OwnNatsServer }
  | { readonly available: false; readonly reason: string }

/** For the global setup: the run's NATS, the env's or one started for the whole run. */
export const startRunNats = async (): Promise<NatsAvailability> => {
  const url = process.env.NATS_URL
  if (url !== undefined && url !== "") return { available: true, url }
  if (natsServerBinary() !== undefined) {
    const own = await OwnNatsServer.start()
    return { available: true, url: own.url, own }
  }
  return { available: false, reason: "neither NATS_URL nor a nats-server binary is available" }
}

/** In a test file: the run's NATS, as the global setup found it. */
export const resolveNats = async (): Promise<NatsAvailability> => {
  // Imported here: the global setup loads this module too, and vitest's test API is not there.
  const { inject } = await import("vitest")
  const url = inject("natsUrl")
  return url !== "" ? { available: true, url } : { available: false, reason: inject("natsUnavailableReason") }
}

/** For a suite that needs NATS: skip loudly when there is none, fail under CI. */
export const requireNats = (availability: NatsAvailability, suite: string): boolean => {
  if (availability.available) return true
  const message = `NATS tests in "${suite}" cannot run: ${availability.reason}`
  if (process.env.CI === "true") throw new Error(`${message} (CI=true: this is a failure)`)
  console.warn(`\n${"!".repeat(80)}\n!! SKIPPED: ${message}\n!! Set NATS_URL or install nats-server (apt-get install nats-server).\n${"!".repeat(80)}\n`)
  return false
}

/** Removes the three streams Vigil creates under `streamPrefix` (a test's own prefix). */
export const deleteStreams = async (url: string, streamPrefix: string): Promise<void> => {
  const { connect } = await import("@nats-io/transport-node")
  const { jetstreamManager } = await import("@nats-io/jetstream")
  const nc = await connect({ servers: url })
  try {
    const jsm = await jetstreamManager(nc)
    for (const suffix of ["INGEST", "EVENTS", "AUDIT", "DEADLETTER"]) await jsm.streams.delete(`${streamPrefix}_${suffix}`).catch(() => false)
  } finally {
    await nc.close()
  }
}

export const unique = (label: string) => `${label}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 7)}`

