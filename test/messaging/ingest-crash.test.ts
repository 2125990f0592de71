/**
 * Vigil killed with SIGKILL in the middle of a NATS ingest of thousands of readings, then started
 * again: every reading JetStream acknowledged to its publisher is stored exactly once (retries
 * included), nothing else is stored, the ingest stream is drained, and each patient's monitor has
 * evaluated all of its readings (the catch-up after the crash).
 *
 * Vigil runs here as a real child process (`node --import tsx src/main.ts`), as in production.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { randomUUID } from "node:crypto"
import pg from "pg"
import { createDatabase, databaseUrl, dropDatabase } from "../support/test-database.ts"
import { until } from "../support/eventually.ts"
import { deleteStreams, freePort, requireNats, resolveNats, unique } from "../support/nats-server.ts"
import { type VigilProcess, vigilProcess } from "../support/vigil-process.ts"

const nats = await resolveNats()
const runNats = requireNats(nats, "SIGKILL during NATS ingest")
const natsUrl = nats.available ? nats.url : ""

const PATIENTS = 20
const READINGS = 6_000
/** Readings published again with the same reading_id (a device's retries). */
const RETRIES = 300

describe.skipIf(!runNats)("SIGKILL during NATS ingest", () => {
  let database = ""
  const subjectPrefix = unique("crash").toLowerCase()
  const streamPrefix = unique("CRASH").toUpperCase()
  let db: pg.Client
  let nc: NatsConnection
  let port = 0
  let vigil: VigilProcess

  const start = () => vigil.start()
  const kill = (signal: NodeJS.Signals) => vigil.kill(signal)

  const post = async (path: string, body: unknown) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    expect(response.status, `${path}: ${await response.clone().text()}`).toBe(201)
    return (await response.json()) as { id: string }
  }

  const storedCount = async () => Number((await db.query("SELECT count(*) AS n FROM vital_signs")).rows[0].n)

  beforeAll(async () => {
    database = await createDatabase()
    db = new pg.Client({ connectionString: databaseUrl(database) })
    await db.connect()
    nc = await connect({ servers: natsUrl })
    port = await freePort()
    vigil = vigilProcess(port, {
      DATABASE_URL: databaseUrl(database),
      NATS_URL: natsUrl,
      NATS_SUBJECT_PREFIX: subjectPrefix,
      NATS_STREAM_PREFIX: streamPrefix,
      // What the killed process took but never acknowledged comes back this soon.
      INGEST_ACK_WAIT: "2 seconds"
    })
  }, 30_000)

  afterAll(async () => {
    await kill("SIGTERM")
    await nc?.close()
    await db?.end()
    await deleteStreams(natsUrl, streamPrefix)
    await dropDatabase(database)
  }, 60_000)

  it("stores every acknowledged reading exactly once after a SIGKILL mid-ingest and a restart", async () => {
    await start()
    const devices: Array<{ deviceId: string; patientId: string }> = []
    for (let i = 0; i < PATIENTS; i++) {
      const patient = await post("/patients", { full_name: `Crash ${i}`, age: 50 + i, sex: i % 2 === 0 ? "F" : "M" })
      const device = await post("/devices", { serial: unique("CRASH"), firmware: "v1", patient_id: patient.id })
      devices.push({ deviceId: device.id, patientId: patient.id })
    }

    // Readings a minute apart per device, every 7th out of range, so alerts are raised and resolved.
    const t0 = Date.now() - READINGS * 60_000
    const readings = Array.from({ length: READINGS }, (_, i) => {
      const { deviceId } = devices[i % PATIENTS]!
      return {
        subject: `${subjectPrefix}.ingest.vitals.${deviceId}`,
        body: {
          reading_id: randomUUID(),
          measured_at: new Date(t0 + i * 60_000).toISOString(),
          heart_rate: i % 7 === 0 ? 130 : 72,
          spo2: 97
        }
      }
    })
    const sends = [...readings, ...readings.slice(0, RETRIES)]

    // Publish at a bounded pace, 200 in flight, while Vigil is killed and restarted.
    const js = jetstream(nc)
    const acknowledged = new Set<string>()
    let next = 0
    const publisher = async () => {
      while (next < sends.length) {
        const { subject, body } = sends[next++]!
        const ack = await js.publish(subject, JSON.stringify(body), { timeout: 10_000 })
        expect(ack.duplicate).toBe(false)
        acknowledged.add(body.reading_id)
      }
    }
    const publishing = Promise.all(Array.from({ length: 200 }, publisher))

    // Kill it once part of the readings is stored, with more taken but not yet acknowledged.
    const storedAtKill = await until("a part of the readings stored", 60_000, async () => {
      const stored = await storedCount()
      return stored >= 500 ? stored : undefined
    })
    await kill("SIGKILL")
    expect(vigil.signalCode()).toBe("SIGKILL")
    const storedAfterKill = await storedCount()
    expect(storedAfterKill).toBeLessThan(READINGS)
    // The kill came mid-ingest: the killed process held messages it had taken but not acknowledged.
    const jsm = await jetstreamManager(nc)
    const takenAtKill = (await jsm.consumers.info(`${streamPrefix}_INGEST`, "vigil-ingest-vitals")).num_ack_pending
    expect(takenAtKill).toBeGreaterThan(0)

    await start()
    await publishing
    expect(acknowledged.size).toBe(READINGS)

    await until("every reading stored", 90_000, async () => (await storedCount()) >= READINGS ? true : undefined)
    // Stored exactly once: the stored ids are the published ids, no more, no fewer.
    const rows = (await db.query("SELECT id::text AS id FROM vital_signs")).rows as Array<{ id: string }>
    expect(rows).toHaveLength(READINGS)
    const stored = new Set(rows.map((row) => row.id))
    expect(stored.size).toBe(READINGS)
    expect([...acknowledged].filter((id) => !stored.has(id))).toEqual([])

    // Nothing left in the work queue, nothing pending with the consumer, nothing dead-lettered.
    await until("the ingest stream drained", 30_000, async () => {
      const consumer = await jsm.consumers.info(`${streamPrefix}_INGEST`, "vigil-ingest-vitals")
      const stream = await jsm.streams.info(`${streamPrefix}_INGEST`)
      return consumer.num_pending === 0 && consumer.num_ack_pending === 0 && stream.state.messages === 0 ? true : undefined
    })
    const deadLetters = await jsm.streams.info(`${streamPrefix}_DEADLETTER`).then((info) => info.state.messages, () => 0)
    expect(deadLetters).toBe(0)

    // Every patient's monitor evaluated all of its readings, including those the crash left behind.
    const maxSeq = new Map(
      ((await db.query("SELECT patient_id::text AS patient_id, max(seq)::int AS seq FROM vital_signs GROUP BY patient_id")).rows as Array<
        { patient_id: string; seq: number }
      >).map((row) => [row.patient_id, row.seq])
    )
    for (const { patientId } of devices) {
      const snapshot = await until(`patient ${patientId}'s monitor caught up`, 30_000, async () => {
        const response = await fetch(`http://127.0.0.1:${port}/api/v1/patients/${patientId}/snapshot`)
        const body = (await response.json()) as { evaluated_through: number }
        return response.status === 200 && body.evaluated_through === maxSeq.get(patientId) ? body : undefined
      })
      expect(snapshot.evaluated_through).toBe(maxSeq.get(patientId))
    }
    // The last reading of every device was in range after a breach, so no alert is left with more
    // than one active row per vital sign (the database's unique index would refuse it anyway).
    const active = (await db.query(
      "SELECT patient_id, vital_sign, count(*)::int AS n FROM alerts WHERE status <> 'resolved' GROUP BY 1, 2 HAVING count(*) > 1"
    )).rows
    expect(active).toEqual([])
    console.info(`SIGKILL ingest: ${storedAtKill} stored when the kill began, ${storedAfterKill} after it; ${READINGS} after the restart; ${takenAtKill} taken and unacknowledged at the kill`)
  }, 240_000)
})
