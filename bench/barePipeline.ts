/**
 * The baselines of `bench/ingest.ts` for NATS ingest and the alert path, run as a child process
 * of it (so that its CPU is counted apart from Vigil's and the load generator's):
 *
 *   node --import tsx bench/barePipeline.ts ingest   a minimal `@nats-io/jetstream` consumer that
 *                                                    takes batches as Vigil's consumer does (what has
 *                                                    arrived, up to BARE_BATCH_SIZE, lingering 2 ms),
 *                                                    inserts each into `bare_vital_signs` (made
 *                                                    `LIKE vital_signs`) with one statement, and
 *                                                    acknowledges it
 *   node --import tsx bench/barePipeline.ts alerts   the same, and for each breaching reading of a
 *                                                    stored batch (heart_rate above 130, the default
 *                                                    profile's critical bound) commits one row of
 *                                                    `bare_alerts` and publishes an event on
 *                                                    BARE_EVENTS_SUBJECT, which the bench times
 *
 * What it leaves out is what Vigil adds: the `Schema` decode, the registry lookup through a
 * cache, dead letters, per-patient order across batches in flight, the monitors and their state,
 * the outbox and the audit trail. It reads the device -> patient map once at start.
 *
 * Environment: NATS_URL, DATABASE_URL, BARE_STREAM (a work-queue stream the bench made),
 * BARE_SUBJECT (its subjects, `<prefix>.bare.vitals.>`; the device id is the last token),
 * BARE_BATCH_SIZE, BARE_EVENTS_SUBJECT. Prints `READY 0` once consuming; exits on SIGTERM or when
 * its stdin closes.
 */
import { AckPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import pg from "pg"

const mode = process.argv[2]
if (mode !== "ingest" && mode !== "alerts") throw new Error(`usage: barePipeline.ts ingest|alerts (got ${mode})`)
const required = (name: string) => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(`${name} is not set`)
  return value
}
const stream = required("BARE_STREAM")
const subject = required("BARE_SUBJECT")
const batchSize = Number(required("BARE_BATCH_SIZE"))
const eventsSubject = mode === "alerts" ? required("BARE_EVENTS_SUBJECT") : ""
const CRITICAL_HEART_RATE = 130
const LINGER_MS = 2

interface Reading {
  readonly reading_id: string
  readonly measured_at: string
  readonly heart_rate?: number
  readonly spo2?: number
  readonly temperature?: number
}

const pool = new pg.Pool({ connectionString: required("DATABASE_URL"), max: 2 })
await pool.query("CREATE TABLE IF NOT EXISTS bare_vital_signs (LIKE vital_signs INCLUDING ALL)")
await pool.query(`CREATE TABLE IF NOT EXISTS bare_alerts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), patient_id uuid NOT NULL, reading_id uuid NOT NULL,
  vital_sign text NOT NULL, peak double precision NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`)
const { rows } = await pool.query<{ id: string; patient_id: string }>("SELECT id, patient_id FROM devices WHERE patient_id IS NOT NULL")
const patientOf = new Map(rows.map((row) => [row.id, row.patient_id]))

const nc = await connect({ servers: required("NATS_URL").split(","), name: `vigil-bench-bare-${mode}` })
const jsm = await jetstreamManager(nc)
const js = jetstream(nc)
const consumerConfig = { durable_name: "bare", ack_policy: AckPolicy.Explicit, filter_subject: subject, ack_wait: 30_000_000_000, max_ack_pending: 20_000 }
await jsm.consumers.add(stream, consumerConfig).catch(() => jsm.consumers.update(stream, "bare", consumerConfig))
const consumer = await js.consumers.get(stream, "bare")

const inbox: Array<JsMsg> = []
let arrived: (() => void) | undefined
const messages = await consumer.consume({
  max_messages: batchSize * 2,
  callback: (msg) => {
    inbox.push(msg)
    const wake = arrived
    arrived = undefined
    wake?.()
  }
})
const waitForMessages = () => (inbox.length > 0 ? Promise.resolve() : new Promise<void>((resolve) => (arrived = resolve)))

const store = async (batch: ReadonlyArray<JsMsg>) => {
  const readings: Array<Reading & { readonly patient_id: string; readonly device_id: string }> = []
  for (const msg of batch) {
    const deviceId = msg.subject.slice(msg.subject.lastIndexOf(".") + 1)
    const patientId = patientOf.get(deviceId)
    if (patientId === undefined) continue
    readings.push({ ...(JSON.parse(msg.string()) as Reading), patient_id: patientId, device_id: deviceId })
  }
  if (readings.length > 0) {
    await pool.query(
      `INSERT INTO bare_vital_signs (id, patient_id, device_id, source, heart_rate, spo2, temperature, measured_at)
       SELECT id, patient_id, device_id, 'device', heart_rate, spo2, temperature, measured_at
       FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::float8[], $5::float8[], $6::float8[], $7::timestamptz[])
         AS r(id, patient_id, device_id, heart_rate, spo2, temperature, measured_at)
       ON CONFLICT (id) DO NOTHING`,
      [
        readings.map((r) => r.reading_id),
        readings.map((r) => r.patient_id),
        readings.map((r) => r.device_id),
        readings.map((r) => r.heart_rate ?? null),
        readings.map((r) => r.spo2 ?? null),
        readings.map((r) => r.temperature ?? null),
        readings.map((r) => r.measured_at)
      ]
    )
  }
  for (const msg of batch) msg.ack()
  if (mode !== "alerts") return
  for (const reading of readings) {
    if (reading.heart_rate === undefined || reading.heart_rate <= CRITICAL_HEART_RATE) continue
    const { rows: [alert] } = await pool.query<{ id: string; created_at: Date }>(
      "INSERT INTO bare_alerts (patient_id, reading_id, vital_sign, peak) VALUES ($1, $2, 'heart_rate', $3) RETURNING id, created_at",
      [reading.patient_id, reading.reading_id, reading.heart_rate]
    )
    nc.publish(eventsSubject, JSON.stringify({ id: alert!.id, time: alert!.created_at.toISOString(), data: { patient_id: reading.patient_id, reading_id: reading.reading_id } }))
  }
}

let stopping = false
const stop = () => {
  stopping = true
  const wake = arrived
  arrived = undefined
  wake?.()
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
process.stdin.on("close", stop)
process.stdin.resume()

process.stdout.write("READY 0\n")
while (!stopping) {
  await waitForMessages()
  if (stopping) break
  if (inbox.length < batchSize) await new Promise((resolve) => setTimeout(resolve, LINGER_MS))
  await store(inbox.splice(0, batchSize))
}
await messages.close()
await nc.drain()
await pool.end()
process.exit(0)
