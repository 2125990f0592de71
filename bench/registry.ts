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
 * - Then Vigil again on the same database with VIGIL_AUTH=required: the superadmin makes a
 *   doctor, whose bearer token every request carries, and each answer is a read the access
 *   audit records. Compared with the same route with authentication off (the first run).
 *
 * - Then the metrics' cost (issue 17): two processes of the same build on the same database, with
 *   metrics (the default; tracing off) and with VIGIL_METRICS=false, loaded in turns (ABBA), six
 *   rounds of 5 s each side, so that the machine's drift falls on both alike; the verdict is the
 *   median of the rounds' ratios.
 *
 * - Writes (issue 15): `POST /patients` and `PATCH /devices/{id}` from 256 clients against a bare
 *   write transaction of the same rows from 256 clients (bench/writes.ts), on the same database.
 *
 * Prints figures and whether the targets (REST >= 0.25 of bare, gRPC >= 0.5 of bare, guarded
 * REST >= 0.6 of unguarded, with metrics >= 0.9 of without) are met; it does not assert them. Exits 1 only when something broke (a phase failed, or requests failed).
 */
import * as grpc from "@grpc/grpc-js"
import autocannon from "autocannon"
import { performance } from "node:perf_hooks"
import { bareWrites, type BareWrites, makeDevices, vigilCreates, vigilUpdates, WRITE_CLIENTS, type WriteResult } from "./writes.ts"
import { loadRegistry, type GetPatientRequest, type GetPatientResponse, type RegistryClient } from "./registryProto.ts"
import { BUSY_MACHINE_CPU, cleanup, fmtCpu, fmtMs, fmtRate, HOST, log, measuringCpu, percentile, prepareDatabase, printReport, runBenchmark, sleep, startBareServer, startVigil, withTimeout, type Child } from "./support.ts"

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
  budgetMs: 420_000
} as const

/** The metrics' comparison: rounds in turns, each this long per side. */
const METRICS_ROUNDS = 6
const METRICS_ROUND_SECONDS = 5

const targets = { rest: 0.25, grpc: 0.5, guarded: 0.6, writes: 0.25, metrics: 0.9 } as const
const SUPERADMIN = { email: "bench-root@vigil.example.org", password: "bench superadmin secret" }

// ---------------------------------------------------------------------------------------------
// Servers under test

interface RunningServer {
  readonly child: Child
  readonly httpUrl?: string
  readonly grpcAddress?: string
}

/** Starts bench/bareServers.ts answering `fixture`; resolves once it is listening. */
const startBare = async (kind: "http" | "grpc", fixture: string): Promise<RunningServer> => {
  const { child, port } = await startBareServer(kind, fixture, { startTimeoutMs: settings.bareStartTimeoutMs, stopTimeoutMs: settings.stopTimeoutMs })
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

/** The superadmin logs in, makes a doctor, who logs in: the tokens of both. */
const doctorLogin = async (httpUrl: string) => {
  const post = async (path: string, body: unknown, token?: string) => {
    const response = await fetch(`${httpUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000)
    })
    const json = await response.json() as any
    if (!response.ok) throw new Error(`POST ${path} answered ${response.status}: ${JSON.stringify(json)}`)
    return json
  }
  const admin = (await post("/api/v1/auth/login", SUPERADMIN)).access_token as string
  const email = `bench-doctor-${Date.now()}@vigil.example.org`
  await post("/api/v1/users", { email, full_name: "Bench Doctor", role: "doctor", password: "bench doctor secret" }, admin)
  const doctor = (await post("/api/v1/auth/login", { email, password: "bench doctor secret" })).access_token as string
  return { admin, doctor }
}

/** How many reads of the benchmark's patient the audit trail holds (a row counts alike reads in one flush). */
const auditedReads = async (httpUrl: string, token: string): Promise<{ rows: number; reads: number }> => {
  let rows = 0
  let reads = 0
  let cursor: string | null = null
  for (let page = 0; page < 10_000; page++) {
    const query: string = `entity_id=${PATIENT_ID}&action=read&limit=1000${cursor === null ? "" : `&cursor=${cursor}`}`
    const response = await fetch(`${httpUrl}/api/v1/audit?${query}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) })
    const body = await response.json() as { items: Array<{ after: { reads?: number } }>; next_cursor: string | null }
    rows += body.items.length
    for (const item of body.items) reads += item.after.reads ?? 1
    cursor = body.next_cursor
    if (cursor === null) break
  }
  return { rows, reads }
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

/**
 * Runs `work` and reports the CPU share (1 = one core) this process, the server, and everything
 * else on the machine used meanwhile.
 */
const measuringLoadCpu = async <A>(serverPid: number | undefined, work: () => Promise<A>): Promise<A & CpuShare> => {
  const { result, cpu } = await measuringCpu(serverPid, work)
  return { ...result, loadCpu: cpu.self, serverCpu: cpu.process, otherCpu: Math.max(0, cpu.machine - cpu.self - cpu.process) }
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

const autocannonRun = (url: string, seconds: number, headers: Record<string, string> = {}) => {
  let instance: autocannon.Instance | undefined
  const run = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon({
      url,
      connections: settings.httpConnections,
      pipelining: 1,
      headers,
      duration: seconds,
      timeout: settings.requestTimeoutMs / 1000,
      maxOverallRequests: settings.maxRequestsPerRun
    }, (error, result) => (error !== null && error !== undefined ? reject(error) : resolve(result)))
  })
  return withTimeout(`autocannon ${url}`, (seconds + 15) * 1000, run, () => instance?.stop())
}

const runHttpLoad = async (
  label: string,
  server: Child,
  httpUrl: string,
  headers: Record<string, string> = {},
  seconds: number = settings.measureSeconds
): Promise<LoadResult> => {
  const url = `${httpUrl}/patients/${PATIENT_ID}`
  log(`${label}: REST warm-up ${settings.warmupSeconds} s`)
  await autocannonRun(url, settings.warmupSeconds, headers)
  log(`${label}: REST measuring ${seconds} s`)
  return measuringLoadCpu(server.pid, async () => {
    const result = await autocannonRun(url, seconds, headers)
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
      measuringLoadCpu(server.pid, () => grpcRun(clients, settings.measureSeconds))
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
  /** Vigil with VIGIL_AUTH=required, a doctor's token on every request, and the access audit on. */
  readonly restGuarded: LoadResult
  /**
   * The metrics' cost: two processes of the same build on the same database, one with metrics (the
   * default) and one with VIGIL_METRICS=false, loaded in turns (on, off, on, off, ...) so that drift
   * of the machine falls on both alike.
   */
  readonly metricsRounds: ReadonlyArray<{ readonly on: LoadResult; readonly off: LoadResult }>
  readonly writesVigil: { readonly creates: WriteResult & CpuShare; readonly updates: WriteResult & CpuShare }
  readonly writesBare: BareWrites<CpuShare>
  /** What the access audit wrote during the guarded run (warm-up included): rows, and the reads they count. */
  readonly auditedReads: { readonly rows: number; readonly reads: number }
  readonly grpcBare: LoadResult
  readonly grpcVigil: LoadResult
}

const cpu = (run: LoadResult) => `${fmtCpu(run.serverCpu)} / ${fmtCpu(run.loadCpu)} / ${fmtCpu(run.otherCpu)}`

/**
 * Throughput per core the server used: a fairer comparison when the load generator, not the
 * server, was the limit (the bare grpc-js server needs less CPU per call than a grpc-js client).
 */
const perCore = (run: LoadResult) => run.perSecond / run.serverCpu
const perCoreRatio = (bare: LoadResult, vigil: LoadResult) => perCore(vigil) / perCore(bare)
const fmtRatio = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "n/a")

const comparison = (bare: LoadResult, vigil: LoadResult, target: number) => {
  const ratio = vigil.perSecond / bare.perSecond
  return { ratio, target, met: ratio >= target }
}

const problems = (results: Results): Array<string> => {
  const runs = [
    ["REST bare node:http", results.restBare],
    ["REST Vigil", results.restVigil],
    ["REST Vigil guarded", results.restGuarded],
    ...results.metricsRounds.flatMap(({ off, on }, i) => [[`REST Vigil with metrics, round ${i + 1}`, on], [`REST Vigil without metrics, round ${i + 1}`, off]] as const),
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
    ["REST Vigil guarded", results.restGuarded, true],
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
  const guarded = comparison(results.restVigil, results.restGuarded, targets.guarded)
  // Rates, not counts: autocannon's rounds do not all last exactly as long.
  const total = (runs: ReadonlyArray<LoadResult>) => runs.reduce((sum, run) => sum + run.perSecond, 0)
  const roundRatios = results.metricsRounds.map(({ off, on }) => on.perSecond / off.perSecond)
  const metricsRatio = total(results.metricsRounds.map((r) => r.on)) / total(results.metricsRounds.map((r) => r.off))
  const sorted = [...roundRatios].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  const medianRatio = sorted.length === 0 ? NaN : sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
  // The verdict is the median of the rounds' ratios: single rounds on this machine moved by 30 % either way.
  const metered = { ratio: medianRatio, target: targets.metrics, met: medianRatio >= targets.metrics }
  const writeRatio = (vigil: WriteResult, bare: WriteResult) => ({ ratio: vigil.perSecond / bare.perSecond, met: vigil.perSecond / bare.perSecond >= targets.writes && vigil.errors === 0 })
  const creates = writeRatio(results.writesVigil.creates, results.writesBare.creates)
  const updates = writeRatio(results.writesVigil.updates, results.writesBare.updates)
  const fmtWrite = (w: WriteResult & CpuShare) =>
    `${fmtRate(w.perSecond)} /s p99 ${fmtMs(w.p99Ms)} ms, ${w.errors} errors, CPU server/generator/rest ${fmtCpu(w.serverCpu)}/${fmtCpu(w.loadCpu)}/${fmtCpu(w.otherCpu)}`
  const verdict = (c: ReturnType<typeof comparison>) => `ratio ${c.ratio.toFixed(2)} (target >= ${c.target}: ${c.met ? "met" : "NOT met"})`
  const { restBare, restGuarded, restVigil, grpcBare, grpcVigil } = results
  const issues = problems(results)
  printReport({
    benchmark: "registry",
    database: results.database,
    lines: [
      `method: each server alone in its own child process; load from this process to 127.0.0.1; warm-up ${settings.warmupSeconds} s (not counted), then ${settings.measureSeconds} s measured`,
      `  REST: autocannon, ${settings.httpConnections} connections, pipelining 1; gRPC: ${settings.grpcClients} clients (own channels), ${settings.grpcInFlight} calls in flight`,
      "",
      `REST GET /patients/{id}: bare node:http ${fmtRate(restBare.perSecond)} req/s p99 ${fmtMs(restBare.p99Ms)} ms | Vigil ${fmtRate(restVigil.perSecond)} req/s p99 ${fmtMs(restVigil.p99Ms)} ms | ${verdict(rest)}`,
      `REST GET /patients/{id} guarded (VIGIL_AUTH=required, a doctor's bearer token, access audit on): ${fmtRate(restGuarded.perSecond)} req/s p99 ${fmtMs(restGuarded.p99Ms)} ms against auth off ${fmtRate(restVigil.perSecond)} req/s | ${verdict(guarded)}; access audit: ${results.auditedReads.reads} reads in ${results.auditedReads.rows} rows, for ${restGuarded.completed} answered in the measured run (plus its warm-up's)`,
      `REST GET /patients/{id} with metrics (the default; tracing off) against the same build with VIGIL_METRICS=false, ${results.metricsRounds.length} rounds in turns: ${results.metricsRounds.map(({ off, on }) => `${fmtRate(on.perSecond)}/${fmtRate(off.perSecond)}`).join(", ")} req/s | median of the rounds' ratios ${verdict(metered)}; per round ${roundRatios.map(fmtRatio).join(", ")}; mean rates ${fmtRatio(metricsRatio)}`,
      `writes from ${WRITE_CLIENTS} clients: POST /patients Vigil ${fmtWrite(results.writesVigil.creates)} | bare write transaction ${fmtWrite(results.writesBare.creates)} | ratio ${creates.ratio.toFixed(2)} (target >= ${targets.writes}, 0 errors: ${creates.met ? "met" : "NOT met"})`,
      `                          PATCH /devices/{id} Vigil ${fmtWrite(results.writesVigil.updates)} | bare write transaction ${fmtWrite(results.writesBare.updates)} | ratio ${updates.ratio.toFixed(2)} (target >= ${targets.writes}, 0 errors: ${updates.met ? "met" : "NOT met"})`,
      `gRPC GetPatient:         bare grpc-js   ${fmtRate(grpcBare.perSecond)} calls/s p99 ${fmtMs(grpcBare.p99Ms)} ms | Vigil ${fmtRate(grpcVigil.perSecond)} calls/s p99 ${fmtMs(grpcVigil.p99Ms)} ms | ${verdict(grpcRatio)}`,
      `per core of server CPU: REST bare ${fmtRate(perCore(restBare))} req/s, Vigil ${fmtRate(perCore(restVigil))} req/s, ratio ${fmtRatio(perCoreRatio(restBare, restVigil))}; gRPC bare ${fmtRate(perCore(grpcBare))} calls/s, Vigil ${fmtRate(perCore(grpcVigil))} calls/s, ratio ${fmtRatio(perCoreRatio(grpcBare, grpcVigil))}`,
      `CPU during measured runs (1.00 = one core), server / load generator / rest of machine: REST bare ${cpu(restBare)}, Vigil ${cpu(restVigil)}, Vigil guarded ${cpu(restGuarded)}; gRPC bare ${cpu(grpcBare)}, Vigil ${cpu(grpcVigil)}`,
      `REST non-2xx: bare ${restBare.non2xx}, Vigil ${restVigil.non2xx}; REST errors/timeouts: bare ${restBare.errors}, Vigil ${restVigil.errors}; gRPC failed calls: bare ${grpcBare.errors}, Vigil ${grpcVigil.errors}`,
      issues.length === 0 ? "all requests and calls succeeded" : `PROBLEMS (figures not trustworthy): ${issues.join("; ")}`,
      ...interference(results)
    ],
    figures: {
      rest: { bare: restBare, vigil: restVigil, ratio: rest.ratio, target: rest.target, met: rest.met, perCoreRatio: perCoreRatio(restBare, restVigil) },
      writes: { vigil: results.writesVigil, bare: results.writesBare, createsRatio: creates.ratio, updatesRatio: updates.ratio, target: targets.writes },
      guarded: { off: restVigil, required: restGuarded, ratio: guarded.ratio, target: guarded.target, met: guarded.met, auditedReads: results.auditedReads },
      metrics: { rounds: results.metricsRounds, ratio: metered.ratio, totalRatio: metricsRatio, roundRatios, target: metered.target, met: metered.met },
      grpc: { bare: grpcBare, vigil: grpcVigil, ratio: grpcRatio.ratio, target: grpcRatio.target, met: grpcRatio.met, perCoreRatio: perCoreRatio(grpcBare, grpcVigil) },
      problems: issues
    }
  })
  return issues.length === 0
}

// ---------------------------------------------------------------------------------------------
// Main

const main = async (): Promise<boolean> => {
  const database = await prepareDatabase()
  log(`database: ${database.description}`)

  // Authentication off (asked for explicitly: the database is connected) for the comparison with
  // the bare servers; then on, below, for the comparison with itself.
  const vigil = await startVigil({
    database,
    env: { SEED_DEMO_DATA: "true", VIGIL_AUTH: "off" },
    describe: ({ port, grpcPort }) => `REST ${HOST}:${port}, gRPC ${HOST}:${grpcPort}`,
    readyTimeoutMs: settings.readyTimeoutMs,
    stopTimeoutMs: settings.stopTimeoutMs
  })
  const restFixture = await fetchRestFixture(vigil.httpUrl)
  const grpcFixture = await withTimeout("GetPatient fixture", 10_000, fetchGrpcFixture(vigil.grpcAddress))
  const restVigil = await runHttpLoad("Vigil", vigil.child, vigil.httpUrl)
  const grpcVigil = await runGrpcLoad("Vigil", vigil.child, vigil.grpcAddress)
  const creates = await measuringLoadCpu(vigil.child.pid, () => vigilCreates(vigil.httpUrl, settings.measureSeconds))
  const devices = await makeDevices(vigil.httpUrl, WRITE_CLIENTS)
  const updates = await measuringLoadCpu(vigil.child.pid, () => vigilUpdates(vigil.httpUrl, devices, settings.measureSeconds))
  const writesVigil = { creates, updates }
  await vigil.child.stop()
  // The bare transaction runs in this process: its CPU is the "load generator" column.
  const writesBare = await withTimeout(
    "bare writes",
    (settings.measureSeconds * 2 + 30) * 1000,
    bareWrites(database.url, settings.measureSeconds, WRITE_CLIENTS, (work) => measuringLoadCpu(undefined, work))
  )

  const guardedVigil = await startVigil({
    database,
    env: { SEED_DEMO_DATA: "false", VIGIL_AUTH: "required", SUPERADMIN_EMAIL: SUPERADMIN.email, SUPERADMIN_PASSWORD: SUPERADMIN.password },
    describe: ({ port }) => `REST ${HOST}:${port}, authentication required`,
    readyTimeoutMs: settings.readyTimeoutMs,
    stopTimeoutMs: settings.stopTimeoutMs
  })
  const doctorToken = await withTimeout("doctor's token", 20_000, doctorLogin(guardedVigil.httpUrl))
  const before = await auditedReads(guardedVigil.httpUrl, doctorToken.admin)
  const restGuarded = await runHttpLoad("Vigil guarded", guardedVigil.child, guardedVigil.httpUrl, { authorization: `Bearer ${doctorToken.doctor}` })
  // The audit's writer flushes every 200 ms; give it a second to catch up.
  await sleep(1_000)
  const after = await auditedReads(guardedVigil.httpUrl, doctorToken.admin)
  const audited = { rows: after.rows - before.rows, reads: after.reads - before.reads }
  await guardedVigil.child.stop()

  const startWith = (metrics: boolean) =>
    startVigil({
      database,
      env: { SEED_DEMO_DATA: "false", VIGIL_AUTH: "off", VIGIL_METRICS: String(metrics) },
      describe: ({ port }) => `REST ${HOST}:${port}, VIGIL_METRICS=${metrics}`,
      readyTimeoutMs: settings.readyTimeoutMs,
      stopTimeoutMs: settings.stopTimeoutMs
    })
  const metered = await startWith(true)
  const unmetered = await startWith(false)
  const metricsRounds: Array<{ on: LoadResult; off: LoadResult }> = []
  // ABBA order (on, off, off, on, ...): a drift of the machine within a round pair falls on both sides.
  for (let round = 0; round < METRICS_ROUNDS; round++) {
    const runOn = () => runHttpLoad(`Vigil with metrics, round ${round + 1}`, metered.child, metered.httpUrl, {}, METRICS_ROUND_SECONDS)
    const runOff = () => runHttpLoad(`Vigil without metrics, round ${round + 1}`, unmetered.child, unmetered.httpUrl, {}, METRICS_ROUND_SECONDS)
    if (round % 2 === 0) {
      const on = await runOn()
      metricsRounds.push({ on, off: await runOff() })
    } else {
      const off = await runOff()
      metricsRounds.push({ on: await runOn(), off })
    }
  }
  await metered.child.stop()
  await unmetered.child.stop()

  const bareHttp = await startBare("http", restFixture.body)
  await withTimeout("bare HTTP check", 10_000, checkBareHttp(bareHttp.httpUrl!, restFixture))
  const restBare = await runHttpLoad("bare node:http", bareHttp.child, bareHttp.httpUrl!)
  await bareHttp.child.stop()

  const bareGrpc = await startBare("grpc", JSON.stringify(grpcFixture))
  await withTimeout("bare gRPC check", 10_000, checkBareGrpc(bareGrpc.grpcAddress!, grpcFixture))
  const grpcBare = await runGrpcLoad("bare grpc-js", bareGrpc.child, bareGrpc.grpcAddress!)
  await bareGrpc.child.stop()

  await cleanup()
  return report({ database: database.description, restBare, restVigil, restGuarded, metricsRounds, auditedReads: audited, writesVigil, writesBare, grpcBare, grpcVigil })
}

runBenchmark(main, settings.budgetMs)
