/**
 * Vigil killed with SIGKILL while a batch of appointments is being confirmed, some of them
 * cancelled first, then started again: every task record ends final (none left `queued` or
 * `running`), every appointment ends as its history demands (confirmed, or cancelled and never
 * confirmed after it), and no confirmation is made, audited or published twice.
 *
 * Vigil runs here as a real child process (`node --import tsx src/main.ts`), as in production.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import pg from "pg"
import { canMoveAppointment } from "../../src/domain/AppointmentStatus.ts"
import { createDatabase, databaseUrl, dropDatabase } from "../support/test-database.ts"
import { until } from "../support/eventually.ts"
import { freePort } from "../support/nats-server.ts"
import { type VigilProcess, vigilProcess } from "../support/vigil-process.ts"
const APPOINTMENTS = 60
/** Every fourth booking is cancelled before its confirmation is due. */
const cancelled = (index: number) => index % 4 === 0

describe("SIGKILL while appointments are confirmed", () => {
  let database = ""
  let db: pg.Client
  let port = 0
  let vigil: VigilProcess

  const start = () => vigil.start()
  const kill = (signal: NodeJS.Signals) => vigil.kill(signal)

  const send = async (method: string, path: string, body: unknown, status: number) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    expect(response.status, `${method} ${path}: ${await response.clone().text()}`).toBe(status)
    return (await response.json()) as { id: number }
  }

  const taskCounts = async () => {
    const rows = (await db.query("SELECT status, count(*)::int AS n FROM background_tasks GROUP BY status")).rows as Array<{ status: string; n: number }>
    return Object.fromEntries(rows.map((row) => [row.status, row.n])) as Record<string, number | undefined>
  }

  beforeAll(async () => {
    database = await createDatabase()
    db = new pg.Client({ connectionString: databaseUrl(database) })
    await db.connect()
    port = await freePort()
    vigil = vigilProcess(port, {
      DATABASE_URL: databaseUrl(database),
      // Events through the in-process bus: what is tested here is the database and the workflows.
      NATS_URL: undefined,
      PASSWORD_SCRYPT_LOG_N: "10",
      // Confirmations come a second after each booking: the kill lands among them.
      APPOINTMENT_CONFIRM_DELAY: "1 second",
      APPOINTMENT_SWEEP_INTERVAL: "2 seconds"
    })
  }, 30_000)

  afterAll(async () => {
    await vigil?.kill("SIGTERM")
    await db?.end()
    await dropDatabase(database)
  }, 60_000)

  it("ends every task record final, every appointment as its history demands, and no confirmation twice", async () => {
    await start()
    const stamp = Date.now().toString(36)
    const doctor = await send("POST", "/api/v1/users", { email: `crash-doc-${stamp}@example.com`, full_name: "Dr Crash", role: "doctor", password: "long enough" }, 201)
    const patients = await Promise.all(Array.from({ length: APPOINTMENTS }, (_, i) =>
      send("POST", "/api/v1/users", { email: `crash-${stamp}-${i}@example.com`, full_name: `Patient ${i}`, role: "patient", password: "long enough" }, 201)))

    const appointments: Array<number> = []
    let next = 0
    const booker = async () => {
      while (next < APPOINTMENTS) {
        const index = next++
        const appointment = await send("POST", "/api/v1/appointments", {
          patient_id: patients[index]!.id,
          doctor_id: doctor.id,
          scheduled_time: new Date(Date.now() + 86_400_000 * 3 + index * 60_000).toISOString(),
          reason: `Crash ${index}`
        }, 201)
        appointments[index] = appointment.id
        if (cancelled(index)) await send("PATCH", `/api/v1/appointments/${appointment.id}`, { status: "cancelled" }, 200)
      }
    }
    await Promise.all(Array.from({ length: 6 }, booker))

    // Kill it in the middle of the batch: some confirmed, others still to be.
    const atKill = await until("part of the batch confirmed", 30_000, async () => {
      const counts = await taskCounts()
      return (counts.succeeded ?? 0) >= 5 && (counts.queued ?? 0) + (counts.running ?? 0) >= 5 ? counts : undefined
    })
    await kill("SIGKILL")
    expect(vigil.signalCode()).toBe("SIGKILL")
    const afterKill = await taskCounts()
    expect((afterKill.queued ?? 0) + (afterKill.running ?? 0)).toBeGreaterThan(0)

    await start()
    await until("every task record final", 60_000, async () => {
      const counts = await taskCounts()
      return (counts.queued ?? 0) + (counts.running ?? 0) === 0 ? counts : undefined
    })

    const tasks = (await db.query("SELECT appointment_id, status, error_message FROM background_tasks")).rows as Array<
      { appointment_id: number; status: string; error_message: string | null }
    >
    expect(tasks).toHaveLength(APPOINTMENTS)
    const statuses = new Map(((await db.query("SELECT id, status FROM appointments")).rows as Array<{ id: number; status: string }>).map((r) => [r.id, r.status]))
    const history = new Map<number, Array<{ action: string; status: string }>>()
    for (const row of (await db.query(`
      SELECT entity_id::int AS id, action, after->>'status' AS status FROM audit_events
      WHERE entity_type = 'appointment' ORDER BY seq`)).rows as Array<{ id: number; action: string; status: string }>) {
      history.set(row.id, [...(history.get(row.id) ?? []), row])
    }
    const published = new Map<number, number>()
    for (const row of (await db.query(`
      SELECT (event->>'subject')::int AS id, count(*)::int AS n FROM outbox
      WHERE event->>'type' = 'vigil.appointment.confirmed' GROUP BY 1`)).rows as Array<{ id: number; n: number }>) {
      published.set(row.id, row.n)
    }

    for (const [index, id] of appointments.entries()) {
      const task = tasks.find((t) => t.appointment_id === id)!
      const steps = history.get(id)!
      const path = steps.map((s) => s.status)
      for (let i = 1; i < path.length; i++) expect(canMoveAppointment(path[i - 1] as never, path[i] as never), `${id}: ${path.join(" -> ")}`).toBe(true)
      const confirmations = steps.filter((s) => s.action === "confirmed").length
      // Confirmed once at most, and published as often as audited.
      expect(confirmations, `${id}: ${path.join(" -> ")}`).toBeLessThanOrEqual(1)
      expect(published.get(id) ?? 0).toBe(confirmations)
      if (cancelled(index)) {
        expect(statuses.get(id)).toBe("cancelled")
        // Cancelled before its confirmation was due: never confirmed, the record failed with why.
        expect(confirmations).toBe(0)
        expect(task).toMatchObject({ status: "failed", error_message: "Appointment was cancelled before it could be confirmed" })
      } else {
        expect(statuses.get(id)).toBe("confirmed")
        expect(confirmations).toBe(1)
        expect(task.status).toBe("succeeded")
      }
    }
    // Each task record was created queued with its booking, then moved through its states once:
    // at most one `running`, one final state.
    const created = (await db.query(`
      SELECT after->'task'->>'status' AS status FROM audit_events WHERE entity_type = 'appointment' AND action = 'created'`)).rows
    expect(created.map((row) => row.status)).toEqual(Array(APPOINTMENTS).fill("queued"))
    const taskSteps = (await db.query(`
      SELECT entity_id, array_agg(after->>'status' ORDER BY seq) AS path FROM audit_events
      WHERE entity_type = 'task' GROUP BY entity_id`)).rows as Array<{ entity_id: string; path: Array<string> }>
    expect(taskSteps).toHaveLength(APPOINTMENTS)
    for (const { entity_id, path } of taskSteps) {
      expect(["running,succeeded", "failed", "running,failed"], `task ${entity_id}`).toContain(path.join(","))
    }
    const verify = await (await fetch(`http://127.0.0.1:${port}/api/v1/audit/verify`)).json() as { valid: boolean }
    expect(verify.valid).toBe(true)
    console.info(`SIGKILL appointments: at the kill ${JSON.stringify(atKill)}, just after it ${JSON.stringify(afterKill)}; all final after the restart`)
  }, 180_000)
})
