/**
 * Appointments benchmark: bookings through Vigil end to end (booked over HTTP, confirmed by the
 * ConfirmAppointment workflow, the confirmation published on NATS) against a bare transaction
 * writing the same rows, in one run; and the time from `POST` to `appointment.confirmed` on NATS.
 *
 * Method
 * - Vigil (`node --import tsx src/main.ts`, `npm start`'s node flags) runs in its own child
 *   process with NATS at NATS_URL, its own subject and stream prefixes, no demo data, and a fresh
 *   database (a new `vigil_bench_<random>` database on the DATABASE_URL server when that is set,
 *   dropped at the end; otherwise an embedded PostgreSQL in a fresh temporary directory).
 *   Password hashing is set cheap (PASSWORD_SCRYPT_LOG_N=10): the users are set-up, not measured.
 * - Set-up: a doctor and PATIENTS patients through `POST /api/v1/users`. Every booking below is
 *   of one of them, at a time no other booking of theirs has (seed 004 v1's form: patient, doctor,
 *   time, reason; no schedule).
 * - End to end (Vigil): BOOKINGS bookings from CLIENTS concurrent HTTP clients in this process;
 *   this process counts the `appointment.confirmed` events on a core NATS subscription to
 *   `<prefix>.events.appointment.confirmed`. Rate = bookings / (last event received - first POST
 *   sent). Each booking is a transaction (the appointment, its task record, its audit row and
 *   event), the workflow's start (a persisted message), the workflow's run (the task record to
 *   `running` in one transaction; the appointment confirmed and the record `succeeded` in
 *   another), its durable sleep until the reminder, and the outbox relay's publish.
 * - Bare transaction (this process, raw `pg`, CLIENTS connections): per booking, one transaction
 *   writing the rows Vigil's booking and confirmation leave: the appointment (confirmed), its task
 *   record (succeeded), its four audit rows (through the same chaining triggers) and their eight
 *   outbox rows (marked published, so Vigil's relay leaves them alone). Into Vigil's own tables,
 *   while Vigil is idle. Measured before and after the end-to-end run; the baseline is both.
 * - Latency: bookings at a steady, open-loop RATE per second for LATENCY_SECONDS; latency = receipt
 *   of its `appointment.confirmed` event - the moment its POST was sent (one clock: this process).
 * - CPU shares (Linux /proc) for each measured run: Vigil, this process, nats-server, PostgreSQL's
 *   processes, and the rest of the machine.
 * - Load only targets 127.0.0.1. Every loop is bounded in count and time, every phase has a time
 *   limit, the whole script has a budget; Vigil is stopped, the streams deleted and the database
 *   dropped at the end and on any failure.
 *
 * Prints figures and whether the target (end to end >= 0.25 of the bare transaction) is met; it
 * does not assert it. Exits 1 only when something broke (a booking failed, or a confirmation
 * went missing or came twice).
 */
import { randomBytes } from "node:crypto"
import { performance } from "node:perf_hooks"
import pg from "pg"
import { BUSY_MACHINE_CPU, childFailure, cleanup, figures, fmtCpuShare, fmtFigures, fmtRate, log, measuringAllCpu, printReport, runBenchmark, sleep, startNatsBenchmark, wallNow, withTimeout, type CpuShare } from "./support.ts"

const settings = {
  patients: 400,
  clients: 32,
  bookings: 3_000,
  warmupBookings: 200,
  bareBookings: 3_000,
  rate: 100,
  latencySeconds: 10,
  /** Longest any one run may take, bookings and confirmations included. */
  runTimeoutMs: 90_000,
  readyTimeoutMs: 60_000,
  stopTimeoutMs: 20_000,
  budgetMs: 420_000
} as const

const target = 0.25

interface Booking {
  readonly patientId: number
  readonly scheduledTime: string
}

const bench = async (): Promise<boolean> => {
  const run = randomBytes(4).toString("hex")
  const subjectPrefix = `benchappt${run}`
  const streamPrefix = `BENCHAPPT${run.toUpperCase()}`
  const { db, database, nats, vigil } = await startNatsBenchmark({
    clientName: "vigil-bench-appointments",
    subjectPrefix,
    streamPrefix,
    streams: { prefix: streamPrefix },
    env: { PASSWORD_SCRYPT_LOG_N: "10" },
    readyTimeoutMs: settings.readyTimeoutMs,
    stopTimeoutMs: settings.stopTimeoutMs
  })
  const api = `${vigil.httpUrl}/api/v1`
  let failures = 0

  const post = async (path: string, body: unknown): Promise<{ id: number }> => {
    const response = await fetch(`${api}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
    if (response.status !== 201) {
      failures++
      throw new Error(`POST ${path} answered ${response.status}: ${await response.text()}`)
    }
    return (await response.json()) as { id: number }
  }

  // Set-up: the people.
  const doctor = await post("/users", { email: `doctor-${run}@bench.example`, full_name: "Dr Bench", role: "doctor", password: "bench-password" })
  const patients: Array<number> = []
  await Promise.all(Array.from({ length: 8 }, async (_, worker) => {
    for (let i = worker; i < settings.patients; i += 8) {
      patients[i] = (await post("/users", { email: `patient-${run}-${i}@bench.example`, full_name: `Patient ${i}`, role: "patient", password: "bench-password" })).id
    }
  }))
  log(`${settings.patients} patients and a doctor created`)

  // Every booking of the run has its own (patient, time): times a minute apart from a year ahead.
  let slot = 0
  const base = Date.now() + 365 * 86_400_000
  const nextBooking = (): Booking => {
    const n = slot++
    return { patientId: patients[n % patients.length]!, scheduledTime: new Date(base + n * 60_000).toISOString() }
  }

  // Confirmations as NATS delivers them, by appointment id.
  const confirmedAt = new Map<number, number>()
  let duplicates = 0
  const subscription = nats.nc.subscribe(`${subjectPrefix}.events.appointment.confirmed`, {
    callback: (_error, message) => {
      const id = Number(message.json<{ subject: string }>().subject)
      if (confirmedAt.has(id)) duplicates++
      else confirmedAt.set(id, wallNow())
    }
  })
  await nats.nc.flush()

  const book = (booking: Booking) =>
    post("/appointments", { patient_id: booking.patientId, doctor_id: doctor.id, scheduled_time: booking.scheduledTime, reason: "Benchmark" })

  /** `count` bookings from `clients` clients, then until each is confirmed on NATS. */
  const endToEnd = async (count: number) => {
    const ids: Array<number> = []
    let next = 0
    const started = wallNow()
    await withTimeout("bookings", settings.runTimeoutMs, Promise.all(Array.from({ length: settings.clients }, async () => {
      while (next < count) {
        next++
        ids.push((await book(nextBooking())).id)
      }
    })))
    const booked = wallNow()
    const deadline = performance.now() + settings.runTimeoutMs
    while (ids.some((id) => !confirmedAt.has(id))) {
      if (performance.now() > deadline) throw childFailure(vigil.child, `${ids.filter((id) => !confirmedAt.has(id)).length} bookings not confirmed in time`)
      await sleep(20)
    }
    const last = Math.max(...ids.map((id) => confirmedAt.get(id)!))
    return { rate: count / ((last - started) / 1000), bookedRate: count / ((booked - started) / 1000), seconds: (last - started) / 1000 }
  }

  /** The same rows in one transaction per booking, from `clients` connections. */
  // Connections stay open between runs (a new one's set-up would be counted as the baseline's).
  const pool = new pg.Pool({ connectionString: database.url, max: settings.clients, idleTimeoutMillis: 0 })
  const bare = async (count: number) => {
    let next = 0
    const started = performance.now()
    await withTimeout("bare transactions", settings.runTimeoutMs, Promise.all(Array.from({ length: settings.clients }, async () => {
      const client = await pool.connect()
      try {
        while (next < count) {
          next++
          await bareBooking(client, nextBooking(), doctor.id)
        }
      } finally {
        client.release()
      }
    })))
    return count / ((performance.now() - started) / 1000)
  }

  log(`warm-up: ${settings.warmupBookings} bookings`)
  await endToEnd(settings.warmupBookings)
  await bare(settings.warmupBookings)

  const measured = async <A>(label: string, work: () => Promise<A>): Promise<{ readonly result: A; readonly cpu: CpuShare }> => {
    log(label)
    return measuringAllCpu(vigil.child.pid, work)
  }
  const bareBefore = await measured(`bare transaction: ${settings.bareBookings} bookings`, () => bare(settings.bareBookings))
  const vigilRun = await measured(`end to end: ${settings.bookings} bookings`, () => endToEnd(settings.bookings))
  const bareAfter = await measured(`bare transaction again: ${settings.bareBookings} bookings`, () => bare(settings.bareBookings))
  await pool.end()

  // Latency at a steady rate.
  log(`latency: ${settings.rate} bookings/s for ${settings.latencySeconds} s`)
  const sentAt = new Map<number, number>()
  const latencyRun = await measuringAllCpu(vigil.child.pid, async () => {
    const total = settings.rate * settings.latencySeconds
    const start = wallNow()
    const pending: Array<Promise<void>> = []
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / settings.rate
      const wait = due - wallNow()
      if (wait > 0) await sleep(wait)
      const sent = wallNow()
      pending.push(book(nextBooking()).then(({ id }) => void sentAt.set(id, sent)))
    }
    await withTimeout("latency bookings", settings.runTimeoutMs, Promise.all(pending))
    const deadline = performance.now() + settings.runTimeoutMs
    while ([...sentAt.keys()].some((id) => !confirmedAt.has(id))) {
      if (performance.now() > deadline) throw childFailure(vigil.child, "bookings of the latency run not confirmed in time")
      await sleep(20)
    }
  })
  subscription.unsubscribe()
  const latency = figures([...sentAt].map(([id, sent]) => confirmedAt.get(id)! - sent))

  const baseline = (bareBefore.result + bareAfter.result) / 2
  const ratio = vigilRun.result.rate / baseline
  const noisy = [bareBefore, vigilRun, bareAfter, latencyRun].some((r) => r.cpu.otherCpu > BUSY_MACHINE_CPU)
  const [tasks] = (await db.query("SELECT count(*) FILTER (WHERE status NOT IN ('succeeded', 'failed'))::int AS open FROM background_tasks")).rows as Array<{ open: number }>
  printReport({
    benchmark: "appointments",
    database: database.description,
    lines: [
      `end to end (booked over HTTP by ${settings.clients} clients, confirmed by the workflow, appointment.confirmed received on NATS):`,
      `  ${fmtRate(vigilRun.result.rate)} bookings/s (${settings.bookings} in ${vigilRun.result.seconds.toFixed(1)} s; the POSTs alone at ${fmtRate(vigilRun.result.bookedRate)}/s)`,
      `  CPU: ${fmtCpuShare(vigilRun.cpu)}`,
      `bare transaction (the same rows, one transaction per booking, ${settings.clients} connections): ${fmtRate(baseline)} bookings/s`,
      `  before ${fmtRate(bareBefore.result)}/s (CPU: ${fmtCpuShare(bareBefore.cpu)}), after ${fmtRate(bareAfter.result)}/s (CPU: ${fmtCpuShare(bareAfter.cpu)})`,
      `ratio: ${ratio.toFixed(3)} (target >= ${target}: ${ratio >= target ? "met" : "not met"})`,
      `POST to appointment.confirmed on NATS at ${settings.rate} bookings/s: ${fmtFigures(latency)} (${sentAt.size} bookings)`,
      `  CPU: ${fmtCpuShare(latencyRun.cpu)}`,
      `task records not final at the end: ${tasks!.open}; confirmations received twice: ${duplicates}`,
      ...(noisy ? [`note: other processes used more than ${BUSY_MACHINE_CPU} of a core during a measured run; the figures are noisy`] : [])
    ],
    figures: {
      bookingsPerSecond: vigilRun.result.rate,
      bareBookingsPerSecond: baseline,
      ratio,
      target,
      latencyMs: latency,
      cpu: { endToEnd: vigilRun.cpu, bareBefore: bareBefore.cpu, bareAfter: bareAfter.cpu, latency: latencyRun.cpu }
    }
  })
  await cleanup()
  return failures === 0 && duplicates === 0 && tasks!.open === 0
}

/**
 * One booking's final rows, as Vigil leaves them, in one transaction: the appointment, its task
 * record, the audit rows of its four changes (created with its task record, running, confirmed,
 * succeeded) and their domain and audit events in the outbox, already marked published.
 */
const bareBooking = async (client: pg.PoolClient, booking: Booking, doctorId: number) => {
  await client.query("BEGIN")
  try {
    const { rows: [appointment] } = await client.query(
      `INSERT INTO appointments (patient_id, doctor_id, scheduled_time, reason, status, reminder_for)
       VALUES ($1, $2, $3, 'Benchmark', 'confirmed', $3) RETURNING *`,
      [booking.patientId, doctorId, booking.scheduledTime]
    )
    const { rows: [task] } = await client.query(
      `INSERT INTO background_tasks (task_name, status, appointment_id, external_reference)
       VALUES ('schedule_appointment', 'queued', $1, 'bare') RETURNING *`,
      [appointment.id]
    )
    const changes = [
      ["appointment", appointment.id, "created", { ...appointment, status: "pending", task }],
      ["task", task.id, "updated", { ...task, status: "running" }],
      ["appointment", appointment.id, "confirmed", appointment],
      ["task", task.id, "updated", { ...task, status: "succeeded" }]
    ] as const
    const { rows: audits } = await client.query(
      `INSERT INTO audit_events (actor, action, entity_type, entity_id, after)
       SELECT 'anonymous', a, t, i, d FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[]) AS c(t, i, a, d) RETURNING id, occurred_at`,
      [changes.map((c) => c[0]), changes.map((c) => String(c[1])), changes.map((c) => c[2]), changes.map((c) => JSON.stringify(c[3]))]
    )
    const events = changes.flatMap(([type, id, action, data], i) => [
      { id: crypto.randomUUID(), subject: `events.${type}.${action}`, data: { type: `vigil.${type}.${action}`, subject: String(id), data, time: audits[i].occurred_at } },
      { id: audits[i].id as string, subject: `audit.${type}.${action}`, data: { type: `vigil.audit.${type}.${action}`, subject: String(id), data, time: audits[i].occurred_at } }
    ])
    await client.query(
      `INSERT INTO outbox (event_id, subject, event, published_at)
       SELECT e, s, v, now() FROM unnest($1::uuid[], $2::text[], $3::jsonb[]) AS o(e, s, v)`,
      [events.map((e) => e.id), events.map((e) => e.subject), events.map((e) => JSON.stringify({ specversion: "1.0", id: e.id, source: "vigil", datacontenttype: "application/json", ...e.data }))]
    )
    await client.query(`UPDATE background_tasks SET status = 'running' WHERE id = $1`, [task.id])
    await client.query(`UPDATE background_tasks SET status = 'succeeded' WHERE id = $1`, [task.id])
    await client.query("COMMIT")
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined)
    throw error
  }
}

runBenchmark(bench, settings.budgetMs)
