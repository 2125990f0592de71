/**
 * Events benchmark: Vigil's outbox relay to JetStream against raw JetStream publish-with-ack, in
 * one run, and the delay from a registry commit to the delivery of its event.
 *
 * Method
 * - Vigil (`node --import tsx src/main.ts`) runs in its own child process (and process group)
 *   with NATS at NATS_URL, its own subject and stream prefixes (so its three streams are new and
 *   its alone), no demo data, and a fresh database: a new `vigil_bench_<random>` database on the
 *   DATABASE_URL server when that is set (dropped at the end), otherwise an embedded PostgreSQL in
 *   a fresh temporary directory (removed at the end).
 * - Warm-up: registry writes through `POST /patients`, until the relay has published them all.
 *   The first two outbox rows (a `patient.created` event and its audit event) are the templates
 *   of every message below, so both paths carry messages of the very size and subjects Vigil's
 *   own writes produce, one event and one audit event per change.
 * - Baseline, raw JetStream (this process): two temporary streams configured like Vigil's (over
 *   `benchraw_<random>.events.>` and `.audit.>`), the same messages with a `Nats-Msg-Id` each,
 *   published with `js.publish` in windows of OUTBOX_BATCH_SIZE (500) awaited together: the
 *   relay's own pattern, without the database. After a warm-up, it is measured just before and
 *   just after the outbox throughput run; the baseline is both runs together (each is shown).
 * - Outbox throughput: the same number of outbox rows, shaped exactly as ChangeLog writes them,
 *   inserted in one transaction so they become visible to the relay at one instant; measured from
 *   the moment COMMIT is sent to the JetStream timestamp of the last of them stored on Vigil's
 *   streams: the relay's rate, its wake-up included. The rate from the first to the last stored
 *   (without the wake-up) is shown too. The HTTP write path (whose audit chain serialises
 *   writers) is not part of either.
 * - Order: warm-up, commit-to-delivery delay, raw baseline, outbox throughput, raw baseline.
 * - Commit-to-delivery delay: real writes (`POST /patients`) at a steady, open-loop rate, while a
 *   JetStream ordered consumer in this process reads `<prefix>.events.patient.created` from Vigil's
 *   events stream. Delay = receive time - the event's `time`, which is the audit row's
 *   `clock_timestamp()` taken inside the committing transaction (same machine, same clock): it
 *   overstates the delay by the rest of that transaction (and up to 1 ms of truncation). Also
 *   shown: the delay from the moment the 201 response arrived (a lower bound; the commit comes
 *   before the response), and the split at the JetStream store time. Every write must be
 *   delivered exactly once.
 * - CPU shares (Linux /proc) are recorded for the measured runs: Vigil's process, this process,
 *   nats-server, PostgreSQL's processes, and the rest of the machine (interference: the figures
 *   are then noisy, and the report says so).
 * - Load only targets 127.0.0.1 (NATS_URL and DATABASE_URL must be loopback). Every loop is
 *   bounded in count and time, every phase has a time limit, and the whole script has a budget;
 *   Vigil is stopped, the streams deleted and the database dropped at the end and on any failure.
 *
 * Prints a summary and one JSON line. Exits 1 only when something broke (a phase failed, a
 * publish or a write failed, or an event went missing or arrived twice).
 */
import { DeliverPolicy, RetentionPolicy, type StreamConfig } from "@nats-io/jetstream"
import { randomBytes, randomUUID } from "node:crypto"
import { cpus } from "node:os"
import { performance } from "node:perf_hooks"
import pg from "pg"
import { BUSY_MACHINE_CPU, childFailure, cleanup, errorMessage, figures, fmtCpu, fmtCpuShare, fmtFigures, fmtMs, fmtRate, log, maximum, measuringAllCpu, NATS_URL, percentile, printReport, redactUrl, runBenchmark, sleep, startNatsBenchmark, wallNow, withTimeout, type CpuShare, type Figures, type Nats, type Vigil } from "./support.ts"

const batchSize = (() => {
  const configured = Number(process.env["OUTBOX_BATCH_SIZE"] ?? "500")
  return Number.isInteger(configured) && configured > 0 && configured <= 10_000 ? configured : 500
})()

const settings = {
  /** The relay's batch; also the raw baseline's window (messages in flight, awaited together). */
  window: batchSize,
  /** Changes written through HTTP before anything is measured (two outbox rows each). */
  warmupChanges: 400,
  warmupConcurrency: 8,
  /** Raw baseline warm-up, not counted. */
  rawWarmupMessages: 4_000,
  /** Messages in the raw run and outbox rows in the throughput run (an even number: event + audit). */
  messages: 20_000,
  /** Outbox rows per INSERT statement (all in one transaction). */
  insertChunk: 2_000,
  /**
   * Steady write rate and duration of the latency run: modest, well below what the write path
   * (whose audit chain serialises writers) sustains on a small machine, so that the delay is the
   * relay's and not a queue of writes.
   */
  latencyRate: 100,
  latencySeconds: 15,
  /** Writes in flight at most; beyond it the open-loop schedule waits (and says so). */
  latencyMaxInFlight: 64,
  requestTimeoutMs: 5_000,
  publishTimeoutMs: 5_000,
  /** How long to wait, after the last write answered, for its event. */
  deliveryGraceMs: 10_000,
  /** Stream-state polling while waiting for the relay. */
  pollMs: 20,
  drainTimeoutMs: 60_000,
  readyTimeoutMs: 60_000,
  stopTimeoutMs: 20_000,
  /** Whole script, setup to report; cleanup after it is bounded separately. */
  budgetMs: 120_000
} as const

// ---------------------------------------------------------------------------------------------
// Small utilities (the shared ones are in bench/support.ts)

/** A JetStream timestamp ("2024-05-01T10:00:00.123456789Z") as epoch milliseconds. */
const parseNatsTime = (timestamp: string) => Date.parse(timestamp.replace(/(\.\d{3})\d+/, "$1"))

// ---------------------------------------------------------------------------------------------
// NATS

interface Names {
  /** Vigil's NATS_SUBJECT_PREFIX and NATS_STREAM_PREFIX. */
  readonly subjectPrefix: string
  readonly streamPrefix: string
  readonly eventsStream: string
  readonly auditStream: string
  /** The raw baseline's subject prefix and streams. */
  readonly rawPrefix: string
  readonly rawEventsStream: string
  readonly rawAuditStream: string
}

const makeNames = (): Names => {
  const tag = randomBytes(4).toString("hex")
  const streamPrefix = `BENCHEV_${tag.toUpperCase()}`
  const rawStreamPrefix = `BENCHRAW_${tag.toUpperCase()}`
  return {
    subjectPrefix: `benchev_${tag}`,
    streamPrefix,
    eventsStream: `${streamPrefix}_EVENTS`,
    auditStream: `${streamPrefix}_AUDIT`,
    rawPrefix: `benchraw_${tag}`,
    rawEventsStream: `${rawStreamPrefix}_EVENTS`,
    rawAuditStream: `${rawStreamPrefix}_AUDIT`
  }
}

/** Like Vigil's own streams (src/messaging/NatsBus.ts): limits retention, file storage, a two-minute duplicate window. */
const streamConfig = (name: string, subject: string, maxAgeDays: number): Partial<StreamConfig> & { name: string } => ({
  name,
  subjects: [subject],
  retention: RetentionPolicy.Limits,
  max_age: maxAgeDays * 86_400 * 1_000_000_000,
  duplicate_window: 2 * 60 * 1_000_000_000
})

interface StreamState {
  readonly messages: number
  /** Epoch ms of the newest message stored on either stream. */
  readonly lastStoredAt: number
  readonly lastSeq: { readonly events: number; readonly audit: number }
}

const streamState = async (nats: Nats, eventsStream: string, auditStream: string): Promise<StreamState> => {
  const [events, audit] = await Promise.all([nats.jsm.streams.info(eventsStream), nats.jsm.streams.info(auditStream)])
  return {
    messages: events.state.messages + audit.state.messages,
    lastStoredAt: Math.max(parseNatsTime(events.state.last_ts), parseNatsTime(audit.state.last_ts)),
    lastSeq: { events: events.state.last_seq, audit: audit.state.last_seq }
  }
}

// ---------------------------------------------------------------------------------------------
// Vigil: registry writes and their outbox rows

interface Written {
  readonly id: string
  readonly sentAt: number
  readonly respondedAt: number
}

/** One registry write; resolves with the new patient's id, or rejects. */
const createPatient = async (httpUrl: string, n: number): Promise<Written> => {
  const sentAt = wallNow()
  const response = await fetch(`${httpUrl}/patients`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ full_name: `Bench Patient ${n}`, age: 20 + (n % 70), sex: n % 2 === 0 ? "F" : "M" }),
    signal: AbortSignal.timeout(settings.requestTimeoutMs)
  })
  const body = await response.text()
  const respondedAt = wallNow()
  if (response.status !== 201) throw new Error(`POST /patients answered ${response.status}: ${body.slice(0, 200)}`)
  return { id: (JSON.parse(body) as { id: string }).id, sentAt, respondedAt }
}

const countOutbox = async (db: pg.Client) => {
  const { rows } = await db.query<{ total: string; pending: string }>(
    "SELECT count(*) AS total, count(*) FILTER (WHERE published_at IS NULL) AS pending FROM outbox"
  )
  return { total: Number(rows[0]!.total), pending: Number(rows[0]!.pending) }
}

interface Samples {
  /** [ms since start, messages on the streams] */
  readonly points: Array<readonly [number, number]>
}

/** Polls Vigil's streams until they hold `target` messages; bounded by `timeoutMs`. */
const waitForStreams = async (nats: Nats, names: Names, target: number, timeoutMs: number, samples?: Samples): Promise<StreamState> => {
  const start = performance.now()
  for (;;) {
    const state = await streamState(nats, names.eventsStream, names.auditStream)
    samples?.points.push([performance.now() - start, state.messages])
    if (state.messages >= target) return state
    if (performance.now() - start > timeoutMs) {
      throw new Error(`the relay published ${state.messages} of ${target} messages within ${timeoutMs / 1000} s`)
    }
    await sleep(settings.pollMs)
  }
}

// ---------------------------------------------------------------------------------------------
// Messages shaped like Vigil's own

interface Template {
  /** Relative subject, as in the outbox ("events.patient.created"). */
  readonly subject: string
  /** The event as the relay publishes it: JSON.stringify of the jsonb value. */
  readonly json: string
}

interface Templates {
  readonly event: Template
  readonly audit: Template
  /** Ids in the templates, replaced by fresh ones in every copy. */
  readonly patientId: string
  readonly eventId: string
  readonly auditId: string
}

/** The first change's two outbox rows: its `patient.created` event and its audit event. */
const loadTemplates = async (db: pg.Client): Promise<Templates> => {
  const { rows } = await db.query<{ subject: string; event: { id: string; subject: string } }>(
    "SELECT subject, event FROM outbox ORDER BY seq LIMIT 2"
  )
  const event = rows.find((row) => row.subject === "events.patient.created")
  const audit = rows.find((row) => row.subject === "audit.patient.created")
  if (event === undefined || audit === undefined) {
    throw new Error(`unexpected first outbox rows: ${rows.map((row) => row.subject).join(", ")}`)
  }
  return {
    event: { subject: event.subject, json: JSON.stringify(event.event) },
    audit: { subject: audit.subject, json: JSON.stringify(audit.event) },
    patientId: event.event.subject,
    eventId: event.event.id,
    auditId: audit.event.id
  }
}

interface OutboxMessage {
  readonly id: string
  readonly subject: string
  readonly json: string
}

/** `changes` changes' worth of outbox rows (event, then audit, per change), with fresh ids. */
const makeMessages = (templates: Templates, changes: number): Array<OutboxMessage> => {
  const messages: Array<OutboxMessage> = []
  for (let i = 0; i < changes; i++) {
    const patientId = randomUUID()
    const eventId = randomUUID()
    const auditId = randomUUID()
    const fill = (json: string) =>
      json.replaceAll(templates.patientId, patientId).replaceAll(templates.eventId, eventId).replaceAll(templates.auditId, auditId)
    messages.push({ id: eventId, subject: templates.event.subject, json: fill(templates.event.json) })
    messages.push({ id: auditId, subject: templates.audit.subject, json: fill(templates.audit.json) })
  }
  return messages
}

// ---------------------------------------------------------------------------------------------
// Phase: warm-up

const warmUp = async (vigil: Vigil, db: pg.Client, nats: Nats, names: Names) => {
  log(`warm-up: ${settings.warmupChanges} writes through POST /patients`)
  let next = 0
  const worker = async () => {
    while (next < settings.warmupChanges) await createPatient(vigil.httpUrl, next++)
  }
  await Promise.all(Array.from({ length: settings.warmupConcurrency }, worker))
  const { total } = await countOutbox(db)
  await waitForStreams(nats, names, total, 30_000)
}

// ---------------------------------------------------------------------------------------------
// Phase: raw JetStream baseline

interface RawRun extends CpuShare {
  readonly messages: number
  readonly perSecond: number
  readonly elapsedMs: number
  readonly failed: number
  readonly windowP99Ms: number
}

interface RawResult extends RawRun {
  /** The measured runs: one just before the outbox throughput run, one just after. */
  readonly runs: ReadonlyArray<RawRun>
}

/** The runs together: all messages over all the time; CPU shares weighted by time. */
const combineRaw = (runs: ReadonlyArray<RawRun>): RawResult => {
  const elapsedMs = runs.reduce((sum, run) => sum + run.elapsedMs, 0)
  const messages = runs.reduce((sum, run) => sum + run.messages, 0)
  const share = (key: keyof CpuShare) => runs.reduce((sum, run) => sum + run[key] * run.elapsedMs, 0) / elapsedMs
  return {
    messages,
    perSecond: messages / (elapsedMs / 1000),
    elapsedMs,
    failed: runs.reduce((sum, run) => sum + run.failed, 0),
    windowP99Ms: maximum(runs.map((run) => run.windowP99Ms)),
    benchCpu: share("benchCpu"),
    vigilCpu: share("vigilCpu"),
    bareCpu: share("bareCpu"),
    natsCpu: share("natsCpu"),
    postgresCpu: share("postgresCpu"),
    otherCpu: share("otherCpu"),
    runs
  }
}

/** Creates the baseline's streams and warms the publisher up; answers a function that does one measured run. */
const prepareRawBaseline = async (nats: Nats, names: Names, templates: Templates, vigilPid: number | undefined): Promise<() => Promise<RawRun>> => {
  await nats.jsm.streams.add(streamConfig(names.rawEventsStream, `${names.rawPrefix}.events.>`, 30))
  await nats.jsm.streams.add(streamConfig(names.rawAuditStream, `${names.rawPrefix}.audit.>`, 3650))
  const encoder = new TextEncoder()
  const prepare = (count: number) =>
    makeMessages(templates, count / 2).map((m) => ({ id: m.id, subject: `${names.rawPrefix}.${m.subject}`, data: encoder.encode(m.json) }))

  const run = async (messages: ReadonlyArray<{ id: string; subject: string; data: Uint8Array }>) => {
    let failed = 0
    const windows: Array<number> = []
    const start = performance.now()
    for (let from = 0; from < messages.length; from += settings.window) {
      const windowStart = performance.now()
      const acks = await Promise.allSettled(
        messages.slice(from, from + settings.window).map((m) =>
          nats.js.publish(m.subject, m.data, { msgID: m.id, timeout: settings.publishTimeoutMs })
        )
      )
      failed += acks.filter((ack) => ack.status === "rejected" || ack.value.duplicate).length
      windows.push(performance.now() - windowStart)
    }
    return { elapsedMs: performance.now() - start, failed, windowP99Ms: percentile(windows, 99) }
  }

  log(`raw JetStream: warm-up ${settings.rawWarmupMessages} messages`)
  await run(prepare(settings.rawWarmupMessages))
  return async () => {
    const messages = prepare(settings.messages)
    log(`raw JetStream: measuring ${messages.length} messages, windows of ${settings.window}`)
    const { result, cpu } = await measuringAllCpu(vigilPid, () => run(messages))
    return { messages: messages.length, perSecond: messages.length / (result.elapsedMs / 1000), ...result, ...cpu }
  }
}

// ---------------------------------------------------------------------------------------------
// Phase: commit-to-delivery delay under steady writes

interface Delivery {
  readonly receivedAt: number
  readonly eventTime: number
  readonly storedAt: number
}

interface LatencyResult extends CpuShare {
  readonly targetRate: number
  readonly attempted: number
  readonly written: number
  readonly failedWrites: number
  readonly achievedRate: number
  /** Sends that waited for the in-flight limit (the schedule fell behind). */
  readonly throttled: number
  readonly delivered: number
  readonly missing: number
  readonly duplicates: number
  /** receive - event time (≈ commit): the headline. */
  readonly commitToDelivery: Figures
  /** receive - 201 response arrival: a lower bound. */
  readonly responseToDelivery: Figures
  /** JetStream store time - event time: the relay's share. */
  readonly commitToStored: Figures
  /** receive - JetStream store time: the consumer's share. */
  readonly storedToDelivery: Figures
  readonly httpWrite: Figures
}

const latencyRun = async (vigil: Vigil, nats: Nats, names: Names): Promise<LatencyResult> => {
  const deliveries = new Map<string, Delivery>()
  let duplicates = 0
  const consumer = await nats.js.consumers.get(names.eventsStream, {
    // A single subject as a string: a filter_subject, which servers before 2.10 accept too.
    filter_subjects: `${names.subjectPrefix}.events.patient.created`,
    deliver_policy: DeliverPolicy.New
  })
  const messages = await consumer.consume()
  const reading = (async () => {
    for await (const message of messages) {
      const receivedAt = wallNow()
      const event = message.json<{ subject: string; time: string }>()
      if (deliveries.has(event.subject)) duplicates++
      else {
        deliveries.set(event.subject, {
          receivedAt,
          eventTime: Date.parse(event.time),
          storedAt: Number(message.info.timestampNanos) / 1e6
        })
      }
    }
  })()

  try {
    const total = settings.latencyRate * settings.latencySeconds
    const interval = 1000 / settings.latencyRate
    const written: Array<Written> = []
    let failedWrites = 0
    let firstFailure: string | undefined
    let inFlight = 0
    let throttled = 0
    let attempted = 0
    const pending: Array<Promise<void>> = []
    log(`latency: ${settings.latencyRate} writes/s for ${settings.latencySeconds} s through POST /patients`)
    const { result: sendElapsedMs, cpu } = await measuringAllCpu(vigil.child.pid, async () => {
      const start = performance.now()
      const stopAt = start + settings.latencySeconds * 1000 + 5_000
      for (let i = 0; i < total && performance.now() < stopAt; i++) {
        const wait = start + i * interval - performance.now()
        if (wait > 0) await sleep(wait)
        if (inFlight >= settings.latencyMaxInFlight) {
          throttled++
          while (inFlight >= settings.latencyMaxInFlight && performance.now() < stopAt) await sleep(1)
        }
        inFlight++
        attempted++
        pending.push(createPatient(vigil.httpUrl, settings.warmupChanges + i).then(
          (w) => {
            written.push(w)
          },
          (error: unknown) => {
            failedWrites++
            firstFailure ??= errorMessage(error)
          }
        ).finally(() => {
          inFlight--
        }))
      }
      const sentFor = performance.now() - start
      await Promise.all(pending)
      return sentFor
    })
    if (firstFailure !== undefined) log(`latency: ${failedWrites} writes failed; first: ${firstFailure}`)

    // Every written change's event must arrive; bounded wait.
    const graceUntil = performance.now() + settings.deliveryGraceMs
    while (written.some((w) => !deliveries.has(w.id)) && performance.now() < graceUntil) await sleep(50)
    await sleep(200) // a late duplicate would show up by now

    const matched = written.flatMap((w) => {
      const delivery = deliveries.get(w.id)
      return delivery === undefined ? [] : [{ ...w, ...delivery }]
    })
    return {
      targetRate: settings.latencyRate,
      attempted,
      written: written.length,
      failedWrites,
      achievedRate: attempted / (sendElapsedMs / 1000),
      throttled,
      delivered: matched.length,
      missing: written.length - matched.length,
      duplicates,
      commitToDelivery: figures(matched.map((m) => m.receivedAt - m.eventTime)),
      responseToDelivery: figures(matched.map((m) => m.receivedAt - m.respondedAt)),
      commitToStored: figures(matched.map((m) => m.storedAt - m.eventTime)),
      storedToDelivery: figures(matched.map((m) => m.receivedAt - m.storedAt)),
      httpWrite: figures(written.map((w) => w.respondedAt - w.sentAt)),
      ...cpu
    }
  } finally {
    await messages.close().catch(() => undefined)
    await withTimeout("consumer close", 5_000, reading).catch(() => undefined)
  }
}

// ---------------------------------------------------------------------------------------------
// Phase: outbox throughput (relay drain rate)

interface DrainResult extends CpuShare {
  readonly messages: number
  /** M / (last message stored - COMMIT sent). */
  readonly perSecond: number
  readonly elapsedMs: number
  readonly insertMs: number
  readonly commitMs: number
  /** COMMIT sent to the first of these rows stored on JetStream: the relay's wake-up. */
  readonly firstStoredMs: number
  /** M / (last stored - first stored): the drain rate once the relay is awake. */
  readonly drainPerSecond: number
  /** Rate between 10 % and 90 % of the rows, from stream-state samples. */
  readonly steadyPerSecond: number
  /** Rates in the first and last half of the run, to show a slow-down as the outbox grows. */
  readonly firstHalfPerSecond: number
  readonly secondHalfPerSecond: number
  readonly extraMessages: number
  readonly pendingAfter: number
}

const drainRun = async (vigil: Vigil, db: pg.Client, nats: Nats, names: Names, templates: Templates): Promise<DrainResult> => {
  const before = await countOutbox(db)
  if (before.pending !== 0) await waitForStreams(nats, names, before.total, 30_000)
  const base = await streamState(nats, names.eventsStream, names.auditStream)
  if (base.messages !== before.total) throw new Error(`streams hold ${base.messages} messages but the outbox has ${before.total} rows`)

  const rows = makeMessages(templates, settings.messages / 2)
  log(`throughput: inserting ${rows.length} outbox rows in one transaction`)
  const insertStart = performance.now()
  await db.query("BEGIN")
  try {
    for (let from = 0; from < rows.length; from += settings.insertChunk) {
      const chunk = rows.slice(from, from + settings.insertChunk)
      await db.query(
        "INSERT INTO outbox (event_id, subject, event) SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[])",
        [chunk.map((r) => r.id), chunk.map((r) => r.subject), chunk.map((r) => r.json)]
      )
    }
  } catch (error) {
    await db.query("ROLLBACK").catch(() => undefined)
    throw error
  }
  const insertMs = performance.now() - insertStart

  const target = base.messages + rows.length
  const samples: Samples = { points: [] }
  log(`throughput: committing; waiting for the relay to publish them`)
  const { result, cpu } = await measuringAllCpu(vigil.child.pid, async () => {
    const commitSent = wallNow()
    const commitStart = performance.now()
    await db.query("COMMIT")
    const commitMs = performance.now() - commitStart
    const done = await waitForStreams(nats, names, target, settings.drainTimeoutMs, samples)
    return { commitSent, commitMs, done }
  })
  const { commitSent, commitMs, done } = result
  const elapsedMs = done.lastStoredAt - commitSent

  // The first of these rows on either stream, by JetStream's store time.
  const firsts = await Promise.all([
    nats.jsm.streams.getMessage(names.eventsStream, { seq: base.lastSeq.events + 1 }),
    nats.jsm.streams.getMessage(names.auditStream, { seq: base.lastSeq.audit + 1 })
  ])
  const firstStoredAt = Math.min(...firsts.map((m) => (m === null ? Number.POSITIVE_INFINITY : parseNatsTime(m.timestamp))))

  // Stream-state samples: time at which a given share of the rows had been stored.
  const timeAt = (share: number) => {
    const count = base.messages + share * rows.length
    const point = samples.points.find(([, n]) => n >= count)
    return point === undefined ? Number.NaN : point[0]
  }
  const rateBetween = (from: number, to: number) => ((to - from) * rows.length) / ((timeAt(to) - timeAt(from)) / 1000)

  await sleep(300) // anything published twice would have shown up by now
  const after = await streamState(nats, names.eventsStream, names.auditStream)
  const { pending } = await countOutbox(db)
  return {
    messages: rows.length,
    perSecond: rows.length / (elapsedMs / 1000),
    elapsedMs,
    insertMs,
    commitMs,
    firstStoredMs: firstStoredAt - commitSent,
    drainPerSecond: rows.length / ((done.lastStoredAt - firstStoredAt) / 1000),
    steadyPerSecond: rateBetween(0.1, 0.9),
    firstHalfPerSecond: rateBetween(0.05, 0.5),
    secondHalfPerSecond: rateBetween(0.5, 0.95),
    extraMessages: after.messages - target,
    pendingAfter: pending,
    ...cpu
  }
}

// ---------------------------------------------------------------------------------------------
// Report

interface Results {
  readonly database: string
  readonly messageBytes: { readonly event: number; readonly audit: number }
  readonly raw: RawResult
  readonly drain: DrainResult
  readonly latency: LatencyResult
}

const problems = ({ raw, drain, latency }: Results): Array<string> => [
  ...(raw.failed > 0 ? [`raw JetStream: ${raw.failed} publishes failed or were reported duplicate`] : []),
  ...(drain.extraMessages !== 0 ? [`outbox: the streams hold ${drain.extraMessages} messages more than the outbox rows`] : []),
  ...(drain.pendingAfter !== 0 ? [`outbox: ${drain.pendingAfter} rows not stamped published after their messages were stored`] : []),
  ...(latency.failedWrites > 0 ? [`latency: ${latency.failedWrites} of ${latency.attempted} writes failed`] : []),
  ...(latency.missing > 0 ? [`latency: ${latency.missing} of ${latency.written} events not delivered within ${settings.deliveryGraceMs / 1000} s of the last write`] : []),
  ...(latency.duplicates > 0 ? [`latency: ${latency.duplicates} events delivered twice`] : []),
  ...(latency.written === 0 ? ["latency: no write succeeded"] : [])
]

/** Above this, the relay was not woken by the commit but found the rows on its poll. */
const SLOW_WAKE_MS = 200

const notes = ({ raw, drain, latency }: Results): Array<string> => [
  ...(cpus().length < 4
    ? [`note: ${cpus().length} cores for Vigil, PostgreSQL, NATS and this process together; the outbox path runs three busy processes, the baseline one (NATS) plus this process`]
    : []),
  ...(raw.benchCpu > 0.9
    ? [`note: the raw baseline used ${fmtCpu(raw.benchCpu)} of a core in this process: it is one nats.js client's limit, as the relay (one nats.js client in Vigil) is`]
    : []),
  ...(latency.commitToStored.p50 > SLOW_WAKE_MS || drain.firstStoredMs > SLOW_WAKE_MS
    ? [`note: events waited for the relay: commit -> stored p50 ${fmtMs(latency.commitToStored.p50)} ms, first row of the bulk commit ${fmtMs(drain.firstStoredMs)} ms; a relay woken by the commit's NOTIFY takes a few ms, one finding rows on its poll (OUTBOX_POLL_INTERVAL, default 1 s) up to the interval`]
    : []),
  ...([["raw baseline", raw], ["outbox throughput", drain], ["latency run", latency]] as const).flatMap(([name, run]) =>
    run.otherCpu > BUSY_MACHINE_CPU || (name === "raw baseline" && run.postgresCpu > BUSY_MACHINE_CPU)
      ? [`note: ${name}: other processes used ${fmtCpu(run.otherCpu)} of a core (PostgreSQL ${fmtCpu(run.postgresCpu)}); on a busy machine the figures are noisy`]
      : []
  ),
  ...(latency.throttled > 0 ? [`note: latency: ${latency.throttled} sends waited for the ${settings.latencyMaxInFlight}-write in-flight limit; the rate was not held`] : [])
]

const report = (results: Results): boolean => {
  const { raw, drain, latency } = results
  const ratio = drain.perSecond / raw.perSecond
  const drainRatio = drain.drainPerSecond / raw.perSecond
  const issues = problems(results)
  printReport({
    benchmark: "events",
    environment: `; NATS ${redactUrl(NATS_URL)}`,
    database: results.database,
    lines: [
      `messages: Vigil's own patient.created event (${results.messageBytes.event} bytes) and its audit event (${results.messageBytes.audit} bytes), alternating, each with a Nats-Msg-Id; batch/window ${settings.window}`,
      "",
      `throughput, ${drain.messages} messages:`,
      `  raw JetStream publish-with-ack (windows of ${settings.window} awaited together): ${fmtRate(raw.perSecond)} msgs/s (runs before/after the outbox run: ${raw.runs.map((run) => fmtRate(run.perSecond)).join(" / ")}; window p99 ${fmtMs(raw.windowP99Ms)} ms; CPU ${fmtCpuShare(raw)})`,
      `  Vigil outbox -> JetStream (rows committed at once, COMMIT sent -> last stored): ${fmtRate(drain.perSecond)} events/s (${fmtMs(drain.elapsedMs)} ms; CPU ${fmtCpuShare(drain)})`,
      `  ratio outbox / raw: ${ratio.toFixed(2)}`,
      `  of which: relay wake-up (COMMIT sent -> first stored) ${fmtMs(drain.firstStoredMs)} ms, then drain (first -> last stored) ${fmtRate(drain.drainPerSecond)} events/s = ratio ${drainRatio.toFixed(2)} of raw`,
      `  relay detail: COMMIT took ${fmtMs(drain.commitMs)} ms; rate 10-90 % ${fmtRate(drain.steadyPerSecond)} events/s; first half ${fmtRate(drain.firstHalfPerSecond)}, second half ${fmtRate(drain.secondHalfPerSecond)} events/s; the insert took ${fmtMs(drain.insertMs)} ms (not counted)`,
      "",
      `commit -> delivery, ${latency.targetRate} writes/s for ${settings.latencySeconds} s via POST /patients (achieved ${fmtRate(latency.achievedRate)}/s), JetStream ordered consumer on ${"<prefix>"}.events.patient.created:`,
      `  delay from the event's time (clock_timestamp() in the committing transaction): ${fmtFigures(latency.commitToDelivery)}`,
      `  delay from the 201 response (lower bound; commit precedes it): ${fmtFigures(latency.responseToDelivery)}`,
      `  split: event time -> stored on JetStream ${fmtFigures(latency.commitToStored)}; stored -> delivered ${fmtFigures(latency.storedToDelivery)}`,
      `  POST /patients latency: ${fmtFigures(latency.httpWrite)}; CPU ${fmtCpuShare(latency)}`,
      `  writes ${latency.written} of ${latency.attempted} succeeded; events delivered ${latency.delivered} of ${latency.written}; duplicates ${latency.duplicates}`,
      "",
      `CPU shares are of one core (1.00 = one core); PostgreSQL is all of its server's processes; "other" is everything else on the machine`,
      issues.length === 0 ? "every publish, write and delivery succeeded" : `PROBLEMS (figures not trustworthy): ${issues.join("; ")}`,
      ...notes(results)
    ],
    figures: {
      batchSize: settings.window,
      messageBytes: results.messageBytes,
      throughput: { raw, outbox: drain, ratio, drainRatio },
      latency,
      p99CommitToDeliveryMs: latency.commitToDelivery.p99,
      problems: issues
    }
  })
  return issues.length === 0
}

// ---------------------------------------------------------------------------------------------
// Main

const main = async (): Promise<boolean> => {
  const names = makeNames()
  const { nats, database, vigil, db } = await startNatsBenchmark({
    clientName: "vigil-bench-events",
    subjectPrefix: names.subjectPrefix,
    streamPrefix: names.streamPrefix,
    streams: [
      names.rawEventsStream,
      names.rawAuditStream,
      ...["INGEST", "EVENTS", "AUDIT"].map((suffix) => `${names.streamPrefix}_${suffix}`)
    ],
    env: { OUTBOX_BATCH_SIZE: String(settings.window) },
    readyTimeoutMs: settings.readyTimeoutMs,
    stopTimeoutMs: settings.stopTimeoutMs
  })

  await withTimeout("warm-up", 45_000, warmUp(vigil, db, nats, names))
  const templates = await loadTemplates(db)
  const latency = await withTimeout(
    "latency run",
    (settings.latencySeconds + 5) * 1000 + settings.deliveryGraceMs + 10_000,
    latencyRun(vigil, nats, names)
  )
  // The baseline is measured just before and just after the outbox run, so that drift in the
  // machine's load shows as a spread between the two instead of skewing the ratio unseen.
  const measureRaw = await withTimeout("raw JetStream warm-up", 20_000, prepareRawBaseline(nats, names, templates, vigil.child.pid))
  const rawBefore = await withTimeout("raw JetStream baseline", 20_000, measureRaw())
  const drain = await withTimeout("outbox throughput", settings.drainTimeoutMs + 30_000, drainRun(vigil, db, nats, names, templates))
  const rawAfter = await withTimeout("raw JetStream baseline", 20_000, measureRaw())
  const raw = combineRaw([rawBefore, rawAfter])
  if (vigil.child.hasExited()) throw childFailure(vigil.child, `exited (${await vigil.child.exited}) during the run`)

  await cleanup()
  return report({
    database: database.description,
    messageBytes: { event: Buffer.byteLength(templates.event.json), audit: Buffer.byteLength(templates.audit.json) },
    raw,
    drain,
    latency
  })
}

runBenchmark(main, settings.budgetMs)
