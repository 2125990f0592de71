/**
 * Vigil as one cluster of three real processes (`node --import tsx src/main.ts`) on one
 * PostgreSQL and one NATS: every process is a runner, the shards are spread over the three, each
 * patient's `PatientMonitor` lives once in the whole cluster whichever process a reading comes
 * through, and when one process is killed with SIGKILL its entities resume on the others.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
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
/** Consecutive breaching readings before an alert: counted by one monitor, or by none if each process had its own. */
const SUSTAINED = 3

describe.skipIf(!runNats)("Vigil as a cluster of processes", () => {
  let database = ""
  const subjectPrefix = unique("cluster").toLowerCase()
  const streamPrefix = unique("CLUSTER").toUpperCase()
  let db: pg.Client
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

  beforeAll(async () => {
    database = await createDatabase()
    db = new pg.Client({ connectionString: databaseUrl(database) })
    await db.connect()
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
    const { rows } = await db.query(`SELECT status, count(*)::int AS n FROM alerts GROUP BY status`)
    expect(rows).toEqual([{ status: "resolved", n: PATIENTS }])
  }, 120_000)
})
