/**
 * Cluster benchmark (issue 16): what scale-out costs. In one run, on one database and one NATS:
 *
 * - NATS ingest with one Vigil process, then with three (the same database; the two new
 *   processes join as runners and take two thirds of the shards, so two thirds of the monitor
 *   calls cross to another process): readings/s from the first publish until every reading is
 *   stored and every patient's monitor has evaluated through its last reading. The figure is the
 *   ratio three / one (target: at least 0.8 on this 2-core machine; all the processes, the
 *   publisher, nats-server and PostgreSQL share the cores).
 * - A `PatientMonitor` call answered by another process against one answered in the same
 *   process: `GET /api/v1/patients/{id}/snapshot` (one monitor call) through the first process, one
 *   request in flight, alternating a patient whose monitor is local and one whose monitor is on
 *   another process (found from the shard's advisory lock holder, whose connection is named
 *   `vigil-<pid>`). p50/p99 of each and their difference: the hop over NATS.
 *
 * Method details: 200 patients with one device each, made through `POST /patients` and
 * `POST /devices`; readings in range for the default profile (so alerting does not dominate),
 * round-robin over the devices; at most 1,000 publishes unacknowledged; a warm-up reading per
 * device before each measured phase (activating every device actor and monitor where it now
 * lives). Each phase is bounded to 60 s.
 *
 * Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:cluster` (NATS_URL
 * defaults to 127.0.0.1:4222). DATABASE_URL is required: three processes need one server, which
 * the embedded PostgreSQL of one process is not; a fresh database is made on it and dropped.
 */
import { randomBytes, randomUUID } from "node:crypto"
import { performance } from "node:perf_hooks"
import { cleanup, fmtMs, fmtRate, log, NATS_URL, percentile, printReport, runBenchmark, sleep, startNatsBenchmark, startVigil, type Vigil } from "./support.ts"

const settings = {
  patients: Number(process.env["BENCH_PATIENTS"] ?? 200),
  readings: Number(process.env["BENCH_READINGS"] ?? 20_000),
  calls: Number(process.env["BENCH_CALLS"] ?? 2_000),
  phaseMs: 60_000,
  budgetMs: 8 * 60_000
}
const targets = { ingestRatio: 0.8 } as const

const postJson = async (url: string, body: unknown) => {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(15_000) })
  if (response.status !== 201) throw new Error(`POST ${url}: ${response.status} ${await response.text()}`)
  return (await response.json()) as { id: string }
}

/** The cluster's shard of an entity id: @effect/cluster's string hash (its internal/hash.ts) over 300 shards. */
const shardOf = (id: string) => {
  let h = 5381
  for (let i = id.length; i > 0;) h = (h * 33) ^ id.charCodeAt(--i)
  h = (h & 0xbfffffff) | ((h >>> 1) & 0x40000000)
  return Math.abs(h % 300) + 1
}

const main = async () => {
  if ((process.env["DATABASE_URL"] ?? "") === "") throw new Error("bench:cluster runs three processes on one database: set DATABASE_URL (127.0.0.1)")
  const tag = randomBytes(4).toString("hex")
  const subjectPrefix = `bench_cluster_${tag}`
  const streamPrefix = `BENCH_CLUSTER_${tag.toUpperCase()}`
  const bench = await startNatsBenchmark({
    clientName: "bench-cluster",
    subjectPrefix,
    streamPrefix,
    streams: { prefix: streamPrefix },
    readyTimeoutMs: 60_000,
    stopTimeoutMs: 20_000
  })
  const { db, nats } = bench
  const first = bench.vigil
  const devices: Array<{ patientId: string; deviceId: string }> = []
  for (let i = 0; i < settings.patients; i++) {
    const patient = await postJson(`${first.httpUrl}/patients`, { full_name: `Bench ${i}`, age: 50, sex: "F" })
    const device = await postJson(`${first.httpUrl}/devices`, { serial: `BC-${tag}-${i}`, firmware: "v1", patient_id: patient.id })
    devices.push({ patientId: patient.id, deviceId: device.id })
  }
  const encoder = new TextEncoder()
  let clock = Date.now() - 10_000_000
  const reading = (deviceId: string) => ({
    subject: `${subjectPrefix}.ingest.vitals.${deviceId}`,
    data: encoder.encode(JSON.stringify({ reading_id: randomUUID(), measured_at: new Date(clock += 100).toISOString(), heart_rate: 72, spo2: 97 }))
  })
  const stored = async () => Number((await db.query("SELECT count(*) AS n FROM vital_signs")).rows[0].n)

  /** Publishes `messages` (1,000 unacknowledged at most) and waits until all are stored and evaluated. */
  const ingest = async (label: string, messages: ReadonlyArray<{ subject: string; data: Uint8Array }>, via: ReadonlyArray<Vigil>) => {
    const before = await stored()
    const started = performance.now()
    let next = 0
    await Promise.all(Array.from({ length: 1000 }, async () => {
      while (next < messages.length) {
        const { data, subject } = messages[next++]!
        await nats.js.publish(subject, data, { timeout: 30_000 })
      }
    }))
    const deadline = started + settings.phaseMs
    while ((await stored()) < before + messages.length && performance.now() < deadline) await sleep(50)
    const storedAt = performance.now()
    // Evaluated: every monitor through its patient's last stored reading.
    const { rows } = await db.query("SELECT patient_id::text AS patient_id, max(seq)::text AS seq FROM vital_signs GROUP BY 1")
    const last = new Map(rows.map((r) => [r.patient_id as string, Number(r.seq)]))
    let behind = devices.map((d) => d.patientId)
    while (behind.length > 0 && performance.now() < deadline) {
      const answers = await Promise.all(behind.map(async (patientId, i) => {
        const response = await fetch(`${via[i % via.length]!.httpUrl}/api/v1/patients/${patientId}/snapshot`).catch(() => undefined)
        const body = response?.status === 200 ? (await response.json()) as { evaluated_through: number } : undefined
        return body !== undefined && body.evaluated_through >= (last.get(patientId) ?? 0)
      }))
      behind = behind.filter((_, i) => !answers[i])
      if (behind.length > 0) await sleep(100)
    }
    const seconds = (performance.now() - started) / 1000
    const count = (await stored()) - before
    log(`${label}: ${count} readings stored in ${((storedAt - started) / 1000).toFixed(1)} s, evaluated after ${seconds.toFixed(1)} s${behind.length > 0 ? ` (${behind.length} monitors still behind at the deadline)` : ""}`)
    return behind.length > 0 ? Number.NaN : count / seconds
  }
  const warmUp = (via: ReadonlyArray<Vigil>) => ingest("warm-up", devices.map((d) => reading(d.deviceId)), via)
  const load = () => Array.from({ length: settings.readings }, (_, i) => reading(devices[i % devices.length]!.deviceId))

  await warmUp([first])
  const one = await ingest("one process", load(), [first])

  const env = { SEED_DEMO_DATA: "false", NATS_URL, NATS_SUBJECT_PREFIX: subjectPrefix, NATS_STREAM_PREFIX: streamPrefix }
  const others: Array<Vigil> = []
  for (let i = 0; i < 2; i++) {
    others.push(await startVigil({ database: bench.database, env, describe: ({ port }) => `runner ${i + 2}, REST ${port}`, readyTimeoutMs: 60_000, stopTimeoutMs: 20_000 }))
  }
  const all = [first, ...others]
  // Wait until the shards are spread over the three.
  const pids = all.map((v) => v.child.pid)
  const owners = async () => {
    const { rows } = await db.query(`
      SELECT l.objid::int - 1000000 AS shard, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.objid BETWEEN 1000001 AND 1000300 AND a.datname = current_database()`)
    return new Map(rows.map((r) => [Number(r.shard), pids.indexOf(Number(String(r.application_name).replace("vigil-", "")))]))
  }
  const spreadBy = performance.now() + 30_000
  let shards = await owners()
  while (!(shards.size === 300 && new Set(shards.values()).size === 3 && ![...shards.values()].includes(-1)) && performance.now() < spreadBy) {
    await sleep(250)
    shards = await owners()
  }
  log(`shards held: ${[0, 1, 2].map((i) => [...shards.values()].filter((o) => o === i).length).join(" / ")}`)
  await warmUp(all)
  const three = await ingest("three processes", load(), all)

  // A monitor call through the first process: local against remote.
  shards = await owners()
  const local = devices.filter((d) => shards.get(shardOf(d.patientId)) === 0)
  const remote = devices.filter((d) => { const o = shards.get(shardOf(d.patientId)); return o !== undefined && o > 0 })
  const timings = { local: [] as Array<number>, remote: [] as Array<number> }
  for (let i = 0; i < settings.calls && local.length > 0 && remote.length > 0; i++) {
    const kind = i % 2 === 0 ? "local" : "remote"
    const { patientId } = (kind === "local" ? local : remote)[Math.floor(i / 2) % (kind === "local" ? local : remote).length]!
    const t = performance.now()
    const response = await fetch(`${first.httpUrl}/api/v1/patients/${patientId}/snapshot`)
    await response.arrayBuffer()
    if (response.status === 200) timings[kind].push(performance.now() - t)
  }
  const p = (values: Array<number>, q: number) => percentile(values, q)
  const ratio = three / one
  // Stops the processes (SIGTERM), drops the database and the streams, before the report.
  await cleanup()
  printReport({
    benchmark: "cluster",
    environment: `; NATS ${NATS_URL}`,
    database: bench.database.description,
    lines: [
      `NATS ingest, stored and evaluated (${settings.readings} readings over ${settings.patients} patients):`,
      `  one process      ${fmtRate(one)} readings/s`,
      `  three processes  ${fmtRate(three)} readings/s   ratio ${ratio.toFixed(2)} (target >= ${targets.ingestRatio})`,
      `PatientMonitor call through the first process (GET snapshot, one in flight; ${local.length} local and ${remote.length} remote monitors):`,
      `  same process     p50 ${fmtMs(p(timings.local, 50))} / p99 ${fmtMs(p(timings.local, 99))} ms (${timings.local.length} calls)`,
      `  other process    p50 ${fmtMs(p(timings.remote, 50))} / p99 ${fmtMs(p(timings.remote, 99))} ms (${timings.remote.length} calls)`,
      `  the hop over NATS: p50 +${fmtMs(p(timings.remote, 50) - p(timings.local, 50))} ms, p99 +${fmtMs(p(timings.remote, 99) - p(timings.local, 99))} ms`
    ],
    figures: {
      ingestOne: one,
      ingestThree: three,
      ingestRatio: ratio,
      localP50: p(timings.local, 50),
      localP99: p(timings.local, 99),
      remoteP50: p(timings.remote, 50),
      remoteP99: p(timings.remote, 99)
    }
  })
  return Number.isFinite(ratio)
}

runBenchmark(main, settings.budgetMs)
