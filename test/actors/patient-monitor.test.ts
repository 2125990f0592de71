/**
 * The PatientMonitor rebuilds its state from PostgreSQL: after passivation (open alerts and the
 * rules' counters) and on activation after a crash (readings committed but never evaluated).
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import * as ClusterMetrics from "@effect/cluster/ClusterMetrics"
import { Effect, Metric } from "effect"
import { randomUUID } from "node:crypto"
import { eventually } from "../support/eventually.ts"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp
let serials = 0
const serial = () => `PM-${Date.now().toString(36)}-${serials++}`

const expectStatus = <A = any>(response: TestApp.JsonResponse, status: number): A => {
  expect(response.status, JSON.stringify(response.body)).toBe(status)
  return response.body as A
}

const createPatient = Effect.map(
  call("POST", "/patients", { full_name: "Monitored Patient", age: 71, sex: "M" }),
  (response) => expectStatus<{ id: string }>(response, 201).id
)

const monitored = Effect.gen(function*() {
  const patientId = yield* createPatient
  const device = expectStatus<{ id: string }>(yield* call("POST", "/devices", { serial: serial(), firmware: "v1", patient_id: patientId }), 201)
  // Activated before its first reading, whose answer would misreport its alerts (see test/http/alerts.test.ts).
  expectStatus(yield* call("GET", `/api/v1/patients/${patientId}/snapshot`), 200)
  return { patientId, deviceId: device.id }
})

const record = (deviceId: string, values: Record<string, unknown>) =>
  Effect.map(call("POST", `/api/v1/devices/${deviceId}/readings`, { reading_id: randomUUID(), ...values }), (response) => {
    const body = expectStatus(response, 201)
    expect(body.status).toBe("stored")
    return body as { alerts: { raised: Array<any>; updated: Array<any>; resolved: Array<any> } }
  })

const snapshot = (patientId: string) => Effect.map(call("GET", `/api/v1/patients/${patientId}/snapshot`), (response) => expectStatus(response, 200))
const getAlert = (id: string) => Effect.map(call("GET", `/api/v1/alerts/${id}`), (response) => expectStatus(response, 200))

/** How many PatientMonitors are in memory in this process (the cluster's own gauge). */
const activeMonitors = Effect.map(Metric.value(ClusterMetrics.entities.pipe(Metric.tagged("type", "PatientMonitor"))), (state) => state.value)

/** A reading committed but never handed to its monitor, as when the process died in between. */
const insertUnevaluated = (patientId: string, values: { heart_rate?: number; spo2?: number }) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ seq: string }>`
      INSERT INTO vital_signs (id, patient_id, source, heart_rate, spo2, measured_at)
      VALUES (${randomUUID()}, ${patientId}, 'api', ${values.heart_rate ?? null}, ${values.spo2 ?? null}, now())
      RETURNING seq`
    return Number(row!.seq)
  })

layer(TestApp.layer({ ACTOR_MAX_IDLE_TIME: "1 second" }), { timeout: 60_000, excludeTestServices: true })("patient monitor state", (it) => {
  it.effect("keeps an open alert and its in-range count across passivation: it resolves at the 3rd in-range reading overall", () =>
    Effect.gen(function*() {
      const { patientId, deviceId } = yield* monitored
      const alert = (yield* record(deviceId, { heart_rate: 120 })).alerts.raised[0]
      expect(alert).toMatchObject({ vital_sign: "heart_rate", status: "open" })
      expect((yield* record(deviceId, { heart_rate: 80 })).alerts.resolved).toEqual([])
      const before = yield* snapshot(patientId)

      // Idle for longer than ACTOR_MAX_IDLE_TIME, the cluster's reaper passivates it (it looks every
      // 5 s). The gauge is refreshed every second: first see the monitor counted, then gone.
      yield* eventually(activeMonitors.pipe(Effect.filterOrFail((active) => active > 0n, () => "not counted yet")), 5)
      yield* eventually(activeMonitors.pipe(Effect.filterOrFail((active) => active === 0n, () => "still active")), 15)

      // Proof of passivation: a reading committed meanwhile (an unrelated sign) is only seen by a
      // monitor that activates afresh and catches up; a monitor still in memory would not see it.
      const seq = yield* insertUnevaluated(patientId, { spo2: 97 })
      const after = yield* snapshot(patientId)
      expect(after.evaluated_through, "the monitor was not passivated").toBe(seq)
      expect(after.evaluated_through).toBeGreaterThan(before.evaluated_through)
      expect(after.latest.spo2.value).toBe(97)
      expect(after.active_alerts.map((a: { id: string }) => a.id)).toEqual([alert.id])

      // The second in-range reading overall: still open.
      expect((yield* record(deviceId, { heart_rate: 81 })).alerts.resolved).toEqual([])
      expect((yield* getAlert(alert.id)).status).toBe("open")
      // The third: resolved, by the rebuilt counters.
      const third = yield* record(deviceId, { heart_rate: 82 })
      expect(third.alerts.resolved).toHaveLength(1)
      expect(third.alerts.resolved[0]).toMatchObject({ id: alert.id, status: "resolved", resolved_by: "auto" })
    }))

  it.effect("raises the alert of a reading committed but never evaluated when the patient's monitor first activates", () =>
    Effect.gen(function*() {
      const patientId = yield* createPatient
      const seq = yield* insertUnevaluated(patientId, { heart_rate: 125 })

      const first = yield* snapshot(patientId)
      expect(first.evaluated_through).toBe(seq)
      expect(first.latest.heart_rate.value).toBe(125)
      expect(first.active_alerts).toHaveLength(1)
      expect(first.active_alerts[0]).toMatchObject({ patient_id: patientId, vital_sign: "heart_rate", severity: "warning", status: "open", peak: 125, count: 1 })

      const listed = expectStatus(yield* call("GET", `/api/v1/alerts?patient_id=${patientId}`), 200)
      expect(listed.items.map((a: { id: string }) => a.id)).toEqual([first.active_alerts[0].id])
      const audit = expectStatus(yield* call("GET", `/api/v1/audit?entity_type=alert&entity_id=${first.active_alerts[0].id}`), 200)
      expect(audit.items.map((row: { action: string }) => row.action)).toEqual(["raised"])

      // Evaluated once: a second activation-free snapshot changes nothing.
      const second = yield* snapshot(patientId)
      expect(second.evaluated_through).toBe(seq)
      expect(second.active_alerts).toEqual(first.active_alerts)
    }))
})
