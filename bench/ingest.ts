/**
 * Ingest benchmark: vital-sign readings into Vigil over NATS and over `POST /store-vitals`, and
 * the delay from a breaching reading to its `alert.raised` event under a steady load, each against
 * a baseline measured in the same run that pays the same infrastructure (issue 15): NATS ingest
 * against a bare JetStream pipeline, `/store-vitals` against a raw `COPY`, the alert path against
 * a bare alert path.
 *
 * Method
 * - Vigil (`node --import tsx src/main.ts`) runs in its own child process (and process group)
 *   with NATS at NATS_URL, its own subject and stream prefixes (so its streams are new and its
 *   alone), no demo data, and a fresh database: a new `vigil_bench_<random>` database on the
 *   DATABASE_URL server when that is set (dropped at the end), otherwise an embedded PostgreSQL in
 *   a fresh temporary directory (removed at the end).
 * - Readings are in range for the default threshold profile (heart rate 60-95, SpO2 95-99,
 *   temperature 36.5-37.3), so that alerting does not dominate, spread round-robin over 200
 *   patients (each with one device).
 * - Raw baseline (this process, no Vigil code): one `COPY vital_signs (...) FROM STDIN` (text
 *   format, through `pg-copy-streams`) of all the readings, on one connection, into the very table
 *   Vigil uses, for 200 patients and devices of its own made in SQL (which no monitor ever sees).
 *   A warm-up COPY is not counted.
 * - Bare pipeline and bare alert path (bench/barePipeline.ts, a child process of its own so its
 *   CPU is counted apart): a minimal `@nats-io/jetstream` consumer on a work-queue stream of its
 *   own (`<stream prefix>_BARE`, configured as Vigil's ingest stream), with Vigil's batch size,
 *   one INSERT per batch into `bare_vital_signs` (`LIKE vital_signs`), then the acks; in its
 *   alert mode also, per breaching reading, one committed row and one core NATS event. Each runs
 *   just before Vigil's run of the same kind, with the same readings, devices and load.
 * - NATS ingest while publishing: patients and devices made through `POST /patients` and
 *   `POST /devices`; a warm-up reading per device (which also activates every device actor and
 *   patient monitor); then N readings published with `js.publish` to
 *   `<prefix>.ingest.vitals.<deviceId>`, at most 1,000 acknowledgements outstanding. Measured from
 *   the first publish until every publish is acknowledged and the ingest stream is empty (a work
 *   queue keeps a message until Vigil acknowledges it, after its commit; polled every 50 ms from
 *   nats-server, then the stored rows counted once). If that takes more than 45 s, the rate is
 *   what was stored by then, and the readings still queued are purged from the ingest stream (so
 *   that they do not load the next phases). The publisher and nats-server share the machine's
 *   cores with Vigil here.
 * - NATS ingest of a backlog: Vigil is stopped (SIGTERM), N readings are published while no
 *   consumer runs, and Vigil is started again; measured from the first reading's commit (its
 *   `created_at`, the database's clock, same machine) until the ingest stream is empty: Vigil's
 *   ingest rate without the load generator on its cores. The new process's first seconds (a cold
 *   JIT, every actor activating) are inside the measurement. The later phases run on this process.
 * - `POST /store-vitals`: seed 002's body, batches of 1,000 records, 4 requests in flight, over
 *   200 trial subjects made by a warm-up batch (not counted); measured from the first request to
 *   the last response (each answers once its batch is committed and evaluated).
 * - Alert latency: 1,000 readings/s offered over NATS (open loop, 1,000 acknowledgements
 *   outstanding at most) for 10 s; every 50th reading is a probe: heart_rate 140 (critical) on
 *   one of 120 probe patients whose previous reading was in range and whose last alert has
 *   resolved, so that it raises a new alert. A probe patient's alert is resolved by 3 in-range
 *   readings (ALERT_CLEAR_AFTER's default) sent once its alert.raised event has arrived; it is
 *   ready again once its alert.resolved event has arrived. A core NATS subscription on
 *   `<prefix>.events.alert.>` matches each alert.raised to its probe by patient_id. Delay =
 *   receive time - the time js.publish was called. Also shown: the split at the event's `time`
 *   (the clock_timestamp() of the audit row in the monitor's transaction; same machine, same
 *   clock). A probe without its event within 5 s counts as missing. Every outbox row of the
 *   earlier phases is published before this phase starts. Before it, a reference run at 250
 *   readings/s for 8 s (40 probe patients of its own) shows the delay without a queue of
 *   readings in front. Each probe's delay is split at the database's own clock: publish -> its
 *   reading's transaction began (`vital_signs.created_at`), -> the alert's transaction began
 *   (`alerts.created_at`), -> the alert's audit row (the event's `time`), -> received. Vigil's
 *   resident memory is sampled every 200 ms during each run.
 * - Evidence of where the time goes: PostgreSQL transactions committed in Vigil's database per
 *   1,000 readings (pg_stat_database, this script's own queries left out; the statistics lag by
 *   up to a second), and, after each phase, Vigil's readiness, its ingest consumer's state and
 *   its database connections (printed when something failed).
 * - Order: baseline, NATS ingest while publishing, NATS ingest of a backlog, store-vitals, alert
 *   reference run, alert latency; BENCH_PHASES (comma-separated: nats, drain, store, reference,
 *   alerts) runs a subset after the baseline. BENCH_VIGIL_NODE_ARGS passes node flags to Vigil's
 *   process (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`). CPU shares (Linux /proc) are
 *   recorded for each measured run: Vigil's process, this process, nats-server, PostgreSQL's
 *   processes, and the rest of the machine (interference: the figures are then noisy).
 * - Load only targets 127.0.0.1 (NATS_URL and DATABASE_URL must be loopback). Every loop is
 *   bounded in count and time, every phase has a time limit, and the whole script has a budget;
 *   Vigil is stopped, the run's streams deleted and the database dropped at the end and on any
 *   failure.
 *
 * Prints the figures and whether issue 15's targets are met (NATS ingest >= 0.5 of the bare
 * pipeline, while publishing and draining; store-vitals >= 0.3 of COPY; alert p99 <= 3x the bare
 * alert path's at 250/s and 1,000/s; Vigil's CPU per reading at 250/s <= 3x the bare pipeline's;
 * resident memory < 300 MB at 1,000/s); it does not assert them. Exits 1 only when something broke (a phase
 * failed or ran out of time, a publish or request failed, a count did not add up).
 */
import { type JetStreamClient, RetentionPolicy } from "@nats-io/jetstream"
import type { Msg } from "@nats-io/nats-core"
import { randomBytes, randomUUID } from "node:crypto"
import { cpus } from "node:os"
import { performance } from "node:perf_hooks"
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { from as copyFrom } from "pg-copy-streams"
import pg from "pg"
import { BUSY_MACHINE_CPU, type Child, type NatsBenchmark, childFailure, cleanup, onCleanup, residentMemoryMb, startChild, errorMessage, figures, fmtCpu, fmtCpuShare, fmtFigures, fmtMs, fmtRate, log, measuringAllCpu, NATS_URL, printReport, redactUrl, runBenchmark, sleep, startNatsBenchmark, wallNow, withTimeout, type CpuShare, type Figures, type Nats, type Vigil } from "./support.ts"

const settings = {
  /** Patients (one device each) the throughput runs spread their readings over. */
  patients: 200,
  /** Patients whose breaches the latency run measures (apart from the 200). */
  probePatients: 120,
  /** Patients and devices made through HTTP at once. */
  setupConcurrency: 8,
  /** Readings in each throughput run. */
  readings: 50_000,
  baselineWarmup: 5_000,
  baselineChunk: 5_000,
  /** Publishes awaiting their acknowledgement, at most. */
  natsWindow: 1_000,
  storeBatch: 1_000,
  /** Vigil's INGEST_BATCH_SIZE default, which the bare pipeline uses too. */
  ingestBatchSize: 2_000,
  storeConcurrency: 4,
  alertRate: 1_000,
  alertSeconds: 10,
  /**
   * A short reference run before it, at a rate well within what ingest sustains on a small
   * machine, with probe patients of its own: the delay without a queue of readings in front.
   */
  referenceRate: 250,
  referenceSeconds: 8,
  referenceProbePatients: 40,
  /** Every probeEvery-th reading of the latency run is a probe. */
  probeEvery: 50,
  /** Above the default profile's hr_critical_max (130): a critical alert at once (ALERT_SUSTAINED_READINGS 1). */
  breachHeartRate: 140,
  /** In-range readings that resolve an alert (ALERT_CLEAR_AFTER's default). */
  clearReadings: 3,
  probeTimeoutMs: 5_000,
  requestTimeoutMs: 30_000,
  publishTimeoutMs: 10_000,
  /** Count polling while waiting for readings to be stored. */
  pollMs: 50,
  /** Time limits of the phases that wait for Vigil. */
  natsPhaseMs: 45_000,
  storePhaseMs: 45_000,
  catchUpMs: 10_000,
  outboxDrainMs: 30_000,
  readyTimeoutMs: 60_000,
  stopTimeoutMs: 20_000,
  /** Whole script, setup to report; cleanup after it is bounded separately. */
  budgetMs: 480_000
} as const

/**
 * Issue 15's targets, each a ratio to a baseline of the same run: NATS ingest (while publishing
 * and draining a backlog) against the bare pipeline; store-vitals against COPY; the alert path's
 * p99 and Vigil's CPU per reading at 250/s against the bare alert path's; resident memory.
 */
const targets = { natsRatio: 0.5, storeRatio: 0.3, alertP99Times: 3, cpuPerReadingTimes: 3, rssMb: 300 } as const

// ---------------------------------------------------------------------------------------------
// Small utilities (the shared ones are in bench/support.ts)

const encoder = new TextEncoder()

/** An error's message with its causes ("fetch failed" says little without them). */
const describeError = (error: unknown): string =>
  error instanceof Error && error.cause !== undefined ? `${error.message} <- ${describeError(error.cause)}` : errorMessage(error)

/** A whole number in [from, to]. */
const between = (i: number, from: number, to: number) => from + (i % (to - from + 1))

// ---------------------------------------------------------------------------------------------
// NATS

interface Names {
  /** Vigil's NATS_SUBJECT_PREFIX and NATS_STREAM_PREFIX. */
  readonly subjectPrefix: string
  readonly streamPrefix: string
  readonly tag: string
}

const makeNames = (): Names => {
  const tag = randomBytes(4).toString("hex")
  return { subjectPrefix: `benching_${tag}`, streamPrefix: `BENCHING_${tag.toUpperCase()}`, tag }
}

/** Publishes with at most `size` acknowledgements outstanding (one producer). */
class Publisher {
  private outstanding = 0
  private waiter: (() => void) | undefined = undefined
  private idle: (() => void) | undefined = undefined
  failed = 0
  firstFailure: string | undefined = undefined
  /** How often a publish had to wait for the window. */
  waited = 0
  lastAckAt = Number.NaN

  constructor(private readonly js: JetStreamClient, private readonly size: number) {}

  /** Resolves once the message is handed to the client (not acknowledged). */
  async publish(subject: string, data: Uint8Array): Promise<void> {
    if (this.outstanding >= this.size) {
      this.waited++
      while (this.outstanding >= this.size) await new Promise<void>((resolve) => (this.waiter = resolve))
    }
    this.outstanding++
    this.js.publish(subject, data, { timeout: settings.publishTimeoutMs }).then(
      () => {
        this.lastAckAt = performance.now()
      },
      (error: unknown) => {
        this.failed++
        this.firstFailure ??= describeError(error)
      }
    ).finally(() => {
      this.outstanding--
      const waiter = this.waiter
      this.waiter = undefined
      waiter?.()
      if (this.outstanding === 0) {
        const idle = this.idle
        this.idle = undefined
        idle?.()
      }
    })
  }

  /** Resolves when no publish awaits its acknowledgement. */
  drained(): Promise<void> {
    return this.outstanding === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.idle = resolve))
  }
}

// ---------------------------------------------------------------------------------------------
// Vigil and its database

const postJson = async (httpUrl: string, path: string, body: unknown, expected: number, timeoutMs = 10_000) => {
  const response = await fetch(`${httpUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs)
  })
  const text = await response.text()
  if (response.status !== expected) throw new Error(`POST ${path} answered ${response.status}: ${text.slice(0, 300)}`)
  return JSON.parse(text) as Record<string, unknown>
}

interface Monitored {
  readonly patientId: string
  readonly deviceId: string
}

/** `count` patients with one device each, through `POST /patients` and `POST /devices`. */
const createMonitored = async (httpUrl: string, tag: string, label: string, count: number): Promise<Array<Monitored>> => {
  const made: Array<Monitored> = new Array(count)
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      const patient = await postJson(httpUrl, "/patients", { full_name: `Bench ${label} ${i}`, age: 20 + (i % 70), sex: i % 2 === 0 ? "F" : "M" }, 201)
      const device = await postJson(httpUrl, "/devices", { serial: `BENCH-${tag}-${label}-${i}`, firmware: "bench-1", patient_id: patient["id"] }, 201)
      made[i] = { patientId: String(patient["id"]), deviceId: String(device["id"]) }
    }
  }
  await Promise.all(Array.from({ length: settings.setupConcurrency }, worker))
  return made
}

/** Queries this script has sent to Vigil's database (each its own transaction), to leave out of the commit counts. */
let benchQueries = 0

const query = <R extends pg.QueryResultRow>(db: pg.Client, text: string, values?: Array<unknown>) => {
  benchQueries++
  return db.query<R>(text, values)
}

const maxSeq = async (db: pg.Client) =>
  Number((await query<{ seq: string }>(db, "SELECT coalesce(max(seq), 0) AS seq FROM vital_signs")).rows[0]!.seq)

/** Readings stored after `seq` (of one source). */
const countAfter = async (db: pg.Client, seq: number, source: "device" | "trial") =>
  (await query<{ n: number }>(db, "SELECT count(*)::int AS n FROM vital_signs WHERE seq > $1 AND source = $2", [seq, source])).rows[0]!.n

/** Transactions committed in Vigil's database so far (PostgreSQL's statistics: they lag by up to about a second). */
const commits = async (db: pg.Client) =>
  Number((await query<{ n: string }>(db, "SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()")).rows[0]!.n)

/** Runs `work` and answers how many transactions Vigil committed in its database meanwhile (this script's own queries left out). */
const countingCommits = async <A>(db: pg.Client, work: () => Promise<A>): Promise<{ readonly result: A; readonly commits: number }> => {
  const before = await commits(db)
  const ownBefore = benchQueries
  const result = await work()
  const ownQueries = benchQueries - ownBefore
  return { result, commits: (await commits(db)) - before - ownQueries }
}

const pendingOutbox = async (db: pg.Client) =>
  (await query<{ n: number }>(db, "SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL")).rows[0]!.n

/** Polls until `count()` reaches `target` or `timeoutMs` passes; answers the last count and when it reached the target. */
const waitForCount = async (count: () => Promise<number>, target: number, timeoutMs: number) => {
  const start = performance.now()
  for (;;) {
    const n = await count()
    if (n >= target) return { n, reachedAt: performance.now() }
    if (performance.now() - start > timeoutMs) return { n, reachedAt: undefined }
    await sleep(settings.pollMs)
  }
}

/** Waits (bounded) until the relay has published every outbox row; answers how long it took, undefined if it did not. */
const waitOutboxDrained = async (db: pg.Client, timeoutMs: number) => {
  const start = performance.now()
  const { reachedAt, n } = await waitForCount(async () => -(await pendingOutbox(db)), 0, timeoutMs)
  if (reachedAt === undefined) log(`outbox: ${-n} rows still unpublished after ${timeoutMs / 1000} s`)
  return { ms: reachedAt === undefined ? Number.NaN : reachedAt - start, pending: -n }
}

/** An in-range reading for the default profile, as a device sends it over NATS. */
const inRangeReading = (i: number) => ({
  reading_id: randomUUID(),
  measured_at: new Date().toISOString(),
  heart_rate: between(i, 60, 95),
  spo2: between(i, 95, 99),
  temperature: Math.round((36.5 + (i % 9) / 10) * 10) / 10
})

// ---------------------------------------------------------------------------------------------
// Phase: raw baseline (COPY)

interface BaselineResult extends CpuShare {
  readonly readings: number
  readonly perSecond: number
  readonly elapsedMs: number
}

const baselineRun = async (db: pg.Client, names: Names, vigilPid: number | undefined): Promise<BaselineResult> => {
  const { rows: patients } = await db.query<{ id: string }>(
    "INSERT INTO patients (full_name, age, sex) SELECT 'Bench Baseline ' || g, 50, 'F' FROM generate_series(1, $1::int) AS g RETURNING id",
    [settings.patients]
  )
  const { rows: devices } = await db.query<{ id: string; patient_id: string }>(
    `INSERT INTO devices (serial, firmware, patient_id)
     SELECT 'BENCH-' || $2::text || '-BASE-' || n, 'bench-1', id FROM unnest($1::uuid[]) WITH ORDINALITY AS p(id, n)
     RETURNING id, patient_id`,
    [patients.map((p) => p.id), names.tag]
  )
  const measuredAt = new Date().toISOString()
  /** The COPY text (tab-separated) of the rows `from` .. `from + size`, in pieces of `baselineChunk` rows (built before timing). */
  const copyText = (from: number, size: number) => {
    const pieces: Array<string> = []
    for (let start = from; start < from + size; start += settings.baselineChunk) {
      const lines: Array<string> = []
      for (let i = start; i < Math.min(start + settings.baselineChunk, from + size); i++) {
        const device = devices[i % devices.length]!
        const r = inRangeReading(i)
        lines.push(`${r.reading_id}\t${device.patient_id}\t${device.id}\tdevice\t${r.heart_rate}\t${r.spo2}\t${r.temperature}\t${measuredAt}\n`)
      }
      pieces.push(lines.join(""))
    }
    return pieces
  }
  const copy = (pieces: ReadonlyArray<string>) =>
    pipeline(
      Readable.from(pieces),
      db.query(copyFrom("COPY vital_signs (id, patient_id, device_id, source, heart_rate, spo2, temperature, measured_at) FROM STDIN"))
    )
  log(`baseline: warm-up COPY of ${settings.baselineWarmup} rows`)
  await copy(copyText(0, settings.baselineWarmup))
  const pieces = copyText(settings.baselineWarmup, settings.readings)
  const before = await maxSeq(db)
  log(`baseline: measuring one COPY of ${settings.readings} rows`)
  const { result: elapsedMs, cpu } = await measuringAllCpu(vigilPid, async () => {
    const start = performance.now()
    await copy(pieces)
    return performance.now() - start
  })
  const stored = await countAfter(db, before, "device")
  if (stored !== settings.readings) throw new Error(`baseline: ${stored} rows stored, ${settings.readings} expected`)
  return { readings: settings.readings, perSecond: settings.readings / (elapsedMs / 1000), elapsedMs, ...cpu }
}

// ---------------------------------------------------------------------------------------------
// Phase: warm-up of the monitored patients over NATS

const warmUp = async (db: pg.Client, nats: Nats, names: Names, httpUrl: string, all: ReadonlyArray<Monitored>) => {
  log(`warm-up: one in-range reading for each of ${all.length} devices over NATS`)
  const before = await maxSeq(db)
  const publisher = new Publisher(nats.js, settings.natsWindow)
  for (const [i, m] of all.entries()) {
    await publisher.publish(`${names.subjectPrefix}.ingest.vitals.${m.deviceId}`, encoder.encode(JSON.stringify(inRangeReading(i))))
  }
  await withTimeout("warm-up publish", 20_000, publisher.drained())
  if (publisher.failed > 0) throw new Error(`warm-up: ${publisher.failed} publishes failed; first: ${publisher.firstFailure}`)
  const stored = await waitForCount(() => countAfter(db, before, "device"), all.length, 20_000)
  if (stored.reachedAt === undefined) throw new Error(`warm-up: ${stored.n} of ${all.length} readings stored within 20 s`)
  // A monitor has evaluated its warm-up reading once its snapshot's evaluated_through passes `before`
  // (monitors write nothing for in-range readings, so the tables do not tell).
  const evaluatedNow = async () => {
    const answers = await Promise.all(all.map(async (m) => {
      const response = await fetch(`${httpUrl}/api/v1/patients/${m.patientId}/snapshot`).catch(() => undefined)
      if (response?.status !== 200) return false
      return ((await response.json()) as { evaluated_through: number }).evaluated_through > before
    }))
    return answers.filter(Boolean).length
  }
  const evaluated = await waitForCount(evaluatedNow, all.length, 20_000)
  if (evaluated.reachedAt === undefined) log(`warm-up: only ${evaluated.n} of ${all.length} monitors evaluated within 20 s`)
  await waitOutboxDrained(db, settings.outboxDrainMs)
}

// ---------------------------------------------------------------------------------------------
// Phase: NATS ingest throughput

interface ThroughputResult extends CpuShare {
  readonly readings: number
  /** Readings stored within the time limit. */
  readonly stored: number
  readonly finished: boolean
  readonly perSecond: number
  readonly elapsedMs: number
  readonly failed: number
  /** Transactions committed in Vigil's database per 1,000 readings stored (approximate: the statistics lag by up to about a second). */
  readonly commitsPer1000: number
}

interface NatsResult extends ThroughputResult {
  /** First publish to last acknowledgement: how fast JetStream took them. */
  readonly publishPerSecond: number
  /** Publishes that waited for the window. */
  readonly windowWaits: number
  /** After the last reading was stored: until every outbox row was published (NaN when not finished). */
  readonly outboxLagMs: number
  /** Readings still queued on the ingest stream at the time limit, purged so as not to load the next phases. */
  readonly purged: number
}

const ingestStreamName = (names: Names) => `${names.streamPrefix}_INGEST`

/** Empties Vigil's ingest stream; answers how many messages were removed. */
const purgeIngest = async (nats: Nats, names: Names) => (await nats.jsm.streams.purge(ingestStreamName(names))).purged

/**
 * Readings on Vigil's ingest stream not yet acknowledged, that is, not yet committed (a work
 * queue drops what its consumer acknowledges, and Vigil acknowledges after the commit). Asked of
 * nats-server: polling `count(*)` over the new rows instead cost PostgreSQL more CPU than the
 * inserts it was watching.
 */
const queuedOnIngest = async (nats: Nats, names: Names) => (await nats.jsm.streams.info(ingestStreamName(names))).state.messages

/** Waits (bounded) until the count of stored readings has not moved for a second: Vigil finished the batches in hand. */
const settle = async (count: () => Promise<number>, timeoutMs: number) => {
  const deadline = performance.now() + timeoutMs
  let last = await count()
  let stableSince = performance.now()
  while (performance.now() < deadline && performance.now() - stableSince < 1_000) {
    await sleep(100)
    const n = await count()
    if (n !== last) {
      last = n
      stableSince = performance.now()
    }
  }
  return last
}

/**
 * Publishes `messages` through `publisher` (stopping at the phase's time limit) and polls until
 * every publish is acknowledged and `queued()` (the consumer's work queue) is empty. Answers when
 * it started, when it was done (undefined at the limit), and `acknowledged`, which waits (bounded)
 * for the publishes still out.
 */
const publishUntilConsumed = async (publisher: Publisher, messages: ReadonlyArray<{ readonly subject: string; readonly data: Uint8Array }>, queued: () => Promise<number>, label: string) => {
  const start = performance.now()
  const deadline = start + settings.natsPhaseMs
  let allAcknowledged = false
  const publishing = (async () => {
    for (const m of messages) {
      if (performance.now() > deadline) break
      await publisher.publish(m.subject, m.data)
    }
    await publisher.drained()
    allAcknowledged = true
  })()
  let doneAt: number | undefined
  while (performance.now() < deadline) {
    if (allAcknowledged && (await queued()) === 0) {
      doneAt = performance.now()
      break
    }
    await sleep(settings.pollMs)
  }
  const acknowledged = () => withTimeout(label, settings.publishTimeoutMs + 5_000, publishing).catch((error: unknown) => log(errorMessage(error)))
  return { start, doneAt, acknowledged }
}

const natsRun = async (db: pg.Client, nats: Nats, names: Names, devices: ReadonlyArray<Monitored>, vigilPid: number | undefined): Promise<NatsResult> => {
  const n = settings.readings
  const messages = Array.from({ length: n }, (_, i) => ({
    subject: `${names.subjectPrefix}.ingest.vitals.${devices[i % devices.length]!.deviceId}`,
    data: encoder.encode(JSON.stringify(inRangeReading(i)))
  }))
  const before = await maxSeq(db)
  const publisher = new Publisher(nats.js, settings.natsWindow)
  log(`NATS ingest: publishing ${n} readings over ${devices.length} devices, ${settings.natsWindow} acks outstanding at most`)
  const { result: { result, cpu }, commits: committed } = await countingCommits(db, () => measuringAllCpu(vigilPid, async () => {
    const { start, doneAt, acknowledged } = await publishUntilConsumed(publisher, messages, () => queuedOnIngest(nats, names), "NATS publish acknowledgements")
    const stored = await countAfter(db, before, "device")
    await acknowledged()
    const end = doneAt ?? performance.now()
    return { stored, finished: doneAt !== undefined && stored >= n, elapsedMs: end - start, publishMs: publisher.lastAckAt - start }
  }))
  if (publisher.failed > 0) log(`NATS ingest: ${publisher.failed} publishes failed; first: ${publisher.firstFailure}`)
  let purged = 0
  if (!result.finished) {
    log(`NATS ingest: only ${result.stored} of ${n} readings stored within ${settings.natsPhaseMs / 1000} s; purging the rest from the ingest stream`)
    purged = await purgeIngest(nats, names)
    const total = await settle(() => countAfter(db, before, "device"), 20_000)
    log(`NATS ingest: purged ${purged} queued readings; ${total} stored in all (${total - result.stored} after the time limit)`)
  }
  const lag = await waitOutboxDrained(db, settings.outboxDrainMs)
  return {
    readings: n,
    stored: result.stored,
    finished: result.finished,
    perSecond: result.stored / (result.elapsedMs / 1000),
    elapsedMs: result.elapsedMs,
    failed: publisher.failed,
    commitsPer1000: (committed / result.stored) * 1000,
    publishPerSecond: n / (result.publishMs / 1000),
    windowWaits: publisher.waited,
    outboxLagMs: result.finished ? lag.ms : Number.NaN,
    purged,
    ...cpu
  }
}

// ---------------------------------------------------------------------------------------------
// Phase: NATS ingest of a backlog (no publisher competing for the CPU)

interface DrainResult extends CpuShare {
  readonly readings: number
  readonly stored: number
  readonly finished: boolean
  /** Readings stored per second, from the first stored (its transaction's start) to the last. */
  readonly perSecond: number
  readonly elapsedMs: number
  /** How fast JetStream took the backlog, with no consumer running. */
  readonly publishPerSecond: number
  readonly failed: number
  /** From starting Vigil's process to its first stored reading of the backlog (boot, connecting, the consumer). */
  readonly firstStoredAfterStartMs: number
  readonly commitsPer1000: number
  readonly outboxLagMs: number
  readonly purged: number
}

/**
 * Stops Vigil, publishes the readings while no consumer runs, starts Vigil again, and measures
 * how fast it stores the backlog: Vigil's ingest rate without the load generator on its cores.
 */
const drainRun = async (db: pg.Client, nats: Nats, names: Names, devices: ReadonlyArray<Monitored>, restart: NatsBenchmark["restartVigil"]): Promise<{ readonly result: DrainResult; readonly vigil: Vigil }> => {
  const n = settings.readings
  const messages = Array.from({ length: n }, (_, i) => ({
    subject: `${names.subjectPrefix}.ingest.vitals.${devices[i % devices.length]!.deviceId}`,
    data: encoder.encode(JSON.stringify(inRangeReading(i)))
  }))
  await waitOutboxDrained(db, settings.outboxDrainMs)
  const before = await maxSeq(db)
  const publisher = new Publisher(nats.js, settings.natsWindow)
  let publishMs = Number.NaN
  let storedEarly = 0
  log("NATS backlog: stopping Vigil")
  const { vigil, startedAt } = await restart(async () => {
    log(`NATS backlog: publishing ${n} readings over ${devices.length} devices while no Vigil runs`)
    const publishStart = performance.now()
    for (const m of messages) await publisher.publish(m.subject, m.data)
    await withTimeout("backlog publish acknowledgements", settings.publishTimeoutMs + 5_000, publisher.drained())
    publishMs = performance.now() - publishStart
    if (publisher.failed > 0) log(`NATS backlog: ${publisher.failed} publishes failed; first: ${publisher.firstFailure}`)
    storedEarly = await countAfter(db, before, "device")
    if (storedEarly > 0) log(`NATS backlog: ${storedEarly} readings were stored while publishing (a process was still consuming)`)
    log("NATS backlog: starting Vigil again")
  })
  const target = n - publisher.failed
  const { result: { result, cpu }, commits: committed } = await countingCommits(db, () => measuringAllCpu(vigil.child.pid, async () => {
    const reached = await waitForCount(async () => -(await queuedOnIngest(nats, names)), 0, settings.natsPhaseMs)
    const doneAt = reached.reachedAt === undefined ? undefined : Date.now() - (performance.now() - reached.reachedAt)
    const stored = await countAfter(db, before, "device")
    return { stored, doneAt: stored >= target ? doneAt : undefined }
  }))
  const { rows: [first] } = await query<{ at: Date | null }>(db, "SELECT min(created_at) AS at FROM vital_signs WHERE seq > $1 AND source = 'device'", [before])
  const firstAt = first?.at?.getTime() ?? Number.NaN
  let purged = 0
  if (result.doneAt === undefined) {
    log(`NATS backlog: only ${result.stored} of ${target} readings stored within ${settings.natsPhaseMs / 1000} s; purging the rest`)
    purged = await purgeIngest(nats, names)
    await settle(() => countAfter(db, before, "device"), 20_000)
  }
  const end = result.doneAt ?? Date.now()
  const lag = await waitOutboxDrained(db, settings.outboxDrainMs)
  return {
    vigil,
    result: {
      readings: n,
      stored: result.stored,
      finished: result.doneAt !== undefined && storedEarly === 0,
      perSecond: result.stored / ((end - firstAt) / 1000),
      elapsedMs: end - firstAt,
      publishPerSecond: n / (publishMs / 1000),
      failed: publisher.failed,
      firstStoredAfterStartMs: firstAt - startedAt,
      commitsPer1000: (committed / result.stored) * 1000,
      outboxLagMs: result.doneAt !== undefined ? lag.ms : Number.NaN,
      purged,
      ...cpu
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Phase: POST /store-vitals throughput

interface StoreResult extends ThroughputResult {
  /** What the responses' records_stored add up to. */
  readonly storedByResponses: number
  readonly requests: number
  readonly request: Figures
  readonly outboxLagMs: number
}

const storeRun = async (db: pg.Client, vigil: Vigil, names: Names, vigilPid: number | undefined): Promise<StoreResult> => {
  const subjects = Array.from({ length: settings.patients }, (_, i) => ({ id: `BENCH-${names.tag}-${i}`, arm: i % 2 === 0 ? "Active" : "Placebo" }))
  const record = (i: number, visit: string) => {
    const subject = subjects[i % subjects.length]!
    return {
      SubjectID: subject.id,
      VisitName: visit,
      TreatmentArm: subject.arm,
      SystolicBP: between(i, 110, 140),
      DiastolicBP: between(i, 65, 85),
      HeartRate: between(i, 60, 95),
      Temperature: Math.round((36.5 + (i % 9) / 10) * 10) / 10
    }
  }
  log(`store-vitals: warm-up batch creating ${subjects.length} trial subjects`)
  await postJson(vigil.httpUrl, "/store-vitals", { records: subjects.map((_, i) => record(i, "Screening")) }, 200, settings.requestTimeoutMs)

  const batches = Math.ceil(settings.readings / settings.storeBatch)
  const bodies = Array.from({ length: batches }, (_, b) =>
    JSON.stringify({ records: Array.from({ length: settings.storeBatch }, (_, i) => record(b * settings.storeBatch + i, `Visit ${b}`)) }))
  const before = await maxSeq(db)
  const latencies: Array<number> = []
  let storedByResponses = 0
  let failed = 0
  let firstFailure: string | undefined
  log(`store-vitals: ${batches} batches of ${settings.storeBatch} records, ${settings.storeConcurrency} requests in flight`)
  const { result: { result, cpu }, commits: committed } = await countingCommits(db, () => measuringAllCpu(vigilPid, async () => {
    const start = performance.now()
    const deadline = start + settings.storePhaseMs
    let next = 0
    const worker = async () => {
      while (next < batches && performance.now() < deadline) {
        const body = bodies[next++]!
        const sentAt = performance.now()
        try {
          const answer = await postJson(vigil.httpUrl, "/store-vitals", body, 200, settings.requestTimeoutMs)
          storedByResponses += Number(answer["records_stored"])
          latencies.push(performance.now() - sentAt)
        } catch (error) {
          failed++
          firstFailure ??= describeError(error)
          log(`store-vitals: a request failed after ${fmtMs(performance.now() - sentAt)} ms: ${describeError(error)}`)
        }
      }
    }
    await Promise.all(Array.from({ length: settings.storeConcurrency }, worker))
    return { elapsedMs: performance.now() - start, sent: next }
  }))
  if (failed > 0) log(`store-vitals: ${failed} requests failed; first: ${firstFailure}`)
  const stored = await countAfter(db, before, "trial")
  if (stored !== storedByResponses) log(`store-vitals: the responses say ${storedByResponses} records stored, the table has ${stored} new rows`)
  const lag = await waitOutboxDrained(db, settings.outboxDrainMs)
  return {
    readings: settings.readings,
    stored,
    finished: result.sent === batches && failed === 0 && stored === settings.readings,
    perSecond: stored / (result.elapsedMs / 1000),
    elapsedMs: result.elapsedMs,
    failed,
    storedByResponses,
    commitsPer1000: (committed / stored) * 1000,
    requests: result.sent,
    request: figures(latencies),
    outboxLagMs: lag.ms,
    ...cpu
  }
}

// ---------------------------------------------------------------------------------------------
// Phase: alert latency under steady load

interface AlertResult extends CpuShare {
  readonly targetRate: number
  readonly seconds: number
  readonly sent: number
  readonly achievedRate: number
  /** Publishes that waited for the acknowledgement window. */
  readonly windowWaits: number
  readonly failed: number
  readonly probes: number
  readonly received: number
  readonly missing: number
  /** Probe slots with no probe patient ready (an in-range reading went instead). */
  readonly skippedProbes: number
  /** alert.raised events for a probe after its time-out, or for a patient not probed. */
  readonly lateEvents: number
  readonly unexpectedAlerts: number
  readonly publishToEvent: Figures
  readonly publishToCommit: Figures
  readonly commitToEvent: Figures
  /** Readings not yet stored when the last was published, and how long until all were. */
  readonly backlogAtEnd: number
  readonly catchUpMs: number
  /** Readings stored when the wait for the backlog ended. */
  readonly storedAfterCatchUp: number
  /** Readings on the ingest stream when the run started (0 unless an earlier phase left some). */
  readonly queuedAtStart: number
  readonly commitsPer1000: number
  /** Vigil's CPU seconds per reading offered, in ms. */
  readonly cpuPerReadingMs: number
  /** Vigil's largest resident memory seen during the run (sampled every 200 ms). */
  readonly rssMaxMb: number
  readonly stages: AlertStages
}

interface Probe {
  readonly patientId: string
  readonly readingId: string
  readonly sentAt: number
  receivedAt?: number
  eventTime?: number
  timedOut: boolean
}

type ProbeState = "ready" | "awaitingRaise" | "clearing"

interface AlertLoad {
  readonly rate: number
  readonly seconds: number
  readonly label: string
}

const alertRun = async (db: pg.Client, nats: Nats, names: Names, load: AlertLoad, background: ReadonlyArray<Monitored>, probePatients: ReadonlyArray<Monitored>, vigilPid: number | undefined): Promise<AlertResult> => {
  const drained = await waitOutboxDrained(db, settings.outboxDrainMs)
  if (drained.pending > 0) log(`${load.label}: starting with ${drained.pending} outbox rows unpublished`)
  const queued = (await nats.jsm.streams.info(ingestStreamName(names))).state.messages
  if (queued > 0) log(`${load.label}: starting with ${queued} readings queued on the ingest stream`)
  const subjectOf = (deviceId: string) => `${names.subjectPrefix}.ingest.vitals.${deviceId}`
  const state = new Map<string, { readonly m: Monitored; state: ProbeState; probe?: Probe }>(
    probePatients.map((m) => [m.patientId, { m, state: "ready" as ProbeState }])
  )
  const ready: Array<string> = probePatients.map((m) => m.patientId)
  /** Probe patients owed in-range readings, one entry per reading. */
  const clears: Array<string> = []
  const probes: Array<Probe> = []
  /** Probes awaiting their event, in send order. */
  const waiting: Array<Probe> = []
  let lateEvents = 0
  let unexpectedAlerts = 0

  const startClearing = (patientId: string) => {
    const entry = state.get(patientId)!
    entry.state = "clearing"
    for (let k = 0; k < settings.clearReadings; k++) clears.push(patientId)
  }

  const subscription = nats.nc.subscribe(`${names.subjectPrefix}.events.alert.>`, {
    callback: (error: Error | null, msg: Msg) => {
      if (error !== null) return
      const receivedAt = wallNow()
      const event = msg.json<{ time: string; data: { patient_id: string } }>()
      const entry = state.get(event.data.patient_id)
      if (msg.subject.endsWith(".raised")) {
        if (entry === undefined) unexpectedAlerts++
        else if (entry.state === "awaitingRaise" && entry.probe !== undefined && !entry.probe.timedOut) {
          entry.probe.receivedAt = receivedAt
          entry.probe.eventTime = Date.parse(event.time)
          startClearing(entry.m.patientId)
        } else lateEvents++
      } else if (msg.subject.endsWith(".resolved") && entry !== undefined && entry.state === "clearing") {
        entry.state = "ready"
        delete entry.probe
        ready.push(entry.m.patientId)
      }
    }
  })
  await nats.nc.flush()

  const publisher = new Publisher(nats.js, settings.natsWindow)
  const before = await maxSeq(db)
  const total = load.rate * load.seconds
  const interval = 1000 / load.rate
  let sent = 0
  let skippedProbes = 0
  let backgroundNext = 0
  log(`${load.label}: ${load.rate} readings/s for ${load.seconds} s over NATS, every ${settings.probeEvery}th a breach on one of ${probePatients.length} probe patients`)

  const timeOutProbes = (now: number) => {
    while (waiting.length > 0 && (waiting[0]!.receivedAt !== undefined || now - waiting[0]!.sentAt > settings.probeTimeoutMs)) {
      const probe = waiting.shift()!
      if (probe.receivedAt === undefined) {
        probe.timedOut = true
        // Its alert may still be raised: the in-range readings resolve it then.
        startClearing(probe.patientId)
      }
    }
  }

  let rssMaxMb = 0
  const sampling = setInterval(() => {
    rssMaxMb = Math.max(rssMaxMb, residentMemoryMb(vigilPid).rss)
  }, 200)
  const { result: { result, cpu }, commits: committed } = await countingCommits(db, () => measuringAllCpu(vigilPid, async () => {
    const start = performance.now()
    const stopAt = start + load.seconds * 1000 + 5_000
    while (sent < total && performance.now() < stopAt) {
      const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1)
      while (sent < due) {
        const i = sent++
        if (i % settings.probeEvery === settings.probeEvery - 1) {
          const patientId = ready.shift()
          if (patientId !== undefined) {
            const entry = state.get(patientId)!
            const reading = { ...inRangeReading(i), heart_rate: settings.breachHeartRate }
            const probe: Probe = { patientId, readingId: reading.reading_id, sentAt: wallNow(), timedOut: false }
            entry.state = "awaitingRaise"
            entry.probe = probe
            probes.push(probe)
            waiting.push(probe)
            await publisher.publish(subjectOf(entry.m.deviceId), encoder.encode(JSON.stringify(reading)))
            continue
          }
          skippedProbes++
        }
        const clear = clears.shift()
        const deviceId = clear !== undefined ? state.get(clear)!.m.deviceId : background[backgroundNext++ % background.length]!.deviceId
        await publisher.publish(subjectOf(deviceId), encoder.encode(JSON.stringify(inRangeReading(i))))
      }
      timeOutProbes(wallNow())
      await sleep(1)
    }
    const sendMs = performance.now() - start
    const lastSentAt = performance.now()
    await withTimeout("alert run acknowledgements", settings.publishTimeoutMs + 5_000, publisher.drained()).catch((error: unknown) => log(errorMessage(error)))
    const backlogAtEnd = await queuedOnIngest(nats, names)
    const caughtUp = await waitForCount(async () => -(await queuedOnIngest(nats, names)), 0, settings.catchUpMs)
    const storedAfter = await countAfter(db, before, "device")
    return { sendMs, backlogAtEnd, caughtUp: storedAfter, catchUpMs: caughtUp.reachedAt === undefined ? Number.NaN : Math.max(0, caughtUp.reachedAt - lastSentAt) }
  }))
  // Every probe gets its event or its time-out (bounded).
  const graceUntil = performance.now() + settings.probeTimeoutMs + 1_000
  while (waiting.length > 0 && performance.now() < graceUntil) {
    timeOutProbes(wallNow())
    await sleep(20)
  }
  timeOutProbes(Number.POSITIVE_INFINITY)
  subscription.unsubscribe()
  clearInterval(sampling)
  if (publisher.failed > 0) log(`${load.label}: ${publisher.failed} publishes failed; first: ${publisher.firstFailure}`)

  const got = probes.filter((p) => p.receivedAt !== undefined && !p.timedOut)
  const stages = await alertStages(db, got)
  return {
    targetRate: load.rate,
    seconds: load.seconds,
    sent,
    achievedRate: sent / (result.sendMs / 1000),
    windowWaits: publisher.waited,
    failed: publisher.failed,
    probes: probes.length,
    received: got.length,
    missing: probes.length - got.length,
    skippedProbes,
    lateEvents,
    unexpectedAlerts,
    publishToEvent: figures(got.map((p) => p.receivedAt! - p.sentAt)),
    publishToCommit: figures(got.map((p) => p.eventTime! - p.sentAt)),
    commitToEvent: figures(got.map((p) => p.receivedAt! - p.eventTime!)),
    backlogAtEnd: result.backlogAtEnd,
    catchUpMs: result.catchUpMs,
    storedAfterCatchUp: result.caughtUp,
    queuedAtStart: queued,
    commitsPer1000: (committed / result.caughtUp) * 1000,
    cpuPerReadingMs: (cpu.vigilCpu / (sent / (result.sendMs / 1000))) * 1000,
    rssMaxMb,
    stages,
    ...cpu
  }
}

/** Per-stage delays of Vigil's alert path, from each probe's publish to its event's receipt (see AlertStages). */
interface AlertStages {
  /** Publish -> the reading's transaction began (`vital_signs.created_at`): NATS delivery, batching, decoding. */
  readonly receive: Figures
  /** -> the alert's transaction began (`alerts.created_at`): the reading's commit, its acknowledgement, the hand-over to the monitor, the evaluation. */
  readonly evaluation: Figures
  /** -> the alert's audit row was written (the event's `time`, clock_timestamp()): the alert transaction's statements. */
  readonly alertWrite: Figures
  /** -> the event was received: the alert's commit, the relay's wake-up and publish, NATS delivery. */
  readonly publish: Figures
}

const alertStages = async (db: pg.Client, got: ReadonlyArray<Probe>): Promise<AlertStages> => {
  const { rows } = await query<{ id: string; stored_at: number; alert_at: number | null }>(db, `
    SELECT v.id::text, extract(epoch FROM v.created_at) * 1000 AS stored_at, extract(epoch FROM a.created_at) * 1000 AS alert_at
    FROM vital_signs v
    LEFT JOIN LATERAL (
      SELECT created_at FROM alerts WHERE patient_id = v.patient_id AND created_at >= date_trunc('milliseconds', v.created_at)
      ORDER BY created_at LIMIT 1
    ) a ON true
    WHERE v.id = ANY($1::uuid[])`, [got.map((p) => p.readingId)])
  const byId = new Map(rows.map((row) => [row.id, row]))
  const timed = got.flatMap((p) => {
    const row = byId.get(p.readingId)
    return row === undefined || row.alert_at === null ? [] : [{ p, storedAt: Number(row.stored_at), alertAt: Number(row.alert_at) }]
  })
  return {
    receive: figures(timed.map(({ p, storedAt }) => storedAt - p.sentAt)),
    evaluation: figures(timed.map(({ alertAt, storedAt }) => alertAt - storedAt)),
    alertWrite: figures(timed.map(({ alertAt, p }) => p.eventTime! - alertAt)),
    publish: figures(timed.map(({ p }) => p.receivedAt! - p.eventTime!))
  }
}

// ---------------------------------------------------------------------------------------------
// Baselines in the same run: a bare ingest pipeline and a bare alert path (bench/barePipeline.ts)

const bareStreamName = (names: Names) => `${names.streamPrefix}_BARE`
const bareSubject = (names: Names, deviceId: string) => `${names.subjectPrefix}.bare.vitals.${deviceId}`
const bareEventsSubject = (names: Names) => `${names.subjectPrefix}.bare.events.alert.raised`

/** The bare pipeline's work queue, configured as Vigil's ingest stream is (bench/barePipeline.ts consumes it). */
const createBareStream = (nats: Nats, names: Names) =>
  nats.jsm.streams.add({
    name: bareStreamName(names),
    subjects: [`${names.subjectPrefix}.bare.vitals.>`],
    retention: RetentionPolicy.Workqueue,
    max_age: 7 * 86_400 * 1_000_000_000,
    duplicate_window: 2 * 60 * 1_000_000_000
  })

/** The bare pipeline's tables (bench/barePipeline.ts makes them too, when run alone). */
const createBareTables = async (db: pg.Client) => {
  await query(db, "CREATE TABLE IF NOT EXISTS bare_vital_signs (LIKE vital_signs INCLUDING ALL)")
  await query(db, `CREATE TABLE IF NOT EXISTS bare_alerts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), patient_id uuid NOT NULL, reading_id uuid NOT NULL,
    vital_sign text NOT NULL, peak double precision NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`)
}

const queuedOnBare = async (nats: Nats, names: Names) => (await nats.jsm.streams.info(bareStreamName(names))).state.messages

const bareRows = async (db: pg.Client) =>
  (await query<{ n: number }>(db, "SELECT count(*)::int AS n FROM bare_vital_signs")).rows[0]!.n

/** Starts bench/barePipeline.ts in `mode`; resolves once it consumes. */
const startBare = async (mode: "ingest" | "alerts", names: Names, databaseUrl: string): Promise<Child> => {
  const child = startChild(`bare ${mode}`, ["--import", "tsx", "bench/barePipeline.ts", mode], {
    ...process.env,
    NATS_URL,
    DATABASE_URL: databaseUrl,
    BARE_STREAM: bareStreamName(names),
    BARE_SUBJECT: `${names.subjectPrefix}.bare.vitals.>`,
    BARE_BATCH_SIZE: String(settings.ingestBatchSize),
    BARE_EVENTS_SUBJECT: bareEventsSubject(names)
  }, settings.stopTimeoutMs)
  onCleanup(`stop bare ${mode}`, () => child.stop())
  const ready = new Promise<void>((resolve) => child.onLine((line) => line.startsWith("READY ") && resolve()))
  await withTimeout(`bare ${mode} start`, 30_000, Promise.race([ready, child.exited.then((how) => Promise.reject(childFailure(child, `exited (${how}) before it was ready`)))]))
  return child
}

interface BareResult extends CpuShare {
  readonly readings: number
  readonly stored: number
  readonly finished: boolean
  readonly perSecond: number
  readonly elapsedMs: number
  readonly failed: number
}

/** The bare pipeline while publishing: as natsRun, into bare_vital_signs. */
const bareNatsRun = async (db: pg.Client, nats: Nats, names: Names, devices: ReadonlyArray<Monitored>, databaseUrl: string, vigilPid: number | undefined): Promise<BareResult> => {
  const n = settings.readings
  const messages = Array.from({ length: n }, (_, i) => ({
    subject: bareSubject(names, devices[i % devices.length]!.deviceId),
    data: encoder.encode(JSON.stringify(inRangeReading(i)))
  }))
  const bare = await startBare("ingest", names, databaseUrl)
  const before = await bareRows(db)
  const publisher = new Publisher(nats.js, settings.natsWindow)
  log(`bare pipeline: publishing ${n} readings over ${devices.length} devices, ${settings.natsWindow} acks outstanding at most`)
  const { result, cpu } = await measuringAllCpu(vigilPid, async () => {
    const { start, doneAt, acknowledged } = await publishUntilConsumed(publisher, messages, () => queuedOnBare(nats, names), "bare publish acknowledgements")
    await acknowledged()
    return { doneAt, elapsedMs: (doneAt ?? performance.now()) - start }
  }, bare.pid)
  await bare.stop()
  const stored = (await bareRows(db)) - before
  if (result.doneAt === undefined) await nats.jsm.streams.purge(bareStreamName(names))
  return { readings: n, stored, finished: result.doneAt !== undefined && stored === n, perSecond: stored / (result.elapsedMs / 1000), elapsedMs: result.elapsedMs, failed: publisher.failed, ...cpu }
}

/** The bare pipeline draining a backlog: published with no consumer, then started; first row stored to the queue empty. */
const bareDrainRun = async (db: pg.Client, nats: Nats, names: Names, devices: ReadonlyArray<Monitored>, databaseUrl: string, vigilPid: number | undefined): Promise<BareResult> => {
  const n = settings.readings
  const publisher = new Publisher(nats.js, settings.natsWindow)
  const before = Number((await query<{ seq: string }>(db, "SELECT coalesce(max(seq), 0) AS seq FROM bare_vital_signs")).rows[0]!.seq)
  log(`bare backlog: publishing ${n} readings with no consumer`)
  for (let i = 0; i < n; i++) await publisher.publish(bareSubject(names, devices[i % devices.length]!.deviceId), encoder.encode(JSON.stringify(inRangeReading(i))))
  await withTimeout("bare backlog acknowledgements", settings.publishTimeoutMs + 5_000, publisher.drained())
  const bare = await startBare("ingest", names, databaseUrl)
  const { result, cpu } = await measuringAllCpu(vigilPid, async () => {
    const reached = await waitForCount(async () => -(await queuedOnBare(nats, names)), 0, settings.natsPhaseMs)
    return { doneAt: reached.reachedAt === undefined ? undefined : Date.now() - (performance.now() - reached.reachedAt) }
  }, bare.pid)
  await bare.stop()
  const { rows: [span] } = await query<{ first: Date | null; n: number }>(db, "SELECT min(created_at) AS first, count(*)::int AS n FROM bare_vital_signs WHERE seq > $1", [before])
  if (result.doneAt === undefined) await nats.jsm.streams.purge(bareStreamName(names))
  const elapsedMs = (result.doneAt ?? Date.now()) - (span!.first?.getTime() ?? Number.NaN)
  return { readings: n, stored: span!.n, finished: result.doneAt !== undefined && span!.n === n, perSecond: span!.n / (elapsedMs / 1000), elapsedMs, failed: publisher.failed, ...cpu }
}

interface BareAlertResult extends CpuShare {
  readonly targetRate: number
  readonly seconds: number
  readonly sent: number
  readonly achievedRate: number
  readonly probes: number
  readonly received: number
  readonly publishToEvent: Figures
  /** CPU seconds of the bare process per reading offered. */
  readonly cpuPerReadingMs: number
}

/** The bare alert path at `load.rate`: every probeEvery-th reading breaches; its event is timed from publish to receipt. */
const bareAlertRun = async (nats: Nats, names: Names, load: AlertLoad, devices: ReadonlyArray<Monitored>, databaseUrl: string, vigilPid: number | undefined): Promise<BareAlertResult> => {
  const bare = await startBare("alerts", names, databaseUrl)
  const sentAt = new Map<string, number>()
  const delays: Array<number> = []
  const subscription = nats.nc.subscribe(bareEventsSubject(names), {
    callback: (error: Error | null, msg: Msg) => {
      if (error !== null) return
      const receivedAt = wallNow()
      const at = sentAt.get(msg.json<{ data: { reading_id: string } }>().data.reading_id)
      if (at !== undefined) delays.push(receivedAt - at)
    }
  })
  await nats.nc.flush()
  const publisher = new Publisher(nats.js, settings.natsWindow)
  const total = load.rate * load.seconds
  const interval = 1000 / load.rate
  let sent = 0
  let probes = 0
  log(`${load.label}: ${load.rate} readings/s for ${load.seconds} s into the bare alert path, every ${settings.probeEvery}th a breach`)
  const { result: sendMs, cpu } = await measuringAllCpu(vigilPid, async () => {
    const start = performance.now()
    const stopAt = start + load.seconds * 1000 + 5_000
    while (sent < total && performance.now() < stopAt) {
      const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1)
      while (sent < due) {
        const i = sent++
        const deviceId = devices[i % devices.length]!.deviceId
        const reading = inRangeReading(i)
        if (i % settings.probeEvery === settings.probeEvery - 1) {
          probes++
          sentAt.set(reading.reading_id, wallNow())
          await publisher.publish(bareSubject(names, deviceId), encoder.encode(JSON.stringify({ ...reading, heart_rate: settings.breachHeartRate })))
        } else await publisher.publish(bareSubject(names, deviceId), encoder.encode(JSON.stringify(reading)))
      }
      await sleep(1)
    }
    const elapsed = performance.now() - start
    await withTimeout("bare alert acknowledgements", settings.publishTimeoutMs + 5_000, publisher.drained()).catch((error: unknown) => log(errorMessage(error)))
    await waitForCount(async () => -(await queuedOnBare(nats, names)), 0, settings.catchUpMs)
    return elapsed
  }, bare.pid)
  const graceUntil = performance.now() + settings.probeTimeoutMs
  while (delays.length < probes && performance.now() < graceUntil) await sleep(20)
  subscription.unsubscribe()
  await bare.stop()
  const achievedRate = sent / (sendMs / 1000)
  return {
    targetRate: load.rate,
    seconds: load.seconds,
    sent,
    achievedRate,
    probes,
    received: delays.length,
    publishToEvent: figures(delays),
    cpuPerReadingMs: (cpu.bareCpu / achievedRate) * 1000,
    ...cpu
  }
}

// ---------------------------------------------------------------------------------------------
// Diagnostics: Vigil's state after a phase, for when something stalls or fails

interface Diagnosis {
  /** `GET /ready`'s status, or why it did not answer. */
  readonly ready: string
  /** The ingest consumer's state on the server, or why it could not be read. */
  readonly consumer: string
  /** Vigil's connections to its database, by state (this script's own left out). */
  readonly vigilConnections: Readonly<Record<string, number>>
  /** All connections to the PostgreSQL server, against max_connections. */
  readonly serverConnections: string
}

const diagnose = async (db: pg.Client, nats: Nats, names: Names, vigil: Vigil): Promise<Diagnosis> => {
  const ready = await fetch(`${vigil.httpUrl}/ready`, { signal: AbortSignal.timeout(2_000) }).then(
    async (response) => {
      await response.arrayBuffer()
      return String(response.status)
    },
    (error: unknown) => describeError(error)
  )
  const consumer = await nats.jsm.consumers.info(ingestStreamName(names), "vigil-ingest-vitals").then(
    (info) => `pending ${info.num_pending}, ack pending ${info.num_ack_pending}, waiting pulls ${info.num_waiting}, redelivered ${info.num_redelivered}`,
    (error: unknown) => describeError(error)
  )
  const { rows } = await query<{ state: string | null; n: number }>(db,
    "SELECT state, count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY state")
  const server = (await query<{ n: number; max: string }>(db,
    "SELECT count(*)::int AS n, current_setting('max_connections') AS max FROM pg_stat_activity WHERE backend_type = 'client backend'")).rows[0]!
  return {
    ready,
    consumer,
    vigilConnections: Object.fromEntries(rows.map((row) => [row.state ?? "unknown", row.n])),
    serverConnections: `${server.n} of ${server.max}`
  }
}

const fmtDiagnosis = (d: Diagnosis) =>
  `GET /ready ${d.ready}; ingest consumer: ${d.consumer}; Vigil's database connections ${JSON.stringify(d.vigilConnections)}; server connections ${d.serverConnections}`

// ---------------------------------------------------------------------------------------------
// Report

interface Results {
  readonly database: string
  readonly baseline: BaselineResult
  /** Each phase's result; undefined when BENCH_PHASES left it out. */
  readonly nats: NatsResult | undefined
  readonly bareNats: BareResult | undefined
  readonly drain: DrainResult | undefined
  readonly bareDrain: BareResult | undefined
  readonly store: StoreResult | undefined
  readonly reference: AlertResult | undefined
  readonly bareReference: BareAlertResult | undefined
  readonly alerts: AlertResult | undefined
  readonly bareAlerts: BareAlertResult | undefined
  /** Vigil's state after each phase. */
  readonly diagnostics: Readonly<Record<string, Diagnosis>>
}

/** The lines of one alert-latency run. */
const alertLines = (run: AlertResult): Array<string> => [
  `    publish -> alert.raised received: ${fmtFigures(run.publishToEvent)}`,
  `    split at the event's time (alert committed): publish -> committed ${fmtFigures(run.publishToCommit)}; committed -> received ${fmtFigures(run.commitToEvent)}`,
  `    stages (the database's clock): receive (publish -> reading's transaction began) ${fmtFigures(run.stages.receive)}`,
  `      reading commit + hand-over + evaluation (-> alert's transaction began) ${fmtFigures(run.stages.evaluation)}`,
  `      alert write (-> its audit row) ${fmtFigures(run.stages.alertWrite)}; commit + relay + NATS (-> received) ${fmtFigures(run.stages.publish)}`,
  `    probes ${run.probes}: event received ${run.received}, none within ${settings.probeTimeoutMs / 1000} s ${run.missing}; skipped probe slots ${run.skippedProbes}; late events ${run.lateEvents}; alerts on non-probe patients ${run.unexpectedAlerts}`,
  `    ingest: ${run.backlogAtEnd} of ${run.sent} readings not yet stored at the last publish; ${Number.isNaN(run.catchUpMs) ? `${run.storedAfterCatchUp} stored ${settings.catchUpMs / 1000} s after it` : `all stored ${fmtMs(run.catchUpMs)} ms after it`}; queued from earlier phases at the start ${run.queuedAtStart}; ≈${fmtRate(run.commitsPer1000)} PostgreSQL commits per 1,000 readings`,
  `    Vigil's CPU per reading ${fmtRate(run.cpuPerReadingMs * 1000)} µs; resident memory at most ${fmtRate(run.rssMaxMb)} MB; CPU ${fmtCpuShare(run)}`
]

const bareAlertLine = (run: BareAlertResult | undefined) =>
  run === undefined
    ? "    bare alert path: not run"
    : `    bare alert path, same load (achieved ${fmtRate(run.achievedRate)}/s): publish -> event received ${fmtFigures(run.publishToEvent)}; probes ${run.probes}, events ${run.received}; bare CPU per reading ${fmtRate(run.cpuPerReadingMs * 1000)} µs; CPU ${fmtCpuShare(run)}`

const verdict = (met: boolean) => (met ? "met" : "NOT met")

const problems = ({ nats, bareNats, drain, bareDrain, store, reference, alerts, bareReference, bareAlerts }: Results): Array<string> => [
  ...(nats !== undefined && nats.failed > 0 ? [`NATS ingest: ${nats.failed} publishes failed`] : []),
  ...(drain !== undefined && drain.failed > 0 ? [`NATS backlog: ${drain.failed} publishes failed`] : []),
  ...(drain !== undefined && drain.stored > drain.readings ? [`NATS backlog: ${drain.stored} readings stored, ${drain.readings} sent`] : []),
  ...([["bare pipeline", bareNats], ["bare backlog", bareDrain]] as const).flatMap(([name, run]) =>
    run !== undefined && (run.failed > 0 || run.stored > run.readings) ? [`${name}: ${run.failed} publishes failed, ${run.stored} of ${run.readings} stored`] : []
  ),
  ...([["bare alert reference", bareReference], ["bare alert latency", bareAlerts]] as const).flatMap(([name, run]) =>
    run !== undefined && run.received < run.probes ? [`${name}: ${run.probes - run.received} of ${run.probes} events did not arrive`] : []
  ),
  ...(store !== undefined && store.failed > 0 ? [`store-vitals: ${store.failed} of ${store.requests} requests failed`] : []),
  ...(store !== undefined && store.stored !== store.storedByResponses
    ? [`store-vitals: the responses say ${store.storedByResponses} records were stored, the table has ${store.stored} new trial rows`]
    : []),
  ...(alerts !== undefined && alerts.failed > 0 ? [`alert latency: ${alerts.failed} publishes failed`] : []),
  ...(alerts !== undefined && alerts.probes === 0 ? ["alert latency: no probe was sent"] : []),
  ...(alerts !== undefined && alerts.storedAfterCatchUp > alerts.sent ? [`alert latency: ${alerts.storedAfterCatchUp} readings stored, ${alerts.sent} sent`] : []),
  ...(reference !== undefined && reference.failed > 0 ? [`alert reference run: ${reference.failed} publishes failed`] : []),
  ...(reference !== undefined && reference.storedAfterCatchUp > reference.sent ? [`alert reference run: ${reference.storedAfterCatchUp} readings stored, ${reference.sent} sent`] : [])
]

const notes = ({ baseline, nats, drain, store, alerts }: Results): Array<string> => [
  ...(nats !== undefined && !nats.finished
    ? [`note: NATS ingest did not store all ${nats.readings} readings within its ${settings.natsPhaseMs / 1000} s limit: its rate is what was stored by then (${nats.stored}); the ${nats.purged} still queued were purged`]
    : []),
  ...(drain !== undefined && !drain.finished
    ? [`note: NATS backlog: the run did not finish cleanly (${drain.stored} of ${drain.readings} stored, ${drain.purged} purged); its rate is over what was stored`]
    : []),
  ...(store !== undefined && !store.finished && store.failed === 0
    ? [`note: store-vitals: ${store.requests} of ${Math.ceil(settings.readings / settings.storeBatch)} requests were sent within the ${settings.storePhaseMs / 1000} s limit; its rate is over the readings stored`]
    : []),
  ...(alerts !== undefined && Number.isNaN(alerts.catchUpMs)
    ? [`note: alert latency: Vigil had stored ${alerts.storedAfterCatchUp} of the ${alerts.sent} readings ${settings.catchUpMs / 1000} s after the last publish`]
    : []),
  ...(cpus().length < 4
    ? [`note: ${cpus().length} cores for Vigil, PostgreSQL, NATS and this process together`]
    : []),
  ...([["baseline", baseline], ["NATS ingest", nats], ["NATS backlog", drain], ["store-vitals", store], ["alert latency", alerts]] as const).flatMap(([name, run]) =>
    run !== undefined && run.otherCpu > BUSY_MACHINE_CPU
      ? [`note: ${name}: other processes used ${fmtCpu(run.otherCpu)} of a core; on a busy machine the figures are noisy`]
      : []
  ),
  ...([["NATS ingest", nats], ["NATS backlog", drain], ["store-vitals", store], ["alert latency", alerts]] as const).flatMap(([name, run]) =>
    run !== undefined && run.vigilCpu > 0.9 ? [`note: ${name}: Vigil's process used ${fmtCpu(run.vigilCpu)} of a core: its one JavaScript thread is the limit`] : []
  ),
  ...(alerts !== undefined && alerts.windowWaits > 0 ? [`note: alert latency: ${alerts.windowWaits} publishes waited for the ${settings.natsWindow}-ack window; the offered rate was not held`] : []),
  ...(alerts !== undefined && alerts.backlogAtEnd > settings.alertRate / 10
    ? [`note: alert latency: ${alerts.backlogAtEnd} readings were not yet stored when the last was published: ingest did not keep up with ${settings.alertRate}/s`]
    : []),
  ...(alerts !== undefined && alerts.skippedProbes > 0 ? [`note: alert latency: ${alerts.skippedProbes} probe slots found no probe patient whose alert had resolved; in-range readings went instead`] : [])
]

/** Vigil's figure against its baseline's: the ratio, and whether it meets `at least` (or `at most`). */
const against = (vigil: number | undefined, bare: number | undefined, target: number, direction: "at least" | "at most") => {
  const ratio = vigil === undefined || bare === undefined ? Number.NaN : vigil / bare
  const met = direction === "at least" ? ratio >= target : ratio <= target
  return { ratio, met, text: `ratio ${ratio.toFixed(2)} (target ${direction === "at least" ? ">=" : "<="} ${target}: ${verdict(met)})` }
}

const report = (results: Results): boolean => {
  const { baseline, nats, bareNats, drain, bareDrain, store, reference, bareReference, alerts, bareAlerts } = results
  const natsVsBare = against(nats?.perSecond, bareNats?.perSecond, targets.natsRatio, "at least")
  const drainVsBare = against(drain?.perSecond, bareDrain?.perSecond, targets.natsRatio, "at least")
  const storeVsCopy = against(store?.perSecond, baseline.perSecond, targets.storeRatio, "at least")
  const alertP99 = (vigil: AlertResult | undefined, bare: BareAlertResult | undefined) =>
    against(vigil !== undefined && vigil.missing === 0 ? vigil.publishToEvent.p99 : Number.NaN, bare?.publishToEvent.p99, targets.alertP99Times, "at most")
  const referenceP99 = alertP99(reference, bareReference)
  const alertsP99 = alertP99(alerts, bareAlerts)
  const cpuPerReading = against(reference?.cpuPerReadingMs, bareReference?.cpuPerReadingMs, targets.cpuPerReadingTimes, "at most")
  const rssMet = alerts !== undefined && alerts.rssMaxMb < targets.rssMb
  const issues = problems(results)
  const skipped = (phase: string) => [`  ${phase}: not run (BENCH_PHASES)`]
  const bareLine = (label: string, run: BareResult | undefined) =>
    run === undefined
      ? `    ${label}: not run`
      : `    ${label}: ${fmtRate(run.perSecond)} readings/s (${fmtMs(run.elapsedMs)} ms${run.finished ? "" : `, ${run.stored} of ${run.readings} stored`}); bare CPU per reading ${fmtRate((run.bareCpu * run.elapsedMs * 1000) / run.stored)} µs; CPU ${fmtCpuShare(run)}`
  printReport({
    benchmark: "ingest",
    environment: `; NATS ${redactUrl(NATS_URL)}`,
    database: results.database,
    lines: [
      `readings: in range for the default profile (heart_rate, spo2, temperature; store-vitals: BP, heart rate, temperature), spread over ${settings.patients} patients; ${settings.readings} per throughput run`,
      `baselines, in this run: raw COPY into vital_signs; a bare ingest pipeline (bench/barePipeline.ts: a JetStream consumer with Vigil's batch size, ${settings.ingestBatchSize}, one INSERT per batch into a table LIKE vital_signs, then the acks) and a bare alert path (the same, and per breaching reading one committed row and one event)`,
      "",
      "throughput:",
      `  raw baseline, one COPY ... FROM STDIN (text format, pg-copy-streams), one connection: ${fmtRate(baseline.perSecond)} readings/s (${fmtMs(baseline.elapsedMs)} ms; CPU ${fmtCpuShare(baseline)})`,
      ...(drain === undefined ? skipped("NATS ingest of a backlog") : [
        `  NATS ingest of a backlog (published while Vigil was stopped, then Vigil started; first to last reading stored): ${fmtRate(drain.perSecond)} readings/s (${fmtMs(drain.elapsedMs)} ms${drain.finished ? "" : `, ${drain.stored} of ${drain.readings} stored`}) = ${drainVsBare.text} of the bare pipeline's backlog`,
        bareLine("bare pipeline, same backlog", bareDrain),
        `    JetStream took the backlog at ${fmtRate(drain.publishPerSecond)} readings/s with no consumer; first reading stored ${fmtMs(drain.firstStoredAfterStartMs)} ms after Vigil's process was started; outbox fully published ${fmtMs(drain.outboxLagMs)} ms after the last reading was stored; ≈${fmtRate(drain.commitsPer1000)} PostgreSQL commits per 1,000 readings; CPU (from Vigil ready) ${fmtCpuShare(drain)}`
      ]),
      ...(nats === undefined ? skipped("NATS ingest while publishing") : [
        `  NATS ingest while publishing (js.publish, ${settings.natsWindow} acks outstanding -> stored in vital_signs; the publisher and nats-server share the 2 cores): ${fmtRate(nats.perSecond)} readings/s (${fmtMs(nats.elapsedMs)} ms${nats.finished ? "" : `, ${nats.stored} of ${nats.readings} stored`}) = ${natsVsBare.text} of the bare pipeline's`,
        bareLine("bare pipeline, same publishing", bareNats),
        `    JetStream acknowledged all publishes at ${fmtRate(nats.publishPerSecond)} readings/s (window waits ${nats.windowWaits}); outbox fully published ${nats.finished ? `${fmtMs(nats.outboxLagMs)} ms after the last reading was stored` : "(n/a: run not finished)"}; ≈${fmtRate(nats.commitsPer1000)} PostgreSQL commits per 1,000 readings; Vigil's CPU per reading ${fmtRate((nats.vigilCpu * nats.elapsedMs * 1000) / nats.stored)} µs; CPU ${fmtCpuShare(nats)}`
      ]),
      ...(store === undefined ? skipped("POST /store-vitals") : [
        `  POST /store-vitals (${settings.storeBatch} records per request, ${settings.storeConcurrency} in flight): ${fmtRate(store.perSecond)} readings/s (${fmtMs(store.elapsedMs)} ms${store.finished ? "" : `, ${store.stored} of ${store.readings} stored`}) = ${storeVsCopy.text} of COPY`,
        `    request ${fmtFigures(store.request)}; outbox fully published ${fmtMs(store.outboxLagMs)} ms after the last response; ≈${fmtRate(store.commitsPer1000)} PostgreSQL commits per 1,000 readings; CPU ${fmtCpuShare(store)}`
      ]),
      "",
      `alert path: readings offered over NATS, every ${settings.probeEvery}th a breach (heart_rate ${settings.breachHeartRate}); Vigil's events on a core NATS subscription on <prefix>.events.alert.>`,
      ...(reference === undefined ? skipped("alert run at 250/s") : [
        `  ${reference.targetRate} readings/s for ${reference.seconds} s (achieved ${fmtRate(reference.achievedRate)}/s), ${settings.referenceProbePatients} probe patients:`,
        `    p99 against the bare alert path's: ${referenceP99.text}; Vigil's CPU per reading against the bare pipeline's: ${cpuPerReading.text}`,
        ...alertLines(reference),
        bareAlertLine(bareReference)
      ]),
      ...(alerts === undefined ? skipped("alert run at 1,000/s") : [
        `  ${alerts.targetRate} readings/s for ${alerts.seconds} s (achieved ${fmtRate(alerts.achievedRate)}/s), ${settings.probePatients} probe patients:`,
        `    p99 against the bare alert path's: ${alertsP99.text}; Vigil's resident memory at most ${fmtRate(alerts.rssMaxMb)} MB (target < ${targets.rssMb}: ${verdict(rssMet)})`,
        ...alertLines(alerts),
        bareAlertLine(bareAlerts)
      ]),
      "",
      `CPU shares are of one core (1.00 = one core); PostgreSQL is all of its server's processes; "other" is everything else on the machine`,
      issues.length === 0 ? "every publish and request succeeded and every count added up" : `PROBLEMS (figures not trustworthy): ${issues.join("; ")}`,
      ...(issues.length === 0 ? [] : Object.entries(results.diagnostics).map(([phase, d]) => `after ${phase}: ${fmtDiagnosis(d)}`)),
      ...notes(results)
    ],
    figures: {
      readings: settings.readings,
      baselineMethod: "COPY FROM STDIN (text, pg-copy-streams)",
      baseline,
      nats: nats && { ...nats, bare: bareNats, ratio: natsVsBare.ratio, target: targets.natsRatio, met: natsVsBare.met },
      natsBacklog: drain && { ...drain, bare: bareDrain, ratio: drainVsBare.ratio, target: targets.natsRatio, met: drainVsBare.met },
      storeVitals: store && { ...store, ratio: storeVsCopy.ratio, target: targets.storeRatio, met: storeVsCopy.met },
      alerts250: reference && { ...reference, bare: bareReference, p99Ratio: referenceP99.ratio, p99Met: referenceP99.met, cpuPerReadingRatio: cpuPerReading.ratio, cpuPerReadingMet: cpuPerReading.met },
      alerts1000: alerts && { ...alerts, bare: bareAlerts, p99Ratio: alertsP99.ratio, p99Met: alertsP99.met, rssMet },
      targets,
      diagnostics: results.diagnostics,
      problems: issues
    }
  })
  return issues.length === 0
}

// ---------------------------------------------------------------------------------------------
// Main

/** BENCH_PHASES: a comma-separated subset of the phases after the baseline (all by default). */
const allPhases = ["nats", "drain", "store", "reference", "alerts"] as const
type Phase = (typeof allPhases)[number]
const phases = (): ReadonlySet<Phase> => {
  const chosen = (process.env["BENCH_PHASES"] ?? "").split(",").map((p) => p.trim()).filter((p) => p !== "")
  const unknown = chosen.filter((p) => !(allPhases as ReadonlyArray<string>).includes(p))
  if (unknown.length > 0) throw new Error(`BENCH_PHASES: unknown phase(s) ${unknown.join(", ")}; known: ${allPhases.join(", ")}`)
  return new Set(chosen.length === 0 ? allPhases : (chosen as Array<Phase>))
}

const main = async (): Promise<boolean> => {
  const run = phases()
  const names = makeNames()
  const started = await startNatsBenchmark({
    clientName: "vigil-bench-ingest",
    subjectPrefix: names.subjectPrefix,
    streamPrefix: names.streamPrefix,
    streams: { prefix: names.streamPrefix },
    readyTimeoutMs: settings.readyTimeoutMs,
    stopTimeoutMs: settings.stopTimeoutMs
  })
  const { nats, database, db } = started
  let vigil = started.vigil

  const baseline = await withTimeout("baseline", 60_000, baselineRun(db, names, vigil.child.pid))

  const people = settings.patients + settings.probePatients + settings.referenceProbePatients
  log(`setup: ${people} patients and devices through POST /patients and POST /devices`)
  const monitored = await withTimeout("setup", 60_000, createMonitored(vigil.httpUrl, names.tag, "P", people))
  const background = monitored.slice(0, settings.patients)
  const probePatients = monitored.slice(settings.patients, settings.patients + settings.probePatients)
  const referenceProbes = monitored.slice(settings.patients + settings.probePatients)
  await withTimeout("warm-up", 90_000, warmUp(db, nats, names, vigil.httpUrl, monitored))
  await createBareStream(nats, names)
  await createBareTables(db)

  const diagnostics: Record<string, Diagnosis> = {}
  const check = async (phase: string) => {
    diagnostics[phase] = await withTimeout("diagnostics", 10_000, diagnose(db, nats, names, vigil))
  }
  const bareLimit = settings.natsPhaseMs + settings.publishTimeoutMs + 60_000
  const bareNats = run.has("nats")
    ? await withTimeout("bare pipeline", bareLimit, bareNatsRun(db, nats, names, background, database.url, vigil.child.pid))
    : undefined
  const natsResult = run.has("nats")
    ? await withTimeout("NATS ingest", settings.natsPhaseMs + settings.outboxDrainMs + 30_000, natsRun(db, nats, names, background, vigil.child.pid))
    : undefined
  if (natsResult !== undefined) await check("NATS ingest")
  let drain: DrainResult | undefined
  let bareDrain: BareResult | undefined
  if (run.has("drain")) {
    bareDrain = await withTimeout("bare backlog", bareLimit, bareDrainRun(db, nats, names, background, database.url, vigil.child.pid))
    const drained = await withTimeout(
      "NATS backlog",
      settings.natsPhaseMs + settings.outboxDrainMs + 2 * settings.stopTimeoutMs + settings.readyTimeoutMs + 60_000,
      drainRun(db, nats, names, background, started.restartVigil)
    )
    vigil = drained.vigil
    drain = drained.result
    await check("NATS backlog")
  }
  const store = run.has("store")
    ? await withTimeout("store-vitals", settings.storePhaseMs + settings.outboxDrainMs + 60_000, storeRun(db, vigil, names, vigil.child.pid))
    : undefined
  if (store !== undefined) await check("store-vitals")
  /** One alert-latency run (its time limit from its length) and the bare alert path's at the same load, when BENCH_PHASES has it. */
  const alertPhase = async (phase: Phase, load: AlertLoad, probes: ReadonlyArray<Monitored>) => {
    if (!run.has(phase)) return { vigil: undefined, bare: undefined }
    const limit = settings.outboxDrainMs + (load.seconds + 5) * 1000 + settings.catchUpMs + settings.probeTimeoutMs + 30_000
    const bare = await withTimeout(`bare ${load.label}`, limit, bareAlertRun(nats, names, { ...load, label: `bare ${load.label}` }, background, database.url, vigil.child.pid))
    const result = await withTimeout(load.label, limit, alertRun(db, nats, names, load, background, probes, vigil.child.pid))
    await check(load.label)
    return { vigil: result, bare }
  }
  const reference = await alertPhase("reference", { rate: settings.referenceRate, seconds: settings.referenceSeconds, label: `alert path at ${settings.referenceRate}/s` }, referenceProbes)
  const alerts = await alertPhase("alerts", { rate: settings.alertRate, seconds: settings.alertSeconds, label: `alert path at ${settings.alertRate}/s` }, probePatients)
  if (vigil.child.hasExited()) throw childFailure(vigil.child, `exited (${await vigil.child.exited}) during the run`)

  await cleanup()
  return report({
    database: database.description,
    baseline,
    nats: natsResult,
    bareNats,
    drain,
    bareDrain,
    store,
    reference: reference.vigil,
    bareReference: reference.bare,
    alerts: alerts.vigil,
    bareAlerts: alerts.bare,
    diagnostics
  })
}

runBenchmark(main, settings.budgetMs)
