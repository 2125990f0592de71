/**
 * The compose stack's nats-server authorization (`deploy/nats/nats-server.conf` and `auth.conf`,
 * used as they are but for the store directory and the ports), on a real nats-server: nobody connects without
 * credentials; Vigil connects with its own (NATS_USER / NATS_PASSWORD) and runs; a device added
 * with `npm run nats:device`'s entry (and a configuration reload) publishes its own readings,
 * which Vigil stores, and can neither publish another device's nor read the events.
 */
import { describe, expect, layer } from "@effect/vitest"
import { jetstream } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Layer } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { deviceUser } from "../../scripts/nats-device.ts"
import { eventually } from "../support/eventually.ts"
import { freePort, natsServerBinary, requireNats } from "../support/nats-server.ts"
import { reapWhenGone } from "../support/reaper.ts"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp
const binary = natsServerBinary()
const DEPLOY = join(import.meta.dirname, "..", "..", "deploy", "nats")
/**
 * A password nats-server reads from the environment as a string: it parses a variable's value as
 * a configuration value, so a UUID that starts like a number or a date (`12345678-…`, `4e3c…`) is
 * refused and the server does not start (CI's "nats-server exited (1)", 1 run in 4 here).
 */
const password = () => `pw-${randomUUID()}`
const VIGIL_PASSWORD = password()
const DEVICE_PASSWORD = password()

/** The deployment's nats-server, on a free port with a store of its own. */
class ConfiguredNats {
  readonly dir = mkdtempSync(join(tmpdir(), "vigil-nats-auth-"))
  private child: ChildProcess | undefined
  port = 0

  /**
   * Starts the server, on a fresh free port each try: a port found free can be taken by another
   * test before the server binds it, and the server then exits at once. What it printed before its
   * log was open (a configuration it cannot read) is kept for the error.
   */
  async start() {
    const config = readFileSync(join(DEPLOY, "nats-server.conf"), "utf8").replace("store_dir: /data", `store_dir: "${join(this.dir, "js")}"`)
    writeFileSync(join(this.dir, "nats-server.conf"), config)
    copyFileSync(join(DEPLOY, "auth.conf"), join(this.dir, "auth.conf"))
    for (let attempt = 1;; attempt++) {
      try {
        return await this.startOnce()
      } catch (error) {
        if (attempt === 3 || this.child?.exitCode === null) throw error
      }
    }
  }

  private async startOnce() {
    this.port = await freePort()
    let stderr = ""
    // `-m -1`: the monitoring port (8222 in the file) is one the server picks itself.
    this.child = spawn(binary!, ["-c", join(this.dir, "nats-server.conf"), "-a", "127.0.0.1", "-p", String(this.port), "-m", "-1", "-l", join(this.dir, "nats.log")], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, VIGIL_NATS_PASSWORD: VIGIL_PASSWORD, VIGIL_NATS_SUBSCRIBER_PASSWORD: password() }
    })
    this.child.stderr!.on("data", (chunk: Buffer) => void (stderr = `${stderr}${chunk.toString("utf8")}`.slice(-2_000)))
    reapWhenGone({ pid: this.child.pid!, signal: "TERM", dirs: [this.dir] })
    const child = this.child
    const said = () => `stderr: ${stderr === "" ? "(nothing)" : stderr}\nlog: ${this.log()}`
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`nats-server exited (${child.exitCode})`)
      const nc = await connect({ servers: this.url, user: "vigil", pass: VIGIL_PASSWORD, reconnect: false, timeout: 500 })
      await nc.close()
      // Three tries of 15 s fit in the layer's 60 s, so a server that never answers fails with what it said.
    }, 15_000).catch((error) => {
      throw new Error(`nats-server did not start: ${String(error)}\n${said()}`)
    })
  }

  log() {
    try {
      return readFileSync(join(this.dir, "nats.log"), "utf8").slice(-2_000)
    } catch {
      return "(no log)"
    }
  }

  get url() {
    return `nats://127.0.0.1:${this.port}`
  }

  /**
   * Adds a device's entry, as an operator would, has the server read its configuration again, and
   * waits until it says it has. A client that connects while the reload is still going on can be
   * disconnected by the reload's own check of the connected clients.
   */
  async addDevice(entry: string) {
    const file = join(this.dir, "auth.conf")
    const text = readFileSync(file, "utf8")
    const end = text.lastIndexOf("]")
    writeFileSync(file, `${text.slice(0, end)}${entry}\n${text.slice(end)}`)
    const reloads = () => readFileSync(join(this.dir, "nats.log"), "utf8").split("Reloaded server configuration").length - 1
    const before = reloads()
    this.child!.kill("SIGHUP")
    await waitFor(async () => {
      if (reloads() <= before) throw new Error(`nats-server did not reload its configuration: ${this.log()}`)
    })
  }

  async stop() {
    const child = this.child
    if (child !== undefined && child.exitCode === null) {
      await new Promise<void>((resolve) => {
        child.once("exit", () => resolve())
        child.kill("SIGTERM")
      })
    }
    rmSync(this.dir, { recursive: true, force: true })
  }
}

const waitFor = async <A>(attempt: () => Promise<A>, millis = 10_000): Promise<A> => {
  const deadline = Date.now() + millis
  for (;;) {
    try {
      return await attempt()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

describe.skipIf(binary === undefined)("NATS authorization", () => {
  if (binary === undefined) {
    requireNats({ available: false, reason: "no nats-server binary to run with the deployment's configuration" }, "NATS authorization")
    return
  }
  const server = new ConfiguredNats()
  const nats = Layer.scopedDiscard(Effect.acquireRelease(Effect.promise(() => server.start()), () => Effect.promise(() => server.stop())))
  const app = Layer.unwrapEffect(Effect.sync(() => TestApp.layer({ NATS_URL: server.url, NATS_USER: "vigil", NATS_PASSWORD: VIGIL_PASSWORD })))

  layer(app.pipe(Layer.provideMerge(nats)), { timeout: 60_000, excludeTestServices: true })("the deployment's configuration", (it) => {
    it.effect("refuses connections without credentials or with wrong ones; Vigil runs on its own", () =>
      Effect.gen(function*() {
        for (const options of [{}, { user: "vigil", pass: "wrong" }, { user: "device-nobody", pass: DEVICE_PASSWORD }]) {
          const refused = yield* Effect.promise(() =>
            connect({ servers: server.url, reconnect: false, timeout: 2_000, ...options }).then(
              async (nc) => {
                await nc.close()
                return "connected"
              },
              (error: Error) => error.message
            )
          )
          expect(refused, JSON.stringify(options)).toMatch(/authorization/i)
        }
        expect((yield* call("GET", "/health")).body.messaging).toEqual({ status: "connected" })
      }))

    it.effect("a device publishes its own readings and nothing else, and reads nothing", () =>
      Effect.gen(function*() {
        const patient = (yield* call("POST", "/patients", { full_name: "Nats Auth", age: 61, sex: "F" })).body
        const device = (yield* call("POST", "/devices", { serial: `NA-${randomUUID().slice(0, 8)}`, firmware: "2.1", patient_id: patient.id })).body
        yield* Effect.promise(() => server.addDevice(deviceUser(device.id, DEVICE_PASSWORD)))
        const nc = yield* Effect.promise(() =>
          waitFor(() => connect({ servers: server.url, user: `device-${device.id}`, pass: DEVICE_PASSWORD, inboxPrefix: `_INBOX_${device.id}`, reconnect: false, timeout: 1_000 }))
        )
        const errors: Array<string> = []
        void (async () => {
          for await (const status of nc.status()) if (status.type === "error") errors.push(String(status.error))
        })()
        try {
          const js = jetstream(nc, { timeout: 2_000 })
          const readingId = randomUUID()
          const ack = yield* Effect.promise(() => js.publish(`vigil.ingest.vitals.${device.id}`, JSON.stringify({ reading_id: readingId, heart_rate: 72 })))
          expect(ack.stream).toBe("VIGIL_INGEST")
          const stored = yield* eventually(
            Effect.flatMap(call("GET", `/api/v1/patients/${patient.id}/vitals`), (r) =>
              JSON.stringify(r.body).includes(readingId) ? Effect.succeed(r.body) : Effect.fail("not stored yet")),
            15
          )
          expect(JSON.stringify(stored)).toContain(readingId)

          // Another device's subject: refused by the server, so never acknowledged.
          const forged = yield* Effect.promise(() =>
            js.publish(`vigil.ingest.vitals.${randomUUID()}`, JSON.stringify({ reading_id: randomUUID(), heart_rate: 72 })).then(() => "acknowledged", (e: Error) => e.message)
          )
          expect(forged).not.toBe("acknowledged")
          // The events are not for devices.
          const sub = nc.subscribe("vigil.events.>")
          const outcome = yield* Effect.promise(async () => {
            try {
              for await (const _ of sub) return "received"
              return "ended"
            } catch (error) {
              return String(error)
            }
          }).pipe(Effect.timeoutTo({ duration: "3 seconds", onTimeout: () => "no answer", onSuccess: (s) => s }))
          expect(outcome).toMatch(/permission/i)
          expect(errors.join(" ")).toMatch(/permission/i)
        } finally {
          yield* Effect.promise(() => nc.close())
        }
      }))
  })
})
