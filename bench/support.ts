/**
 * What the benchmark scripts (bench/registry.ts, bench/events.ts, bench/ingest.ts) share: small
 * utilities, CPU accounting from Linux /proc, a cleanup stack, child processes in their own
 * process groups, Vigil started as such a child on a fresh database, the NATS connection and the
 * loopback check of the NATS benchmarks, figures and number formats for the reports, and the
 * script's run with its time budget and signal handling.
 *
 * Importing this module installs a process `exit` handler that kills every child still running
 * (with its process group).
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/nats-core"
import { connect as natsConnect } from "@nats-io/transport-node"
import { spawn, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { createServer, type AddressInfo } from "node:net"
import { availableParallelism, cpus, tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import pg from "pg"

/** The repository: where children run. */
const ROOT = fileURLToPath(new URL("..", import.meta.url))

/** The only interface the benchmarks listen on and load. */
export const HOST = "127.0.0.1"

// ---------------------------------------------------------------------------------------------
// Small utilities

export const log = (message: string) => process.stderr.write(`[bench] ${message}\n`)

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** Rejects when `promise` has not settled within `ms`; `onTimeout` can stop the work. */
export const withTimeout = <A>(label: string, ms: number, promise: Promise<A>, onTimeout?: () => void): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.()
      reject(new Error(`${label}: no result within ${ms / 1000} s`))
    }, ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

export const maximum = (values: ReadonlyArray<number>) => (values.length === 0 ? Number.NaN : values.reduce((a, b) => Math.max(a, b)))

/** Wall-clock milliseconds since the epoch, sub-millisecond. */
export const wallNow = () => performance.timeOrigin + performance.now()

// ---------------------------------------------------------------------------------------------
// CPU accounting (Linux /proc; NaN elsewhere)

/** CPU seconds used so far by process `pid` (Linux /proc; undefined elsewhere). */
const processCpuSeconds = (pid: number | undefined): number | undefined => {
  if (pid === undefined) return undefined
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100 // USER_HZ is 100 on Linux
  } catch {
    return undefined
  }
}

/** CPU seconds all processes on the machine have used since boot (Linux /proc/stat; undefined elsewhere). */
const machineBusySeconds = (): number | undefined => {
  try {
    const [, ...ticks] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).map(Number)
    // user nice system idle iowait irq softirq steal: all but idle and iowait are work.
    const busy = ticks.slice(0, 8).reduce((sum, n, i) => (i === 3 || i === 4 ? sum : sum + n), 0)
    return busy / 100
  } catch {
    return undefined
  }
}

/** Ids of the running processes whose command name is `comm` (Linux /proc; empty elsewhere). */
const pidsNamed = (comm: string): Array<number> => {
  try {
    return readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).flatMap((entry) => {
      try {
        return readFileSync(`/proc/${entry}/comm`, "utf8").trim() === comm ? [Number(entry)] : []
      } catch {
        return []
      }
    })
  } catch {
    return []
  }
}

/** CPU seconds used so far by all of `pids` that are still there, keyed by pid. */
const cpuByPid = (pids: ReadonlyArray<number>) =>
  new Map(pids.flatMap((pid) => {
    const seconds = processCpuSeconds(pid)
    return seconds === undefined ? [] : [[pid, seconds] as const]
  }))

/** CPU seconds used between two readings, by processes present in both. */
const cpuBetween = (start: ReadonlyMap<number, number>, end: ReadonlyMap<number, number>) =>
  [...end].reduce((sum, [pid, seconds]) => sum + (start.has(pid) ? seconds - start.get(pid)! : 0), 0)

/** CPU used while some work ran, as shares of one core (1 = one core). */
export interface CpuUse<Name extends string> {
  /** This process. */
  readonly self: number
  /** The process given by pid; NaN when unknown. */
  readonly process: number
  /**
   * All processes of each command name asked for, present at the start and at the end (those
   * that started or ended meanwhile are missed); NaN when there were none.
   */
  readonly named: Readonly<Record<Name, number>>
  /** The whole machine, this process and those above included; NaN when unknown. */
  readonly machine: number
}

/** Runs `work` and reports the CPU this process, process `pid`, the processes named `names` and the whole machine used meanwhile. */
export const measuringCpu = async <A, Name extends string = never>(
  pid: number | undefined,
  work: () => Promise<A>,
  names: ReadonlyArray<Name> = []
): Promise<{ readonly result: A; readonly cpu: CpuUse<Name> }> => {
  const namedPids = names.map((name) => [name, pidsNamed(name)] as const)
  const wallStart = performance.now()
  const selfStart = process.cpuUsage()
  const processStart = processCpuSeconds(pid)
  const namedStart = namedPids.map(([, pids]) => cpuByPid(pids))
  const machineStart = machineBusySeconds()
  const result = await work()
  const wall = (performance.now() - wallStart) / 1000
  const self = process.cpuUsage(selfStart)
  const processEnd = processCpuSeconds(pid)
  const namedEnd = namedPids.map(([, pids]) => cpuByPid(pids))
  const machineEnd = machineBusySeconds()
  const named = Object.fromEntries(namedPids.map(([name], i) => {
    const start = namedStart[i]!
    return [name, start.size === 0 ? Number.NaN : cpuBetween(start, namedEnd[i]!) / wall]
  })) as Record<Name, number>
  return {
    result,
    cpu: {
      self: (self.user + self.system) / 1e6 / wall,
      process: processStart === undefined || processEnd === undefined ? Number.NaN : (processEnd - processStart) / wall,
      named,
      machine: machineStart === undefined || machineEnd === undefined ? Number.NaN : (machineEnd - machineStart) / wall
    }
  }
}

/** Above this much CPU used by other processes during a measured run, its figures are noisy. */
export const BUSY_MACHINE_CPU = 0.2

/** CPU shares of a measured run of the NATS benchmarks (bench/events.ts, bench/ingest.ts). */
export interface CpuShare {
  /** CPU used by this process during the measured run; 1 = one core. */
  readonly benchCpu: number
  /** CPU used by Vigil's process during the measured run; NaN when unknown. */
  readonly vigilCpu: number
  /** CPU used by a baseline's own process (bench/barePipeline.ts) during the run; NaN when none ran. */
  readonly bareCpu: number
  /** CPU used by `nats-server` processes; NaN when unknown. */
  readonly natsCpu: number
  /** CPU used by `postgres` processes (all of the server's, not only Vigil's database); NaN when unknown. */
  readonly postgresCpu: number
  /** CPU used by everything else meanwhile: interference; NaN when unknown. */
  readonly otherCpu: number
}

/**
 * Runs `work` and reports the CPU share this process, Vigil, a baseline's process (`barePid`),
 * NATS, PostgreSQL and everything else used meanwhile.
 */
export const measuringAllCpu = async <A>(vigilPid: number | undefined, work: () => Promise<A>, barePid?: number): Promise<{ readonly result: A; readonly cpu: CpuShare }> => {
  const bareStart = processCpuSeconds(barePid)
  const wallStart = performance.now()
  const { result, cpu } = await measuringCpu(vigilPid, work, ["nats-server", "postgres"])
  const bareEnd = processCpuSeconds(barePid)
  const bareCpu = bareStart === undefined || bareEnd === undefined ? Number.NaN : (bareEnd - bareStart) / ((performance.now() - wallStart) / 1000)
  const { "nats-server": natsCpu, postgres: postgresCpu } = cpu.named
  const known = [cpu.process, bareCpu, natsCpu, postgresCpu].reduce((sum, n) => sum + (Number.isNaN(n) ? 0 : n), cpu.self)
  return { result, cpu: { benchCpu: cpu.self, vigilCpu: cpu.process, bareCpu, natsCpu, postgresCpu, otherCpu: Math.max(0, cpu.machine - known) } }
}

/** Resident memory of process `pid` now, and its peak so far, in MB (Linux /proc; NaN elsewhere). */
export const residentMemoryMb = (pid: number | undefined): { readonly rss: number; readonly peak: number } => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN)
    return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 }
  } catch {
    return { rss: Number.NaN, peak: Number.NaN }
  }
}

// ---------------------------------------------------------------------------------------------
// Cleanup: a stack of steps, run once, each bounded; children are also killed on process exit.

const cleanups: Array<{ readonly name: string; readonly run: () => Promise<void> }> = []
const liveChildren = new Set<ChildProcess>()
let cleaningUp: Promise<void> | undefined

/** Adds a step to the cleanup; steps run last added first. */
export const onCleanup = (name: string, run: () => Promise<void>) => {
  cleanups.push({ name, run })
}

export const cleanup = (): Promise<void> =>
  cleaningUp ??= (async () => {
    for (let step = cleanups.pop(); step !== undefined; step = cleanups.pop()) {
      try {
        await withTimeout(`cleanup: ${step.name}`, 25_000, step.run())
      } catch (error) {
        log(`cleanup: ${step.name} failed: ${errorMessage(error)}`)
      }
    }
  })()

const killGroup = (child: ChildProcess, signal: NodeJS.Signals) => {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // Already gone.
  }
}

const groupAlive = (child: ChildProcess) => {
  if (child.pid === undefined) return false
  try {
    process.kill(-child.pid, 0)
    return true
  } catch {
    return false
  }
}

/** Last resort: whatever is still running when this process exits is killed, with its process group. */
process.on("exit", () => {
  for (const child of liveChildren) killGroup(child, "SIGKILL")
})

// ---------------------------------------------------------------------------------------------
// Child processes

export interface Child {
  readonly name: string
  readonly pid: number | undefined
  /** Resolves when the process has exited; never rejects. */
  readonly exited: Promise<string>
  readonly hasExited: () => boolean
  /** The last lines it printed, for error messages. */
  readonly tail: () => string
  readonly onLine: (listener: (line: string) => void) => void
  /** SIGTERM, then SIGKILL to its whole process group if it (or anything it started) lingers. */
  readonly stop: () => Promise<void>
}

/**
 * Starts `node <args>` in the repository as the leader of a new process group (so that anything
 * it starts, such as an embedded PostgreSQL, can be killed with it). Its output goes to stderr,
 * prefixed with its name (but for `READY <port>` lines). Its stdin is a pipe that closes when this
 * process goes away, for children that watch it. `stop` waits `stopTimeoutMs` for SIGTERM to work.
 */
export const startChild = (name: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, stopTimeoutMs: number): Child => {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"], detached: true })
  liveChildren.add(child)
  const lines: Array<string> = []
  const listeners: Array<(line: string) => void> = []
  let exitedWith: string | undefined
  const exited = new Promise<string>((resolve) => {
    const done = (how: string) => {
      if (exitedWith !== undefined) return
      exitedWith = how
      liveChildren.delete(child)
      resolve(how)
    }
    child.once("exit", (code, signal) => done(signal !== null ? `signal ${signal}` : `code ${code}`))
    child.once("error", (error) => done(`spawn error: ${error.message}`))
  })
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => {
      lines.push(line)
      if (lines.length > 40) lines.shift()
      if (!line.startsWith("READY ")) process.stderr.write(`[${name}] ${line}\n`)
      for (const listener of listeners) listener(line)
    })
  }
  child.stdin.on("error", () => {})

  const stop = async () => {
    if (exitedWith === undefined) {
      log(`stopping ${name}`)
      child.kill("SIGTERM")
      const graceful = await Promise.race([exited.then(() => true), sleep(stopTimeoutMs).then(() => false)])
      if (!graceful) log(`${name} did not stop within ${stopTimeoutMs / 1000} s; killing it`)
    }
    // Give what it started a moment to follow it, then kill whatever is left of its group.
    for (let waited = 0; groupAlive(child) && waited < 5_000; waited += 100) await sleep(100)
    killGroup(child, "SIGKILL")
    await Promise.race([exited, sleep(5_000)])
    child.stdin.destroy()
  }

  return {
    name,
    pid: child.pid,
    exited,
    hasExited: () => exitedWith !== undefined,
    tail: () => lines.join("\n"),
    onLine: (listener) => listeners.push(listener),
    stop
  }
}

export const childFailure = (child: Child, what: string) =>
  new Error(`${child.name}: ${what}\n--- last output of ${child.name} ---\n${child.tail()}`)

/** Polls `GET /ready` until it answers 200. */
const waitReady = async (child: Child, baseUrl: string, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.hasExited()) throw childFailure(child, `exited (${await child.exited}) before it was ready`)
    try {
      const response = await fetch(`${baseUrl}/ready`, { signal: AbortSignal.timeout(1_000) })
      await response.arrayBuffer()
      if (response.status === 200) return
    } catch {
      // Not listening yet.
    }
    await sleep(250)
  }
  throw childFailure(child, `GET /ready did not answer 200 within ${timeoutMs / 1000} s`)
}

/**
 * Starts one of bench/bareServers.ts's baselines (`role`, answering `fixture`) in a child process
 * with a cleanup step that stops it; resolves with the port once it prints `READY <port>`.
 */
export const startBareServer = async (
  role: string,
  fixture: string,
  timeouts: { readonly startTimeoutMs: number; readonly stopTimeoutMs: number }
): Promise<{ readonly child: Child; readonly port: number }> => {
  const name = `bare-${role}`
  log(`starting ${name}`)
  const child = startChild(name, ["--import", "tsx", "bench/bareServers.ts", role], { ...process.env, BENCH_FIXTURE: fixture }, timeouts.stopTimeoutMs)
  onCleanup(`stop ${name}`, child.stop)
  const port = await withTimeout(
    `${name} start`,
    timeouts.startTimeoutMs,
    new Promise<number>((resolve, reject) => {
      child.onLine((line) => {
        const match = /^READY (\d+)$/.exec(line)
        if (match !== null) resolve(Number(match[1]))
      })
      void child.exited.then((how) => reject(childFailure(child, `exited (${how}) before it was listening`)))
    })
  )
  return { child, port }
}

// ---------------------------------------------------------------------------------------------
// A fresh database for Vigil

export interface DatabaseSetup {
  readonly description: string
  /** Vigil's database settings. */
  readonly env: Readonly<Record<string, string>>
  /** The URL the benchmark can use for the same database (for an embedded one, once Vigil runs). */
  readonly url: string
}

export const redactUrl = (url: string) => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    return "<unparseable URL>"
  }
}

const adminQuery = async (url: string, sql: string) => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, query_timeout: 20_000 })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

/**
 * A new `vigil_bench_<random>` database on the DATABASE_URL server when that is set, otherwise
 * the settings for an embedded PostgreSQL in a fresh temporary directory; either is removed by
 * the cleanup.
 */
export const prepareDatabase = async (): Promise<DatabaseSetup> => {
  const serverUrl = process.env["DATABASE_URL"]
  if (serverUrl !== undefined && serverUrl !== "") {
    const name = `vigil_bench_${randomBytes(6).toString("hex")}`
    await withTimeout("CREATE DATABASE", 25_000, adminQuery(serverUrl, `CREATE DATABASE "${name}"`))
    onCleanup(`drop database ${name}`, () => adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
    const url = new URL(serverUrl)
    url.pathname = `/${name}`
    return {
      description: `PostgreSQL at DATABASE_URL (${redactUrl(serverUrl)}), fresh database ${name}`,
      env: { DATABASE_URL: url.toString() },
      url: url.toString()
    }
  }
  const dir = mkdtempSync(join(tmpdir(), "vigil-bench-"))
  // Run as root, PostgreSQL runs as the OS user `postgres`, who must be able to reach the data directory.
  chmodSync(dir, 0o755)
  onCleanup(`remove ${dir}`, async () => rmSync(dir, { recursive: true, force: true }))
  const port = await freePort()
  return {
    description: `embedded PostgreSQL started by Vigil (VIGIL_PG_DIR=${join(dir, "pg")}, port ${port})`,
    env: { VIGIL_PG_DIR: join(dir, "pg"), VIGIL_PG_PORT: String(port) },
    // What src/persistence/EmbeddedPostgres.ts sets up.
    url: `postgres://postgres:vigil@${HOST}:${port}/vigil`
  }
}

// ---------------------------------------------------------------------------------------------
// Vigil as a child process

export interface Vigil {
  readonly child: Child
  readonly httpUrl: string
  readonly grpcAddress: string
  /** Seed 001's registry, on its own port. */
  readonly mlRegistryUrl: string
}

export interface VigilOptions {
  readonly database: DatabaseSetup
  /** Settings on top of the ports, hosts, log level and database (which these cannot override); VIGIL_AUTH is off unless set here. */
  readonly env: Readonly<Record<string, string>>
  /** What the "starting Vigil (...)" line says in its parentheses, given the ports picked. */
  readonly describe: (ports: { readonly port: number; readonly grpcPort: number }) => string
  readonly readyTimeoutMs: number
  readonly stopTimeoutMs: number
}

/**
 * Starts Vigil (`node --import tsx src/main.ts`) on free ports of 127.0.0.1, with a cleanup step
 * that stops it; resolves once `GET /ready` answers 200.
 */
/** The node flags `npm start` runs Vigil with (package.json's `start` script), so a benchmark runs it the same way. */
const startFlags = (): Array<string> => {
  const start: string = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts.start
  const words = start.split(/\s+/)
  const imported = words.indexOf("--import")
  if (words[0] !== "node" || imported < 1) throw new Error(`package.json's start script is not "node [flags] --import tsx ...": ${start}`)
  return words.slice(1, imported)
}

export const startVigil = async (options: VigilOptions): Promise<Vigil> => {
  const [port, grpcPort, mlRegistryPort] = [await freePort(), await freePort(), await freePort()]
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const name of ["DATABASE_URL", "VIGIL_PG_DIR", "VIGIL_PG_PORT"]) delete env[name]
  // What a benchmark measures is Vigil's work, not its authentication (bench/registry.ts measures
  // that with VIGIL_AUTH=required): off unless a benchmark asks for it.
  Object.assign(env, { VIGIL_AUTH: "off" }, options.env, {
    PORT: String(port),
    GRPC_PORT: String(grpcPort),
    ML_REGISTRY_PORT: String(mlRegistryPort),
    HOST,
    GRPC_HOST: HOST,
    LOG_LEVEL: "Warn", // Effect's label; "Warning" is rejected
    ...options.database.env
  })
  log(`starting Vigil (${options.describe({ port, grpcPort })})`)
  // BENCH_VIGIL_NODE_ARGS: extra node flags for Vigil's process only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env["BENCH_VIGIL_NODE_ARGS"] ?? "").split(" ").filter((arg) => arg !== "")
  const child = startChild("vigil", [...startFlags(), ...nodeArgs, "--import", "tsx", "src/main.ts"], env, options.stopTimeoutMs)
  onCleanup("stop vigil", child.stop)
  const httpUrl = `http://${HOST}:${port}`
  const startedAt = performance.now()
  await waitReady(child, httpUrl, options.readyTimeoutMs)
  log(`Vigil ready after ${((performance.now() - startedAt) / 1000).toFixed(1)} s`)
  return { child, httpUrl, grpcAddress: `${HOST}:${grpcPort}`, mlRegistryUrl: `http://${HOST}:${mlRegistryPort}` }
}

// ---------------------------------------------------------------------------------------------
// NATS (bench/events.ts, bench/ingest.ts)

/** The NATS server(s) the NATS benchmarks use (comma-separated); a local one by default. */
export const NATS_URL = process.env["NATS_URL"] !== undefined && process.env["NATS_URL"] !== "" ? process.env["NATS_URL"] : "nats://127.0.0.1:4222"

/** True for the hosts this benchmark may load: the loopback interface (or a local socket). */
const isLoopback = (host: string) => ["127.0.0.1", "localhost", "::1", "[::1]", ""].includes(host.toLowerCase()) || host.startsWith("/")

/** Throws unless NATS_URL and DATABASE_URL (when set) point at this machine. */
const checkLoopbackTargets = () => {
  for (const server of NATS_URL.split(",")) {
    const url = new URL(server.includes("://") ? server : `nats://${server}`)
    if (!isLoopback(url.hostname)) throw new Error(`NATS_URL must point at this machine (127.0.0.1); got host ${url.hostname}`)
  }
  const databaseUrl = process.env["DATABASE_URL"]
  if (databaseUrl !== undefined && databaseUrl !== "") {
    const url = new URL(databaseUrl)
    const socketHost = url.searchParams.get("host") ?? ""
    if (!isLoopback(decodeURIComponent(url.hostname)) && !socketHost.startsWith("/")) {
      throw new Error(`DATABASE_URL must point at this machine (127.0.0.1); got host ${url.hostname}`)
    }
  }
}

export interface Nats {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
}

/**
 * Connects to NATS_URL as client `clientName`, with a cleanup step that drains the connection;
 * fails saying so when there is no NATS server or it has no JetStream.
 */
const connectNats = async (clientName: string): Promise<Nats> => {
  let nc: NatsConnection
  try {
    nc = await natsConnect({ servers: NATS_URL.split(","), name: clientName, timeout: 5_000, maxReconnectAttempts: 5 })
  } catch (error) {
    throw new Error(`cannot connect to NATS at ${NATS_URL} (set NATS_URL to a local nats-server started with JetStream, -js): ${errorMessage(error)}`)
  }
  onCleanup("close NATS connection", async () => {
    await nc.drain().catch(() => nc.close())
  })
  let jsm: JetStreamManager
  try {
    jsm = await jetstreamManager(nc)
  } catch (error) {
    throw new Error(`JetStream is not enabled on the NATS server at ${NATS_URL} (start nats-server with -js): ${errorMessage(error)}`)
  }
  return { nc, js: jetstream(nc), jsm }
}

/**
 * Deletes the streams this run may have created: the ones named, if they exist, or (given
 * `{ prefix }`) every stream whose name starts with `<prefix>_` (the ones Vigil made for this run).
 */
const deleteStreams = async (nats: Nats, which: ReadonlyArray<string> | { readonly prefix: string }) => {
  // The bench's own connection, or (if it was lost) a new one just for this.
  const own = nats.nc.isClosed() ? await natsConnect({ servers: NATS_URL.split(","), timeout: 5_000 }) : undefined
  try {
    const jsm = own === undefined ? nats.jsm : await jetstreamManager(own)
    const names: Array<string> = []
    if ("prefix" in which) {
      for await (const name of jsm.streams.names()) if (name.startsWith(`${which.prefix}_`)) names.push(name)
    } else names.push(...which)
    for (const name of names) {
      const deleted = await jsm.streams.delete(name).catch(() => false)
      if (deleted) log(`deleted stream ${name}`)
    }
  } finally {
    await own?.close()
  }
}

export interface NatsBenchmarkOptions {
  /** The client name of this process's NATS connection. */
  readonly clientName: string
  /** Vigil's NATS_SUBJECT_PREFIX and NATS_STREAM_PREFIX. */
  readonly subjectPrefix: string
  readonly streamPrefix: string
  /** The streams the cleanup deletes (see deleteStreams). */
  readonly streams: ReadonlyArray<string> | { readonly prefix: string }
  /** Vigil's settings on top of NATS_URL, the prefixes and SEED_DEMO_DATA=false. */
  readonly env?: Readonly<Record<string, string>>
  readonly readyTimeoutMs: number
  readonly stopTimeoutMs: number
}

export interface NatsBenchmark {
  readonly nats: Nats
  readonly database: DatabaseSetup
  readonly vigil: Vigil
  /** This process's connection to Vigil's database. */
  readonly db: pg.Client
  /**
   * Stops Vigil (SIGTERM, as a deployment would), runs `meanwhile`, and starts Vigil again on the
   * same database and streams, on new ports; answers the new process and when it was started.
   */
  readonly restartVigil: (meanwhile: () => Promise<void>) => Promise<{ readonly vigil: Vigil; readonly startedAt: number }>
}

/**
 * The setup of a NATS benchmark: checks that NATS_URL and DATABASE_URL are loopback, connects to
 * NATS, registers the deletion of the run's streams (before Vigil starts, so that it runs after
 * Vigil has stopped), makes a fresh database, starts Vigil on it with NATS at NATS_URL under the
 * given prefixes and no demo data, and connects to its database; each with its cleanup step.
 */
export const startNatsBenchmark = async (options: NatsBenchmarkOptions): Promise<NatsBenchmark> => {
  checkLoopbackTargets()
  const nats = await withTimeout("connect to NATS", 15_000, connectNats(options.clientName))
  onCleanup("delete streams", () => deleteStreams(nats, options.streams))
  const database = await prepareDatabase()
  log(`database: ${database.description}`)
  const vigilOptions: VigilOptions = {
    database,
    env: {
      SEED_DEMO_DATA: "false",
      NATS_URL,
      NATS_SUBJECT_PREFIX: options.subjectPrefix,
      NATS_STREAM_PREFIX: options.streamPrefix,
      ...options.env
    },
    describe: ({ port }) => `REST ${HOST}:${port}; subjects ${options.subjectPrefix}.>, streams ${options.streamPrefix}_*`,
    readyTimeoutMs: options.readyTimeoutMs,
    stopTimeoutMs: options.stopTimeoutMs
  }
  let vigil = await startVigil(vigilOptions)
  const restartVigil = async (meanwhile: () => Promise<void>) => {
    await vigil.child.stop()
    await meanwhile()
    const startedAt = Date.now()
    vigil = await startVigil(vigilOptions)
    return { vigil, startedAt }
  }

  const db = new pg.Client({ connectionString: database.url, connectionTimeoutMillis: 5_000, query_timeout: 60_000 })
  await withTimeout("connect to the database", 10_000, db.connect())
  onCleanup("close database connection", () => db.end())
  return { nats, database, vigil, db, restartVigil }
}

// ---------------------------------------------------------------------------------------------
// Report formats

export const fmtRate = (n: number) => (Number.isFinite(n) ? String(Math.round(n)) : "n/a")
export const fmtMs = (n: number) => (Number.isNaN(n) ? "n/a" : Math.abs(n) < 10 ? n.toFixed(1) : String(Math.round(n)))
export const fmtCpu = (n: number) => (Number.isNaN(n) ? "n/a" : n.toFixed(2))

export interface Figures {
  readonly p50: number
  readonly p99: number
  readonly max: number
}

export const figures = (values: ReadonlyArray<number>): Figures => ({ p50: percentile(values, 50), p99: percentile(values, 99), max: maximum(values) })

export const fmtFigures = (f: Figures) => `p50 ${fmtMs(f.p50)} / p99 ${fmtMs(f.p99)} / max ${fmtMs(f.max)} ms`

export const fmtCpuShare = (c: CpuShare) =>
  `Vigil ${fmtCpu(c.vigilCpu)}, ${Number.isNaN(c.bareCpu) ? "" : `bare ${fmtCpu(c.bareCpu)}, `}bench ${fmtCpu(c.benchCpu)}, NATS ${fmtCpu(c.natsCpu)}, PostgreSQL ${fmtCpu(c.postgresCpu)}, other ${fmtCpu(c.otherCpu)}`

export interface Report {
  /** "registry", "events", "ingest": in the title and the JSON line's `benchmark`. */
  readonly benchmark: string
  /** Appended to the heading's line on node and the machine ("; NATS ..."). */
  readonly environment?: string
  readonly database: string
  /** The summary, after the heading. */
  readonly lines: ReadonlyArray<string>
  /** The JSON line's fields after benchmark, node, cpus and database. */
  readonly figures: Readonly<Record<string, unknown>>
}

/** Prints a report to stdout: a heading (benchmark, node, machine, database), the summary, then one JSON line. */
export const printReport = ({ benchmark, environment = "", database, lines, figures }: Report) => {
  const heading = [
    "",
    `Vigil ${benchmark} benchmark (same run, same machine; ${cpus().length} cores)`,
    `node ${process.version} on ${process.platform}/${process.arch}; cpus ${cpus().length} (available parallelism ${availableParallelism()})${environment}`,
    `database: ${database}`
  ]
  process.stdout.write(`${[...heading, ...lines].join("\n")}\n`)
  process.stdout.write(`${JSON.stringify({ benchmark, node: process.version, cpus: cpus().length, database, ...figures })}\n`)
}

// ---------------------------------------------------------------------------------------------
// Running a benchmark script

const abort = (reason: string, exitCode: number) => {
  log(reason)
  // Cleanup steps are bounded one by one; this bounds them all (and keeps the exit code).
  setTimeout(() => process.exit(exitCode), 25_000)
  void cleanup().finally(() => process.exit(exitCode))
}

/**
 * Runs `main` within `budgetMs` (setup to report; the cleanup after it is bounded separately),
 * runs the cleanup on failure, timeout, SIGINT and SIGTERM, and exits: 0 when `main` answers
 * true, 1 when it answers false or fails, 130/143 on a signal.
 */
export const runBenchmark = (main: () => Promise<boolean>, budgetMs: number) => {
  const budget = setTimeout(() => abort(`time budget of ${budgetMs / 1000} s exceeded; stopping`, 1), budgetMs)
  process.once("SIGINT", () => abort("interrupted; stopping", 130))
  process.once("SIGTERM", () => abort("terminated; stopping", 143))
  log(`node ${process.version}, ${cpus().length} cpus; budget ${budgetMs / 1000} s`)
  main().then(
    (ok) => {
      clearTimeout(budget)
      process.exit(ok ? 0 : 1)
    },
    (error: unknown) => {
      clearTimeout(budget)
      abort(`failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`, 1)
    }
  )
}
