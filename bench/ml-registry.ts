/**
 * ML service registry benchmark (seed 001): heartbeats and `GET /api/v1/services/{id}` through
 * Vigil's registry port against a bare `node:http` server answering the same bytes, in one run;
 * `GET /api/v1/health/all` with 1,000 registered services; and whether heartbeats slow the reads.
 *
 * Method
 * - Vigil (`node --import tsx src/main.ts`, `npm start`'s node flags) runs in its own child process
 *   on a fresh database (a new `vigil_bench_<random>` database on the DATABASE_URL server when that
 *   is set, dropped at the end; otherwise an embedded PostgreSQL in a fresh temporary directory),
 *   no demo data, the seed's lease (SERVICE_TIMEOUT_SECONDS 60) and the prober's schedule out of
 *   the way (ML_REGISTRY_PROBE_INTERVAL 1 hour) so that only `?refresh=true` probes.
 * - SERVICES services are registered (20 at a time) on the registry's port, their health URLs on
 *   a bare `node:http` server in another child process (bench/bareServers.ts ml-health).
 * - Health: one `GET /api/v1/health/all?refresh=true` (every service probed, concurrently), timed;
 *   then HEALTH_CALLS calls of `GET /api/v1/health/all` one after another: p50 / p99 / max.
 * - Reads: autocannon, 50 connections, pipelining 1, `GET /api/v1/services/{id}` of one service;
 *   warm-up (not counted), then measured. Heartbeats: the same, `POST /api/v1/services/{id}/heartbeat`
 *   cycling through all services. Reported: requests/s, p99, and the `ml_services` row updates
 *   PostgreSQL counted meanwhile (pg_stat_user_tables; a heartbeat is written at most once per
 *   lease fraction, a third of the lease).
 * - Reads beside heartbeats: the read run again while another autocannon sends HEARTBEAT_RATE
 *   heartbeats/s (paced), to see what that rate costs the other routes on this machine.
 * - Bare node:http (bench/bareServers.ts ml-registry, alone in its child process) answers the
 *   exact body Vigil answered for the read, and the seed's acknowledgement (id and time filled in)
 *   for a heartbeat; the same autocannon runs drive it.
 * - CPU (Linux /proc) of the server, this process and the rest of the machine for each measured run.
 * - Load only targets 127.0.0.1. Every run is bounded in time and request count, every phase has
 *   a time limit, the whole script has a budget; children are stopped, the database dropped at
 *   the end and on any failure.
 *
 * Prints figures and whether the targets (heartbeats and reads >= 0.25 of bare node:http) are
 * met; it does not assert them. Exits 1 only when something broke (requests failed).
 */
import autocannon from "autocannon"
import { performance } from "node:perf_hooks"
import pg from "pg"
import {
  BUSY_MACHINE_CPU,
  cleanup,
  type Figures,
  figures,
  fmtCpu,
  fmtFigures,
  fmtMs,
  fmtRate,
  HOST,
  log,
  measuringCpu,
  onCleanup,
  prepareDatabase,
  printReport,
  runBenchmark,
  startBareServer,
  startVigil,
  withTimeout,
  type Child
} from "./support.ts"

const settings = {
  services: 1_000,
  registerConcurrency: 20,
  healthCalls: 200,
  warmupSeconds: 2,
  measureSeconds: 10,
  httpConnections: 50,
  heartbeatRate: 2_000,
  heartbeatConnections: 20,
  requestTimeoutMs: 5_000,
  maxRequestsPerRun: 2_000_000,
  readyTimeoutMs: 60_000,
  bareStartTimeoutMs: 20_000,
  stopTimeoutMs: 20_000,
  phaseTimeoutMs: 60_000,
  budgetMs: 240_000
} as const

const target = 0.25

const serviceId = (n: number) => `bench_model_${String(n).padStart(4, "0")}`

const metadata = (n: number, healthBase: string) => ({
  service_id: serviceId(n),
  service_name: `Benchmark Model ${n}`,
  version: "1.0.0",
  description: "A model registered by bench/ml-registry.ts",
  base_url: healthBase,
  port: Number(new URL(healthBase).port),
  endpoints: { predict: "/api/v1/predict", health: `/health/${n}`, model_info: "/api/v1/model/info" },
  input_schema: { type: "object", properties: { age: { type: "integer" }, systolic: { type: "integer" } } },
  output_schema: { type: "object", properties: { risk: { type: "number" } } },
  tags: ["benchmark", n % 2 === 0 ? "cardiology" : "oncology", "classification"],
  capabilities: { batch: false }
})

// ---------------------------------------------------------------------------------------------
// Set-up

const register = async (registryUrl: string, healthBase: string) => {
  let next = 0
  const worker = async () => {
    while (next < settings.services) {
      const n = next++
      const response = await fetch(`${registryUrl}/api/v1/services/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(metadata(n, healthBase)),
        signal: AbortSignal.timeout(settings.requestTimeoutMs)
      })
      if (response.status !== 201) throw new Error(`registering ${serviceId(n)} answered ${response.status}: ${await response.text()}`)
    }
  }
  await Promise.all(Array.from({ length: settings.registerConcurrency }, worker))
}

const getText = async (url: string): Promise<string> => {
  const response = await fetch(url, { signal: AbortSignal.timeout(settings.phaseTimeoutMs) })
  const body = await response.text()
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${body}`)
  return body
}

// ---------------------------------------------------------------------------------------------
// Load

interface LoadResult {
  readonly perSecond: number
  readonly p99Ms: number
  readonly completed: number
  readonly non2xx: number
  readonly errors: number
  readonly serverCpu: number
  readonly loadCpu: number
  readonly otherCpu: number
}

type Load = { readonly kind: "read"; readonly id: string } | { readonly kind: "heartbeat"; readonly rate?: number }

const autocannonRun = (baseUrl: string, load: Load, seconds: number) => {
  let instance: autocannon.Instance | undefined
  let n = 0
  const options: autocannon.Options = load.kind === "read"
    ? { url: `${baseUrl}/api/v1/services/${load.id}`, connections: settings.httpConnections }
    : {
      url: baseUrl,
      connections: load.rate === undefined ? settings.httpConnections : settings.heartbeatConnections,
      ...(load.rate === undefined ? {} : { overallRate: load.rate }),
      requests: [{ method: "POST", setupRequest: (request) => ({ ...request, path: `/api/v1/services/${serviceId(n++ % settings.services)}/heartbeat` }) }]
    }
  const run = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      { ...options, pipelining: 1, duration: seconds, timeout: settings.requestTimeoutMs / 1000, maxOverallRequests: settings.maxRequestsPerRun },
      (error, result) => (error !== null && error !== undefined ? reject(error) : resolve(result))
    )
  })
  return withTimeout(`autocannon ${load.kind} ${baseUrl}`, (seconds + 15) * 1000, run, () => instance?.stop())
}

const toResult = (result: autocannon.Result) => ({
  perSecond: result.requests.average,
  p99Ms: result.latency.p99,
  completed: result.requests.total,
  non2xx: result.non2xx,
  errors: result.errors + result.timeouts
})

const measured = async (server: Child, work: () => Promise<autocannon.Result>): Promise<LoadResult> => {
  const { result, cpu } = await measuringCpu(server.pid, work)
  return { ...toResult(result), serverCpu: cpu.process, loadCpu: cpu.self, otherCpu: Math.max(0, cpu.machine - cpu.self - cpu.process) }
}

const runLoad = async (label: string, server: Child, baseUrl: string, load: Load): Promise<LoadResult> => {
  log(`${label}: ${load.kind} warm-up ${settings.warmupSeconds} s`)
  await autocannonRun(baseUrl, load, settings.warmupSeconds)
  log(`${label}: ${load.kind} measuring ${settings.measureSeconds} s`)
  return measured(server, () => autocannonRun(baseUrl, load, settings.measureSeconds))
}

/** Reads at full speed while heartbeats go at `settings.heartbeatRate` per second beside them. */
const runReadsBesideHeartbeats = async (label: string, server: Child, baseUrl: string, id: string) => {
  log(`${label}: reads beside ${settings.heartbeatRate} heartbeats/s, ${settings.measureSeconds} s`)
  let beats: autocannon.Result | undefined
  const reads = await measured(server, async () => {
    const [read, beat] = await Promise.all([
      autocannonRun(baseUrl, { kind: "read", id }, settings.measureSeconds),
      autocannonRun(baseUrl, { kind: "heartbeat", rate: settings.heartbeatRate }, settings.measureSeconds)
    ])
    beats = beat
    return read
  })
  return { reads, heartbeats: toResult(beats!) }
}

/** Rows of `ml_services` PostgreSQL has counted as updated so far (its statistics lag by up to a second or so). */
const updatedRows = async (db: pg.Client) => {
  await new Promise((resolve) => setTimeout(resolve, 1_500))
  const { rows } = await db.query<{ n: string }>("SELECT n_tup_upd::text AS n FROM pg_stat_user_tables WHERE relname = 'ml_services'")
  return Number(rows[0]?.n ?? Number.NaN)
}

/** `calls` calls of `GET /api/v1/health/all`, one after another: their latencies. */
const healthLatencies = async (registryUrl: string, calls: number): Promise<{ readonly latency: Figures; readonly entries: number; readonly healthy: number }> => {
  const latencies: Array<number> = []
  let entries = 0
  let healthy = 0
  const deadline = performance.now() + settings.phaseTimeoutMs
  for (let i = 0; i < calls && performance.now() < deadline; i++) {
    const started = performance.now()
    const body = JSON.parse(await getText(`${registryUrl}/api/v1/health/all`)) as Record<string, { status: string }>
    latencies.push(performance.now() - started)
    entries = Object.keys(body).length
    healthy = Object.values(body).filter((e) => e.status === "healthy").length
  }
  return { latency: figures(latencies), entries, healthy }
}

// ---------------------------------------------------------------------------------------------
// Report

const cpu = (run: LoadResult) => `${fmtCpu(run.serverCpu)} / ${fmtCpu(run.loadCpu)} / ${fmtCpu(run.otherCpu)}`

const problems = (runs: ReadonlyArray<readonly [string, Omit<LoadResult, "serverCpu" | "loadCpu" | "otherCpu">]>) =>
  runs.flatMap(([name, run]) => [
    ...(run.non2xx > 0 ? [`${name}: ${run.non2xx} non-2xx responses`] : []),
    ...(run.errors > 0 ? [`${name}: ${run.errors} failed requests`] : []),
    ...(run.completed === 0 ? [`${name}: nothing completed`] : [])
  ])

// ---------------------------------------------------------------------------------------------
// Main

const main = async (): Promise<boolean> => {
  const database = await prepareDatabase()
  log(`database: ${database.description}`)
  const timeouts = { startTimeoutMs: settings.bareStartTimeoutMs, stopTimeoutMs: settings.stopTimeoutMs }
  const health = await startBareServer("ml-health", "-", timeouts)
  const healthBase = `http://${HOST}:${health.port}`

  const vigil = await startVigil({
    database,
    env: { SEED_DEMO_DATA: "false", SERVICE_TIMEOUT_SECONDS: "60", ML_REGISTRY_PROBE_INTERVAL: "1 hour" },
    describe: ({ port }) => `REST ${HOST}:${port}, registry on its own port`,
    readyTimeoutMs: settings.readyTimeoutMs,
    stopTimeoutMs: settings.stopTimeoutMs
  })
  const db = new pg.Client({ connectionString: database.url, connectionTimeoutMillis: 5_000, query_timeout: 20_000 })
  await db.connect()
  onCleanup("close database connection", () => db.end())

  log(`registering ${settings.services} services`)
  const registerStarted = performance.now()
  await withTimeout("registration", settings.phaseTimeoutMs, register(vigil.mlRegistryUrl, healthBase))
  const registerSeconds = (performance.now() - registerStarted) / 1000

  log("probing every service (?refresh=true)")
  const refreshStarted = performance.now()
  const refreshed = JSON.parse(await getText(`${vigil.mlRegistryUrl}/api/v1/health/all?refresh=true`)) as Record<string, { status: string }>
  const refreshMs = performance.now() - refreshStarted
  const refreshedHealthy = Object.values(refreshed).filter((e) => e.status === "healthy").length
  log(`health/all: ${settings.healthCalls} calls`)
  const healthAll = await healthLatencies(vigil.mlRegistryUrl, settings.healthCalls)

  const readId = serviceId(0)
  const fixture = await getText(`${vigil.mlRegistryUrl}/api/v1/services/${readId}`)
  const readVigil = await runLoad("Vigil", vigil.child, vigil.mlRegistryUrl, { kind: "read", id: readId })
  const updatesBefore = await updatedRows(db)
  const beatVigil = await runLoad("Vigil", vigil.child, vigil.mlRegistryUrl, { kind: "heartbeat" })
  const updatesDuring = (await updatedRows(db)) - updatesBefore
  const besideVigil = await runReadsBesideHeartbeats("Vigil", vigil.child, vigil.mlRegistryUrl, readId)
  await vigil.child.stop()
  await health.child.stop()

  const bare = await startBareServer("ml-registry", fixture, timeouts)
  const bareUrl = `http://${HOST}:${bare.port}`
  if ((await getText(`${bareUrl}/api/v1/services/${readId}`)) !== fixture) throw new Error("the bare server's body differs from Vigil's")
  const readBare = await runLoad("bare node:http", bare.child, bareUrl, { kind: "read", id: readId })
  const beatBare = await runLoad("bare node:http", bare.child, bareUrl, { kind: "heartbeat" })
  await bare.child.stop()
  await cleanup()

  const ratio = (vigilRun: LoadResult, bareRun: LoadResult) => vigilRun.perSecond / bareRun.perSecond
  const verdict = (r: number) => `ratio ${r.toFixed(2)} (target >= ${target}: ${r >= target ? "met" : "NOT met"})`
  const beatsWritten = updatesDuring / beatVigil.completed
  const issues = [
    ...problems([
      ["read Vigil", readVigil],
      ["heartbeat Vigil", beatVigil],
      ["read beside heartbeats", besideVigil.reads],
      ["heartbeats beside reads", besideVigil.heartbeats],
      ["read bare", readBare],
      ["heartbeat bare", beatBare]
    ]),
    ...(refreshedHealthy !== settings.services ? [`?refresh=true: ${refreshedHealthy} of ${settings.services} healthy`] : []),
    ...(healthAll.entries !== settings.services ? [`health/all answered ${healthAll.entries} entries, not ${settings.services}`] : [])
  ]
  const noisy = [
    ["read Vigil", readVigil],
    ["heartbeat Vigil", beatVigil],
    ["read bare", readBare],
    ["heartbeat bare", beatBare]
  ] as const
  printReport({
    benchmark: "ml-registry",
    database: database.description,
    lines: [
      `method: each server alone in its own child process; load from this process to 127.0.0.1; autocannon ${settings.httpConnections} connections, pipelining 1; warm-up ${settings.warmupSeconds} s (not counted), then ${settings.measureSeconds} s measured`,
      `set-up: ${settings.services} services registered in ${registerSeconds.toFixed(1)} s (${settings.registerConcurrency} at a time); lease 60 s, a beat written at most once per 20 s`,
      "",
      `POST /api/v1/services/{id}/heartbeat: bare node:http ${fmtRate(beatBare.perSecond)} req/s p99 ${fmtMs(beatBare.p99Ms)} ms | Vigil ${fmtRate(beatVigil.perSecond)} req/s p99 ${fmtMs(beatVigil.p99Ms)} ms | ${verdict(ratio(beatVigil, beatBare))}`,
      `  ml_services row updates during the measured heartbeat run: ${updatesDuring} for ${beatVigil.completed} heartbeats (${beatsWritten.toFixed(4)} per heartbeat; at most one per service per 20 s)`,
      `GET /api/v1/services/{id}:           bare node:http ${fmtRate(readBare.perSecond)} req/s p99 ${fmtMs(readBare.p99Ms)} ms | Vigil ${fmtRate(readVigil.perSecond)} req/s p99 ${fmtMs(readVigil.p99Ms)} ms | ${verdict(ratio(readVigil, readBare))}`,
      `GET beside ${settings.heartbeatRate} heartbeats/s (Vigil): ${fmtRate(besideVigil.reads.perSecond)} req/s p99 ${fmtMs(besideVigil.reads.p99Ms)} ms (alone: ${fmtRate(readVigil.perSecond)} req/s p99 ${fmtMs(readVigil.p99Ms)} ms); heartbeats sent ${fmtRate(besideVigil.heartbeats.perSecond)}/s p99 ${fmtMs(besideVigil.heartbeats.p99Ms)} ms; server CPU ${fmtCpu(besideVigil.reads.serverCpu)}`,
      `GET /api/v1/health/all with ${settings.services} services, ${settings.healthCalls} calls one after another: ${fmtFigures(healthAll.latency)} (${healthAll.healthy} healthy)`,
      `GET /api/v1/health/all?refresh=true (probes all ${settings.services} now): ${fmtMs(refreshMs)} ms, ${refreshedHealthy} healthy`,
      `CPU during measured runs (1.00 = one core), server / load generator / rest of machine: heartbeat bare ${cpu(beatBare)}, Vigil ${cpu(beatVigil)}; read bare ${cpu(readBare)}, Vigil ${cpu(readVigil)}`,
      issues.length === 0 ? "all requests succeeded" : `PROBLEMS (figures not trustworthy): ${issues.join("; ")}`,
      ...noisy.flatMap(([name, run]) => [
        ...(run.otherCpu > BUSY_MACHINE_CPU && !name.includes("Vigil")
          ? [`note: ${name}: other processes used ${fmtCpu(run.otherCpu)} of a core; on a busy machine the figures are noisy`]
          : []),
        ...(run.loadCpu > 0.9 ? [`note: ${name}: the load generator used ${fmtCpu(run.loadCpu)} of a core; the figure may be the generator's limit`] : [])
      ])
    ],
    figures: {
      services: settings.services,
      heartbeat: { bare: beatBare, vigil: beatVigil, ratio: ratio(beatVigil, beatBare), target, rowUpdates: updatesDuring },
      read: { bare: readBare, vigil: readVigil, ratio: ratio(readVigil, readBare), target },
      readBesideHeartbeats: besideVigil,
      healthAll: { ...healthAll.latency, refreshMs },
      problems: issues
    }
  })
  return issues.length === 0
}

runBenchmark(main, settings.budgetMs)
