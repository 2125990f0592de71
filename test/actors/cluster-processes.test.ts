/**
 * Vigil as one cluster of three real processes (`node --import tsx src/main.ts`) on one
 * PostgreSQL and one NATS: every process is a runner, the shards are spread over the three, each
 * patient's `PatientMonitor` lives once in the whole cluster whichever process a reading comes
 * through, NATS ingest keeps each device's order through a SIGKILL of its consumer, and a process
 * killed, stopped or restarted (all three in turn) moves its entities to the others without a
 * lost, doubled or reordered evaluation.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { jetstream } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { randomUUID } from "node:crypto"
import pg from "pg"
import { until } from "../support/eventually.ts"
import { deleteStreams, freePort, requireNats, resolveNats, unique } from "../support/nats-server.ts"
import { createDatabase, databaseUrl, dropDatabase } from "../support/test-database.ts"
import { type VigilProcess, vigilProcess } from "../support/vigil-process.ts"

const nats = await resolveNats()
const runNats = requireNats(nats, "Vigil as a cluster of processes")
const natsUrl = nats.available ? nats.url : ""

const PATIENTS = 12
/** The NATS ingest under load: devices, readings per device, readings a second in all, readings per block. */
const LOAD_PATIENTS = 15
const LOAD_READINGS = 400
const RATE = 1000
const BLOCK = 5

/** The cluster's shard of a singleton or entity id: @effect/cluster's own string hash (its internal/hash.ts), over 300 shards. */
const shardOf = (id: string) => {
  let h = 5381
  for (let i = id.length; i > 0;) h = (h * 33) ^ id.charCodeAt(--i)
  h = (h & 0xbfffffff) | ((h >>> 1) & 0x40000000)
  return Math.abs(h % 300) + 1
}
/** Consecutive breaching readings before an alert: counted by one monitor, or by none if each process had its own. */
const SUSTAINED = 3

describe.skipIf(!runNats)("Vigil as a cluster of processes", () => {
  let database = ""
  const subjectPrefix = unique("cluster").toLowerCase()
  const streamPrefix = unique("CLUSTER").toUpperCase()
  let db: pg.Client
  let nc: NatsConnection
  const ports: Array<number> = []
  const processes: Array<VigilProcess> = []
  const patients: Array<{ patientId: string; deviceId: string }> = []

  const call = async (process: number, method: string, path: string, body?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${ports[process]}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(15_000)
    })
    return { status: response.status, body: await response.json().catch(() => undefined) as any }
  }

  const reading = (process: number, deviceId: string, heartRate: number) =>
    call(process, "POST", `/api/v1/devices/${deviceId}/readings`, { reading_id: randomUUID(), heart_rate: heartRate })

  /**
   * Every patient's alerts are exactly those of its readings (a second apart from `t0`, in blocks
   * of BLOCK breaching then BLOCK in range) in publish order: one alert per breaching block, over
   * the whole block, resolved by the block in range after it.
   */
  const expectAlertHistories = async (devices: ReadonlyArray<{ patientId: string }>, t0: number, readings: number) => {
    const expected = Array.from({ length: readings / BLOCK / 2 }, (_, k) => ({
      last_seen: new Date(t0 + (2 * k * BLOCK + BLOCK - 1) * 1000).toISOString(),
      count: BLOCK,
      peak: 130 + BLOCK - 1,
      status: "resolved"
    }))
    const { rows } = await db.query(`
      SELECT patient_id::text, last_seen, count, peak, status FROM alerts
      WHERE patient_id = ANY($1::uuid[]) ORDER BY patient_id, last_seen`, [devices.map((d) => d.patientId)])
    for (const { patientId } of devices) {
      const history = rows.filter((r) => r.patient_id === patientId).map(({ count, last_seen, peak, status }) =>
        ({ last_seen: new Date(last_seen).toISOString(), count, peak, status }))
      expect(history, `alerts of ${patientId}`).toEqual(expected)
    }
  }

  /** Waits until three runners are healthy with a fresh heartbeat. */
  const threeHealthy = () =>
    until("three healthy runners", 30_000, async () => {
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM vigil_cluster_runners WHERE healthy AND last_heartbeat > now() - interval '12 seconds'`)
      return rows[0].n === 3 ? true : undefined
    })

  /** `count` patients, each with one device, made through the first two processes. */
  const makeDevices = async (label: string, count: number) => {
    const devices: Array<{ patientId: string; deviceId: string }> = []
    for (let i = 0; i < count; i++) {
      const patient = await call(0, "POST", "/patients", { full_name: `${label} ${i}`, age: 50, sex: "F" })
      const device = await call(1, "POST", "/devices", { serial: unique(label.slice(0, 2).toUpperCase()), firmware: "v1", patient_id: patient.body.id })
      devices.push({ patientId: patient.body.id, deviceId: device.body.id })
    }
    return devices
  }

  beforeAll(async () => {
    database = await createDatabase()
    db = new pg.Client({ connectionString: databaseUrl(database) })
    await db.connect()
    nc = await connect({ servers: natsUrl })
    for (let i = 0; i < 3; i++) {
      ports.push(await freePort())
      processes.push(vigilProcess(ports[i]!, {
        DATABASE_URL: databaseUrl(database),
        NATS_URL: natsUrl,
        NATS_SUBJECT_PREFIX: subjectPrefix,
        NATS_STREAM_PREFIX: streamPrefix,
        ALERT_SUSTAINED_READINGS: String(SUSTAINED)
      }))
    }
    // The first one migrates an empty database; the other two join it at once.
    await processes[0]!.start()
    await Promise.all(processes.slice(1).map((p) => p.start()))
    for (let i = 0; i < PATIENTS; i++) {
      const patient = await call(i % 3, "POST", "/patients", { full_name: `Clustered ${i}`, age: 40 + i, sex: "F" })
      expect(patient.status).toBe(201)
      const device = await call(i % 3, "POST", "/devices", { serial: unique("CL"), firmware: "v1", patient_id: patient.body.id })
      expect(device.status).toBe(201)
      patients.push({ patientId: patient.body.id, deviceId: device.body.id })
    }
  }, 120_000)

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill("SIGTERM")))
    await nc?.close()
    await db?.end()
    await deleteStreams(natsUrl, streamPrefix)
    await dropDatabase(database)
  }, 60_000)

  it("spreads the shards over three runners, each holding its own", async () => {
    const runners = await until("three healthy runners holding shards", 30_000, async () => {
      const { rows } = await db.query(`SELECT address FROM vigil_cluster_runners WHERE healthy`)
      const { rows: locks } = await db.query(`
        SELECT l.pid, count(*)::int AS shards FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND a.datname = current_database() AND l.objid BETWEEN 1000001 AND 1000300 GROUP BY l.pid`)
      const holding = locks.filter((l) => l.shards > 0)
      return rows.length === 3 && holding.length === 3 && holding.reduce((n, l) => n + l.shards, 0) === 300 ? rows : undefined
    })
    expect(new Set(runners.map((r) => r.address)).size).toBe(3)
  }, 60_000)

  it("runs one monitor per patient in the whole cluster, whichever process a reading comes through", async () => {
    for (const { deviceId, patientId } of patients) {
      // The breaching readings come through the three processes in turn: one monitor counts them all.
      for (let i = 0; i < SUSTAINED; i++) {
        const answer = await reading(i % 3, deviceId, 150)
        expect(answer.status, JSON.stringify(answer.body)).toBe(201)
        expect(answer.body.patient_id).toBe(patientId)
        expect(answer.body.alerts.raised.length, `reading ${i + 1} of ${SUSTAINED} for ${patientId}`).toBe(i === SUSTAINED - 1 ? 1 : 0)
      }
    }
    const { rows } = await db.query(`SELECT patient_id, count(*)::int AS n FROM alerts GROUP BY patient_id`)
    expect(rows).toHaveLength(PATIENTS)
    expect(rows.every((r) => r.n === 1)).toBe(true)
  }, 120_000)

  it("keeps every device's readings in publish order through NATS ingest, across a SIGKILL of the process consuming them", async () => {
    const js = jetstream(nc)
    const devices: Array<{ patientId: string; deviceId: string }> = []
    for (let i = 0; i < LOAD_PATIENTS; i++) {
      const patient = await call(i % 3, "POST", "/patients", { full_name: `Loaded ${i}`, age: 30 + i, sex: "M" })
      const device = await call(i % 3, "POST", "/devices", { serial: unique("LD"), firmware: "v1", patient_id: patient.body.id })
      devices.push({ patientId: patient.body.id, deviceId: device.body.id })
    }
    const ids = devices.map((d) => d.deviceId)
    const storedCount = async () => Number((await db.query(`SELECT count(*) AS n FROM vital_signs WHERE device_id = ANY($1::uuid[])`, [ids])).rows[0].n)

    // The consumer is a singleton: the process holding its shard's lock is the one to kill.
    const holder = await until("the ingest consumer running", 30_000, async () => {
      const lock = 1_000_000 + shardOf("vigil/ingest-consumer")
      const { rows } = await db.query(`
        SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.objid = $1 AND a.datname = current_database()`, [lock])
      const pid = rows[0] ? Number(String(rows[0].application_name).replace("vigil-", "")) : undefined
      const index = processes.findIndex((p) => p.pid() === pid)
      return index >= 0 ? index : undefined
    })

    // Per device a block of breaching readings (alert raised at the SUSTAINED-th), then a block
    // in range (resolved at the third), again and again; one connection publishes them all in
    // order, about 1,000 a second, acknowledged by the stream.
    const t0 = Date.now() - LOAD_READINGS * 1000
    const value = (i: number) => (Math.floor(i / BLOCK) % 2 === 0 ? 130 + (i % BLOCK) : 72)
    const acknowledged: Array<Promise<unknown>> = []
    const publishing = (async () => {
      for (let i = 0; i < LOAD_READINGS; i++) {
        for (const { deviceId } of devices) {
          const body = { reading_id: randomUUID(), measured_at: new Date(t0 + i * 1000).toISOString(), heart_rate: value(i) }
          acknowledged.push(js.publish(`${subjectPrefix}.ingest.vitals.${deviceId}`, JSON.stringify(body), { timeout: 30_000 }))
        }
        await new Promise((resolve) => setTimeout(resolve, (1000 * devices.length) / RATE))
      }
    })()

    await until("a part of the readings stored", 60_000, async () => ((await storedCount()) >= 1500 ? true : undefined))
    const killedAt = Date.now()
    await processes[holder]!.kill("SIGKILL")
    const atKill = await storedCount()
    const resumedAfter = await until("the ingest resumed on another process", 60_000, async () =>
      (await storedCount()) > atKill ? Date.now() - killedAt : undefined)
    console.info(`NATS ingest resumed ${resumedAfter} ms after SIGKILL of the process consuming it`)
    expect(resumedAfter).toBeLessThan(30_000)

    await publishing
    await Promise.all(acknowledged)
    const total = LOAD_READINGS * devices.length
    await until("every acknowledged reading stored", 120_000, async () => ((await storedCount()) >= total ? true : undefined))
    expect(await storedCount()).toBe(total)
    // Evaluated, each monitor through its last reading.
    await until("every reading evaluated", 120_000, async () => {
      const answers = await Promise.all(devices.map(({ patientId }, i) =>
        call(i % 3 === holder ? (holder + 1) % 3 : i % 3, "GET", `/api/v1/patients/${patientId}/snapshot`).catch(() => undefined)))
      const { rows } = await db.query(`SELECT patient_id::text, max(seq)::text AS seq FROM vital_signs WHERE device_id = ANY($1::uuid[]) GROUP BY 1`, [ids])
      const last = new Map(rows.map((r) => [r.patient_id, Number(r.seq)]))
      return answers.every((a, i) => a?.status === 200 && a.body.evaluated_through >= last.get(devices[i]!.patientId)!) ? true : undefined
    })

    await expectAlertHistories(devices, t0, LOAD_READINGS)
    // The killed process comes back as a new runner.
    await processes[holder]!.start()
  }, 300_000)

  it("moves a killed process's monitors to the others within 30 s, their state intact", async () => {
    const killedAt = Date.now()
    await processes[2]!.kill("SIGKILL")
    // Every monitor answers through the survivors again (those that were on the killed one after their shards moved).
    await until("every monitor answering after the kill", 60_000, async () => {
      const answers = await Promise.all(patients.map(({ patientId }, i) =>
        call(i % 2, "GET", `/api/v1/patients/${patientId}/snapshot`).catch(() => ({ status: 0, body: undefined }))))
      return answers.every((a) => a.status === 200) ? true : undefined
    })
    const failover = Date.now() - killedAt
    console.info(`failover after SIGKILL of one of three runners: ${failover} ms`)
    expect(failover).toBeLessThan(30_000)
    // The moved monitors rebuilt their state: in-range readings resolve the open alerts after
    // ALERT_CLEAR_AFTER (3), counted by one monitor across the two processes left.
    for (const { deviceId } of patients) {
      const answers = []
      for (let i = 0; i < 3; i++) answers.push(await reading(i % 2, deviceId, 72))
      expect(answers.map((a) => a.status)).toEqual([201, 201, 201])
      expect(answers.map((a) => a.body.alerts.resolved.length)).toEqual([0, 0, 1])
    }
    const { rows } = await db.query(`SELECT status, count(*)::int AS n FROM alerts WHERE patient_id = ANY($1::uuid[]) GROUP BY status`,
      [patients.map((p) => p.patientId)])
    expect(rows).toEqual([{ status: "resolved", n: PATIENTS }])
  }, 120_000)
  it("hands a stopping process's shards over with no 5xx and every reading evaluated once, in order", async () => {
    await processes[2]!.start()
    await threeHealthy()
    const devices = await makeDevices("Handed", 8)
    const readings = 40
    const t0 = Date.now() - readings * 1000
    const value = (i: number) => (Math.floor(i / BLOCK) % 2 === 0 ? 130 + (i % BLOCK) : 72)
    const statuses: Array<number> = []
    // Each device's readings one after another, through the two processes that stay, while the third stops.
    const sending = Promise.all(devices.map(async ({ deviceId }, d) => {
      for (let i = 0; i < readings; i++) {
        const answer = await call((d + i) % 2, "POST", `/api/v1/devices/${deviceId}/readings`, {
          reading_id: randomUUID(), measured_at: new Date(t0 + i * 1000).toISOString(), heart_rate: value(i)
        })
        statuses.push(answer.status)
      }
    }))
    await until("the load under way", 30_000, async () => (statuses.length >= 60 ? true : undefined))
    await processes[2]!.kill("SIGTERM")
    expect(processes[2]!.signalCode() ?? "exited").not.toBe("SIGKILL")
    await sending
    expect(statuses.filter((s) => s !== 201)).toEqual([])
    await expectAlertHistories(devices, t0, readings)
  }, 180_000)
  it("restarts all three processes in turn under HTTP load with no 5xx, every reading evaluated once, in order", async () => {
    // The third is stopped by the test before; run alone, this one stops it first.
    await processes[2]!.kill("SIGTERM")
    await processes[2]!.start()
    await threeHealthy()
    const devices = await makeDevices("Rolled", 6)
    const t0 = Date.now() - 100_000_000
    const value = (i: number) => (Math.floor(i / BLOCK) % 2 === 0 ? 130 + (i % BLOCK) : 72)
    const statuses: Array<number> = []
    let restarting = -1
    let done = false
    const sent: Array<number> = []
    // Each device's readings one after another, 50 ms apart, through the processes not restarting,
    // until the last restart is over, then to the end of a block in range.
    const sending = Promise.all(devices.map(async ({ deviceId }, d) => {
      let i = 0
      for (; !done || i % (2 * BLOCK) !== 0; i++) {
        const body = { reading_id: randomUUID(), measured_at: new Date(t0 + i * 1000).toISOString(), heart_rate: value(i) }
        // A connection the stopping process closed is tried again elsewhere, as the load balancer
        // does (`proxy_next_upstream error`); the reading_id makes the retry idempotent.
        let answer: { status: number } | undefined
        for (let attempt = 0; answer === undefined; attempt++) {
          const up = [0, 1, 2].filter((p) => p !== restarting)
          answer = await call(up[(d + i + attempt) % up.length]!, "POST", `/api/v1/devices/${deviceId}/readings`, body)
            .catch((error) => { if (attempt >= 3) throw error; return undefined })
        }
        statuses.push(answer.status)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      sent[d] = i
    }))
    for (const k of [0, 1, 2]) {
      restarting = k
      const stopping = Date.now()
      await processes[k]!.kill("SIGTERM")
      const stopped = Date.now()
      await processes[k]!.start()
      await threeHealthy()
      console.info(`rolling restart of process ${k}: stopped in ${stopped - stopping} ms, back in ${Date.now() - stopped} ms`)
      restarting = -1
    }
    done = true
    await sending
    expect(statuses.filter((s) => s !== 201)).toEqual([])
    for (const [d, device] of devices.entries()) await expectAlertHistories([device], t0, sent[d]!)
  }, 240_000)
})
