/**
 * Registry read benchmark: Vigil against bare servers answering the same bytes, in one run.
 *
 * Method
 * - Every server under test runs in its own child process, one at a time, so the load generator
 *   (this process) and the server each get one of the machine's cores. Order: Vigil (REST, then
 *   gRPC), then a bare `node:http` server, then a bare `@grpc/grpc-js` server.
 * - Vigil (`node --import tsx src/main.ts`) gets a fresh database: a new `vigil_bench_<random>`
 *   database on the DATABASE_URL server when that is set (dropped at the end), otherwise an
 *   embedded PostgreSQL in a fresh temporary directory (removed at the end). It seeds the demo
 *   data, and patient 550e8400-e29b-41d4-a716-446655440000 is the one read.
 * - The bare servers (bench/bareServers.ts) answer with what Vigil answered: the exact JSON body
 *   of `GET /patients/{id}`, and the `GetPatient` response object (timestamp renewed per call).
 * - REST: autocannon, 50 connections, pipelining 1; a warm-up run that is not counted, then a
 *   measured run. Reported: average requests/s and p99 latency; non-2xx and errors are counted.
 * - gRPC: a pool of grpc-js clients, each on its own channel and connection, keeping a fixed
 *   number of calls in flight; a warm-up run, then a measured run. Reported: completed calls/s
 *   and p99 latency; failed calls are counted. The same client code drives both servers.
 * - For each measured run it also records the CPU used (Linux /proc) by the server, by this load
 *   generator, and by the rest of the machine. A generator near one full core means the figure is
 *   the generator's limit: a grpc-js client needs more CPU per call than a bare grpc-js server,
 *   so the report adds throughput per core of server CPU. CPU used by other processes (other than
 *   Vigil's own PostgreSQL) means the machine was not quiet and the figures are noisy.
 * - Load only targets 127.0.0.1. Every run is bounded in time and request count, every phase
 *   has a time limit, and the whole script has a budget; children are stopped at the end and on
 *   any failure.
 *
 * Prints figures and whether the targets (REST >= 0.25 of bare, gRPC >= 0.5 of bare) are met; it
 * does not assert them. Exits 1 only when something broke (a phase failed, or requests failed).
 */
import * as grpc from "@grpc/grpc-js"
import autocannon from "autocannon"
import { spawn, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer, type AddressInfo } from "node:net"
import { availableParallelism, cpus, tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import pg from "pg"
import { loadRegistry, type GetPatientRequest, type GetPatientResponse, type RegistryClient } from "./registryProto.ts"

const ROOT = fileURLToPath(new URL("..", import.meta.url))
const HOST = "127.0.0.1"
const PATIENT_ID = "550e8400-e29b-41d4-a716-446655440000"
const GET_PATIENT: GetPatientRequest = { version: "1.0.0", patient_id: PATIENT_ID }

const settings = {
  warmupSeconds: 2,
  measureSeconds: 10,
  httpConnections: 50,
  grpcClients: 4,
  grpcInFlight: 64,
  /** Per request (REST) or call (gRPC). */
  requestTimeoutMs: 5_000,
  /** Upper bound on requests or calls in any one run, whatever the duration. */
  maxRequestsPerRun: 2_000_000,
  readyTimeoutMs: 60_000,
  bareStartTimeoutMs: 20_000,
  stopTimeoutMs: 20_000,
  /** Whole script, setup to report; cleanup after it is bounded separately. */
  budgetMs: 150_000
} as const

const targets = { rest: 0.25, grpc: 0.5 } as const

// ---------------------------------------------------------------------------------------------
// Small utilities

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`)

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** Rejects when `promise` has not settled within `ms`; `onTimeout` can stop the work. */
const withTimeout = <A>(label: string, ms: number, promise: Promise<A>, onTimeout?: () => void): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.()
      reject(new Error(`${label}: no result within ${ms / 1000} s`))
    }, ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

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

/**
 * Runs `work` and reports the CPU share (1 = one core) this process, the server, and everything
 * else on the machine used meanwhile.
 */
const measuringCpu = async <A>(serverPid: number | undefined, work: () => Promise<A>): Promise<A & CpuShare> => {
  const wallStart = performance.now()
  const selfStart = process.cpuUsage()
  const serverStart = processCpuSeconds(serverPid)
  const machineStart = machineBusySeconds()
  const result = await work()
  const wall = (performance.now() - wallStart) / 1000
  const self = process.cpuUsage(selfStart)
  const serverEnd = processCpuSeconds(serverPid)
  const machineEnd = machineBusySeconds()
  const loadCpu = (self.user + self.system) / 1e6 / wall
  const serverCpu = serverStart === undefined || serverEnd === undefined ? Number.NaN : (serverEnd - serverStart) / wall
  const machineCpu = machineStart === undefined || machineEnd === undefined ? Number.NaN : (machineEnd - machineStart) / wall
  return { ...result, loadCpu, serverCpu, otherCpu: Math.max(0, machineCpu - loadCpu - serverCpu) }
}

// ---------------------------------------------------------------------------------------------
// Cleanup: a stack of steps, run once, each bounded; children are also killed on process exit.

const cleanups: Array<{ readonly name: string; readonly run: () => Promise<void> }> = []
const liveChildren = new Set<ChildProcess>()
let cleaningUp: Promise<void> | undefined

const onCleanup = (name: string, run: () => Promise<void>) => {
  cleanups.push({ name, run })
}

const cleanup = (): Promise<void> =>
  cleaningUp ??= (async () => {
    for (let step = cleanups.pop(); step !== undefined; step = cleanups.pop()) {
      try {
        await withTimeout(`cleanup: ${step.name}`, 25_000, step.run())
      } catch (error) {
        log(`cleanup: ${step.name} failed: ${errorMessage(error)}`)
      }
    }
  })()

/** Last resort: whatever is still running when this process exits is killed, with its process group. */
process.on("exit", () => {
  for (const child of liveChildren) killGroup(child, "SIGKILL")
})

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

// ---------------------------------------------------------------------------------------------
// Child processes

interface Child {
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
 * Starts `node <args>` in /work/main as the leader of a new process group (so that anything it
 * starts, such as an embedded PostgreSQL, can be killed with it). Its output goes to stderr,
 * prefixed with its name.
 */
const startChild = (name: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv): Child => {
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
      const graceful = await Promise.race([exited.then(() => true), sleep(settings.stopTimeoutMs).then(() => false)])
      if (!graceful) log(`${name} did not stop within ${settings.stopTimeoutMs / 1000} s; killing it`)
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

const childFailure = (child: Child, what: string) =>
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

// ---------------------------------------------------------------------------------------------
// Database for Vigil

interface DatabaseSetup {
  readonly description: string
  readonly env: Readonly<Record<string, string>>
}

const redactUrl = (url: string) => {
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

const prepareDatabase = async (): Promise<DatabaseSetup> => {
  const serverUrl = process.env["DATABASE_URL"]
  if (serverUrl !== undefined && serverUrl !== "") {
    const name = `vigil_bench_${randomBytes(6).toString("hex")}`
    await withTimeout("CREATE DATABASE", 25_000, adminQuery(serverUrl, `CREATE DATABASE "${name}"`))
    onCleanup(`drop database ${name}`, () => adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
    const url = new URL(serverUrl)
    url.pathname = `/${name}`
    return {
      description: `PostgreSQL at DATABASE_URL (${redactUrl(serverUrl)}), fresh database ${name}`,
      env: { DATABASE_URL: url.toString() }
    }
  }
  const dir = mkdtempSync(join(tmpdir(), "vigil-bench-"))
  // Run as root, PostgreSQL runs as the OS user `postgres`, who must be able to reach the data directory.
  chmodSync(dir, 0o755)
  onCleanup(`remove ${dir}`, async () => rmSync(dir, { recursive: true, force: true }))
  const port = await freePort()
  return {
    description: `embedded PostgreSQL started by Vigil (VIGIL_PG_DIR=${join(dir, "pg")}, port ${port})`,
    env: { VIGIL_PG_DIR: join(dir, "pg"), VIGIL_PG_PORT: String(port) }
  }
}

// ---------------------------------------------------------------------------------------------
// Servers under test

interface RunningServer {
  readonly child: Child
  readonly httpUrl?: string
  readonly grpcAddress?: string
}

const startVigil = async (database: DatabaseSetup): Promise<RunningServer & { httpUrl: string; grpcAddress: string }> => {
  const [port, grpcPort] = [await freePort(), await freePort()]
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const name of ["DATABASE_URL", "VIGIL_PG_DIR", "VIGIL_PG_PORT"]) delete env[name]
  Object.assign(env, {
    PORT: String(port),
    GRPC_PORT: String(grpcPort),
    HOST,
    GRPC_HOST: HOST,
    SEED_DEMO_DATA: "true",
    LOG_LEVEL: "Warn", // Effect's label; "Warning" is rejected
    ...database.env
  })
  log(`starting Vigil (REST ${HOST}:${port}, gRPC ${HOST}:${grpcPort})`)
  const child = startChild("vigil", ["--import", "tsx", "src/main.ts"], env)
  onCleanup("stop vigil", child.stop)
  const httpUrl = `http://${HOST}:${port}`
  const startedAt = performance.now()
  await waitReady(child, httpUrl, settings.readyTimeoutMs)
  log(`Vigil ready after ${((performance.now() - startedAt) / 1000).toFixed(1)} s`)
  return { child, httpUrl, grpcAddress: `${HOST}:${grpcPort}` }
}

/** Starts bench/bareServers.ts answering `fixture`; resolves once it prints `READY <port>`. */
const startBare = async (kind: "http" | "grpc", fixture: string): Promise<RunningServer> => {
  const name = `bare-${kind}`
  log(`starting ${name}`)
  const child = startChild(name, ["--import", "tsx", "bench/bareServers.ts", kind], { ...process.env, BENCH_FIXTURE: fixture })
  onCleanup(`stop ${name}`, child.stop)
  const port = await withTimeout(
    `${name} start`,
    settings.bareStartTimeoutMs,
    new Promise<number>((resolve, reject) => {
      child.onLine((line) => {
        const match = /^READY (\d+)$/.exec(line)
        if (match !== null) resolve(Number(match[1]))
      })
      void child.exited.then((how) => reject(childFailure(child, `exited (${how}) before it was listening`)))
    })
  )
  return kind === "http" ? { child, httpUrl: `http://${HOST}:${port}` } : { child, grpcAddress: `${HOST}:${port}` }
}

// ---------------------------------------------------------------------------------------------
// Fixtures: what Vigil answers, for the bare servers to answer too

interface RestFixture {
  readonly body: string
  readonly contentType: string
}

const fetchRestFixture = async (httpUrl: string): Promise<RestFixture> => {
  const deadline = Date.now() + 10_000
  for (;;) {
    const response = await fetch(`${httpUrl}/patients/${PATIENT_ID}`, { signal: AbortSignal.timeout(5_000) })
    const body = await response.text()
    if (response.status === 200) return { body, contentType: response.headers.get("content-type") ?? "" }
    if (Date.now() > deadline) throw new Error(`GET /patients/${PATIENT_ID} answered ${response.status}: ${body}`)
    await sleep(250)
  }
}

const makeClients = (address: string, count: number): Array<RegistryClient> => {
  const Registry = loadRegistry()
  // A local subchannel pool per channel: each client gets its own connection. Channelz and
  // retries are bookkeeping on every call that this client does not need; off, the generator
  // spends its core on calls.
  const options = { "grpc.use_local_subchannel_pool": 1, "grpc.enable_channelz": 0, "grpc.enable_retries": 0 }
  return Array.from({ length: count }, () => new Registry(address, grpc.credentials.createInsecure(), options))
}

const connect = (clients: ReadonlyArray<RegistryClient>) =>
  Promise.all(clients.map((client) =>
    new Promise<void>((resolve, reject) =>
      client.waitForReady(Date.now() + 5_000, (error) => (error === undefined || error === null ? resolve() : reject(error))))
  ))

const getPatient = (client: RegistryClient) =>
  new Promise<GetPatientResponse>((resolve, reject) =>
    client.GetPatient(GET_PATIENT, { deadline: Date.now() + settings.requestTimeoutMs }, (error, response) =>
      error !== null || response === undefined ? reject(error ?? new Error("no response")) : resolve(response)))

const fetchGrpcFixture = async (address: string): Promise<GetPatientResponse> => {
  const [client] = makeClients(address, 1)
  try {
    await connect([client!])
    const response = await getPatient(client!)
    if (response.status !== "STATUS_SUCCESS") throw new Error(`GetPatient answered status ${response.status}`)
    return response
  } finally {
    client!.close()
  }
}

/** The bare servers must answer what Vigil answered; a quick check before measuring them. */
const checkBareHttp = async (httpUrl: string, fixture: RestFixture) => {
  const body = await (await fetch(`${httpUrl}/patients/${PATIENT_ID}`, { signal: AbortSignal.timeout(5_000) })).text()
  if (body !== fixture.body) throw new Error("bare HTTP server's body differs from Vigil's")
}

const checkBareGrpc = async (address: string, fixture: GetPatientResponse) => {
  const [client] = makeClients(address, 1)
  try {
    await connect([client!])
    const response = await getPatient(client!)
    if (JSON.stringify({ ...response, timestamp: "" }) !== JSON.stringify({ ...fixture, timestamp: "" })) {
      throw new Error("bare gRPC server's response differs from Vigil's")
    }
  } finally {
    client!.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Load

interface CpuShare {
  /** CPU used by this process (the load generator) during the measured run; 1 = one core. */
  readonly loadCpu: number
  /** CPU used by the server's process during the measured run; NaN when unknown. */
  readonly serverCpu: number
  /**
   * CPU used by everything else on the machine meanwhile; NaN when unknown. For Vigil this
   * includes its PostgreSQL; for anything else it is interference.
   */
  readonly otherCpu: number
}

interface LoadResult extends CpuShare {
  /** Requests (REST) or completed calls (gRPC) per second. */
  readonly perSecond: number
  readonly p99Ms: number
  readonly completed: number
  /** Non-2xx responses (REST only). */
  readonly non2xx: number
  readonly errors: number
}

const autocannonRun = (url: string, seconds: number) => {
  let instance: autocannon.Instance | undefined
  const run = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon({
      url,
      connections: settings.httpConnections,
      pipelining: 1,
      duration: seconds,
      timeout: settings.requestTimeoutMs / 1000,
      maxOverallRequests: settings.maxRequestsPerRun
    }, (error, result) => (error !== null && error !== undefined ? reject(error) : resolve(result)))
  })
  return withTimeout(`autocannon ${url}`, (seconds + 15) * 1000, run, () => instance?.stop())
}

const runHttpLoad = async (label: string, server: Child, httpUrl: string): Promise<LoadResult> => {
  const url = `${httpUrl}/patients/${PATIENT_ID}`
  log(`${label}: REST warm-up ${settings.warmupSeconds} s`)
  await autocannonRun(url, settings.warmupSeconds)
  log(`${label}: REST measuring ${settings.measureSeconds} s`)
  return measuringCpu(server.pid, async () => {
    const result = await autocannonRun(url, settings.measureSeconds)
    return {
      perSecond: result.requests.average,
      p99Ms: result.latency.p99,
      completed: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors + result.timeouts
    }
  })
}

/** Keeps `settings.grpcInFlight` calls in flight, spread over the clients, for `seconds`. */
const grpcRun = async (clients: ReadonlyArray<RegistryClient>, seconds: number): Promise<Omit<LoadResult, keyof CpuShare>> => {
  const latencies: Array<number> = []
  let started = 0
  let errors = 0
  const startedAt = performance.now()
  const stopAt = startedAt + seconds * 1000
  const worker = async (client: RegistryClient) => {
    while (performance.now() < stopAt && started < settings.maxRequestsPerRun) {
      started++
      const callStart = performance.now()
      try {
        const response = await getPatient(client)
        if (response.status !== "STATUS_SUCCESS") errors++
        else latencies.push(performance.now() - callStart)
      } catch {
        errors++
      }
    }
  }
  await Promise.all(Array.from({ length: settings.grpcInFlight }, (_, n) => worker(clients[n % clients.length]!)))
  const elapsedSeconds = (performance.now() - startedAt) / 1000
  return {
    perSecond: latencies.length / elapsedSeconds,
    p99Ms: percentile(latencies, 99),
    completed: latencies.length,
    non2xx: 0,
    errors
  }
}

const runGrpcLoad = async (label: string, server: Child, address: string): Promise<LoadResult> => {
  const clients = makeClients(address, settings.grpcClients)
  try {
    await connect(clients)
    const limitMs = (seconds: number) => (seconds * 1000) + settings.requestTimeoutMs + 10_000
    log(`${label}: gRPC warm-up ${settings.warmupSeconds} s`)
    await withTimeout(`${label} gRPC warm-up`, limitMs(settings.warmupSeconds), grpcRun(clients, settings.warmupSeconds))
    log(`${label}: gRPC measuring ${settings.measureSeconds} s`)
    return await withTimeout(
      `${label} gRPC run`,
      limitMs(settings.measureSeconds),
      measuringCpu(server.pid, () => grpcRun(clients, settings.measureSeconds))
    )
  } finally {
    for (const client of clients) client.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Report

interface Results {
  readonly database: string
  readonly restBare: LoadResult
  readonly restVigil: LoadResult
  readonly grpcBare: LoadResult
  readonly grpcVigil: LoadResult
}

const fmtRate = (n: number) => String(Math.round(n))
const fmtMs = (n: number) => (Number.isNaN(n) ? "n/a" : n < 10 ? n.toFixed(1) : String(Math.round(n)))

const fmtCpu = (n: number) => (Number.isNaN(n) ? "n/a" : n.toFixed(2))
const cpu = (run: LoadResult) => `${fmtCpu(run.serverCpu)} / ${fmtCpu(run.loadCpu)} / ${fmtCpu(run.otherCpu)}`

/**
 * Throughput per core the server used: a fairer comparison when the load generator, not the
 * server, was the limit (the bare grpc-js server needs less CPU per call than a grpc-js client).
 */
const perCore = (run: LoadResult) => run.perSecond / run.serverCpu
const perCoreRatio = (bare: LoadResult, vigil: LoadResult) => perCore(vigil) / perCore(bare)
const fmtRatio = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "n/a")

/** Above this much CPU used by other processes during a bare server's run, its figure is suspect. */
const BUSY_MACHINE_CPU = 0.2

const comparison = (bare: LoadResult, vigil: LoadResult, target: number) => {
  const ratio = vigil.perSecond / bare.perSecond
  return { ratio, target, met: ratio >= target }
}

const problems = (results: Results): Array<string> => {
  const runs = [
    ["REST bare node:http", results.restBare],
    ["REST Vigil", results.restVigil],
    ["gRPC bare grpc-js", results.grpcBare],
    ["gRPC Vigil", results.grpcVigil]
  ] as const
  return runs.flatMap(([name, run]) => [
    ...(run.non2xx > 0 ? [`${name}: ${run.non2xx} non-2xx responses`] : []),
    ...(run.errors > 0 ? [`${name}: ${run.errors} failed requests/calls`] : []),
    ...(run.completed === 0 ? [`${name}: nothing completed`] : [])
  ])
}

/** Warnings (not failures) when other work shared the machine, or the load generator was the limit. */
const interference = (results: Results): Array<string> => {
  const runs = [
    ["REST bare", results.restBare, false],
    ["REST Vigil", results.restVigil, true],
    ["gRPC bare", results.grpcBare, false],
    ["gRPC Vigil", results.grpcVigil, true]
  ] as const
  return runs.flatMap(([name, run, isVigil]) => [
    ...(run.otherCpu > BUSY_MACHINE_CPU
      ? [`note: ${name}: other processes used ${fmtCpu(run.otherCpu)} of a core${isVigil ? " (includes Vigil's PostgreSQL)" : ""}; on a busy machine the figures are noisy`]
      : []),
    ...(run.loadCpu > 0.9
      ? [`note: ${name}: the load generator used ${fmtCpu(run.loadCpu)} of a core; the figure may be the generator's limit, not the server's (compare per core of server CPU)`]
      : [])
  ])
}

const report = (results: Results): boolean => {
  const rest = comparison(results.restBare, results.restVigil, targets.rest)
  const grpcRatio = comparison(results.grpcBare, results.grpcVigil, targets.grpc)
  const verdict = (c: ReturnType<typeof comparison>) => `ratio ${c.ratio.toFixed(2)} (target >= ${c.target}: ${c.met ? "met" : "NOT met"})`
  const { restBare, restVigil, grpcBare, grpcVigil } = results
  const issues = problems(results)
  const lines = [
    "",
    `Vigil registry benchmark (same run, same machine; ${cpus().length} cores)`,
    `node ${process.version} on ${process.platform}/${process.arch}; cpus ${cpus().length} (available parallelism ${availableParallelism()})`,
    `database: ${results.database}`,
    `method: each server alone in its own child process; load from this process to 127.0.0.1; warm-up ${settings.warmupSeconds} s (not counted), then ${settings.measureSeconds} s measured`,
    `  REST: autocannon, ${settings.httpConnections} connections, pipelining 1; gRPC: ${settings.grpcClients} clients (own channels), ${settings.grpcInFlight} calls in flight`,
    "",
    `REST GET /patients/{id}: bare node:http ${fmtRate(restBare.perSecond)} req/s p99 ${fmtMs(restBare.p99Ms)} ms | Vigil ${fmtRate(restVigil.perSecond)} req/s p99 ${fmtMs(restVigil.p99Ms)} ms | ${verdict(rest)}`,
    `gRPC GetPatient:         bare grpc-js   ${fmtRate(grpcBare.perSecond)} calls/s p99 ${fmtMs(grpcBare.p99Ms)} ms | Vigil ${fmtRate(grpcVigil.perSecond)} calls/s p99 ${fmtMs(grpcVigil.p99Ms)} ms | ${verdict(grpcRatio)}`,
    `per core of server CPU: REST bare ${fmtRate(perCore(restBare))} req/s, Vigil ${fmtRate(perCore(restVigil))} req/s, ratio ${fmtRatio(perCoreRatio(restBare, restVigil))}; gRPC bare ${fmtRate(perCore(grpcBare))} calls/s, Vigil ${fmtRate(perCore(grpcVigil))} calls/s, ratio ${fmtRatio(perCoreRatio(grpcBare, grpcVigil))}`,
    `CPU during measured runs (1.00 = one core), server / load generator / rest of machine: REST bare ${cpu(restBare)}, Vigil ${cpu(restVigil)}; gRPC bare ${cpu(grpcBare)}, Vigil ${cpu(grpcVigil)}`,
    `REST non-2xx: bare ${restBare.non2xx}, Vigil ${restVigil.non2xx}; REST errors/timeouts: bare ${restBare.errors}, Vigil ${restVigil.errors}; gRPC failed calls: bare ${grpcBare.errors}, Vigil ${grpcVigil.errors}`,
    issues.length === 0 ? "all requests and calls succeeded" : `PROBLEMS (figures not trustworthy): ${issues.join("; ")}`,
    ...interference(results)
  ]
  process.stdout.write(`${lines.join("\n")}\n`)
  process.stdout.write(`${JSON.stringify({
    benchmark: "registry",
    node: process.version,
    cpus: cpus().length,
    database: results.database,
    rest: { bare: restBare, vigil: restVigil, ratio: rest.ratio, target: rest.target, met: rest.met, perCoreRatio: perCoreRatio(restBare, restVigil) },
    grpc: { bare: grpcBare, vigil: grpcVigil, ratio: grpcRatio.ratio, target: grpcRatio.target, met: grpcRatio.met, perCoreRatio: perCoreRatio(grpcBare, grpcVigil) },
    problems: issues
  })}\n`)
  return issues.length === 0
}

// ---------------------------------------------------------------------------------------------
// Main

const main = async (): Promise<boolean> => {
  log(`node ${process.version}, ${cpus().length} cpus; budget ${settings.budgetMs / 1000} s`)
  const database = await prepareDatabase()
  log(`database: ${database.description}`)

  const vigil = await startVigil(database)
  const restFixture = await fetchRestFixture(vigil.httpUrl)
  const grpcFixture = await withTimeout("GetPatient fixture", 10_000, fetchGrpcFixture(vigil.grpcAddress))
  const restVigil = await runHttpLoad("Vigil", vigil.child, vigil.httpUrl)
  const grpcVigil = await runGrpcLoad("Vigil", vigil.child, vigil.grpcAddress)
  await vigil.child.stop()

  const bareHttp = await startBare("http", restFixture.body)
  await withTimeout("bare HTTP check", 10_000, checkBareHttp(bareHttp.httpUrl!, restFixture))
  const restBare = await runHttpLoad("bare node:http", bareHttp.child, bareHttp.httpUrl!)
  await bareHttp.child.stop()

  const bareGrpc = await startBare("grpc", JSON.stringify(grpcFixture))
  await withTimeout("bare gRPC check", 10_000, checkBareGrpc(bareGrpc.grpcAddress!, grpcFixture))
  const grpcBare = await runGrpcLoad("bare grpc-js", bareGrpc.child, bareGrpc.grpcAddress!)
  await bareGrpc.child.stop()

  await cleanup()
  return report({ database: database.description, restBare, restVigil, grpcBare, grpcVigil })
}

const abort = (reason: string, exitCode: number) => {
  log(reason)
  // Cleanup steps are bounded one by one; this bounds them all (and keeps the exit code).
  setTimeout(() => process.exit(exitCode), 25_000)
  void cleanup().finally(() => process.exit(exitCode))
}

const budget = setTimeout(() => abort(`time budget of ${settings.budgetMs / 1000} s exceeded; stopping`, 1), settings.budgetMs)
process.once("SIGINT", () => abort("interrupted; stopping", 130))
process.once("SIGTERM", () => abort("terminated; stopping", 143))

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
