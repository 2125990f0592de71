/**
 * Vital signs in, alerts out, over HTTP: device readings raise, update and resolve threshold
 * alerts (src/domain/Alerting.ts) through the patient's PatientMonitor; alerts are acknowledged,
 * resolved and escalated; devices go offline and come back; snapshots and vitals read back.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { eventually } from "../support/eventually.ts"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp
const MISSING = "00000000-0000-4000-8000-000000000000"
let serials = 0
const serial = () => `ALERT-${Date.now().toString(36)}-${serials++}`

const expectStatus = <A = any>(response: TestApp.JsonResponse, status: number): A => {
  expect(response.status, JSON.stringify(response.body)).toBe(status)
  return response.body as A
}

interface Monitored {
  readonly patientId: string
  readonly deviceId: string
}

/**
 * A patient and a device linked to it, the patient's monitor already active (a snapshot activates
 * it). A monitor's very first reading is pinned by a test of its own ("reports the alert that the
 * first reading ... raises").
 */
const monitored = (options: { readonly activate: boolean } = { activate: true }) =>
  Effect.gen(function*() {
    const patient = expectStatus<{ id: string }>(yield* call("POST", "/patients", { full_name: "Monitored Patient", age: 64, sex: "F" }), 201)
    const device = expectStatus<{ id: string }>(
      yield* call("POST", "/devices", { serial: serial(), firmware: "v1", patient_id: patient.id }),
      201
    )
    if (options.activate) expectStatus(yield* call("GET", `/api/v1/patients/${patient.id}/snapshot`), 200)
    return { patientId: patient.id, deviceId: device.id } satisfies Monitored
  })

/** Sends one reading (a fresh reading_id unless given) and returns the raw response. */
const send = (deviceId: string, values: Record<string, unknown>) =>
  call("POST", `/api/v1/devices/${deviceId}/readings`, { reading_id: randomUUID(), ...values })

/** Sends one reading that must be stored; returns the 201 body. */
const record = (deviceId: string, values: Record<string, unknown>) =>
  Effect.map(send(deviceId, values), (response) => {
    const body = expectStatus(response, 201)
    expect(body.status).toBe("stored")
    return body as { status: string; reading_id: string; patient_id: string; alerts: { raised: Array<any>; updated: Array<any>; resolved: Array<any> } }
  })

const getAlert = (id: string) => Effect.map(call("GET", `/api/v1/alerts/${id}`), (response) => expectStatus(response, 200))

const alertsOf = (patientId: string, query = "") =>
  Effect.map(call("GET", `/api/v1/alerts?patient_id=${patientId}${query}`), (response) => expectStatus<{ items: Array<any>; next_cursor: string | null }>(response, 200))

const auditActions = (entityType: string, entityId: string) =>
  Effect.map(
    call("GET", `/api/v1/audit?entity_type=${entityType}&entity_id=${entityId}&limit=1000`),
    (response) => expectStatus<{ items: Array<{ action: string; actor: string }> }>(response, 200).items.map((row) => row.action)
  )

/** `effect` again until its answer satisfies `done` (the suite's one way of waiting). */
const until = <A, E, R>(effect: Effect.Effect<A, E, R>, done: (a: A) => boolean, seconds = 10) =>
  eventually(Effect.filterOrFail(effect, done, () => "not yet"), seconds)

const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000)

// The default profile (src/domain/ThresholdProfile.ts): heart rate 50..110, critical 40..130.
layer(TestApp.layer(), { timeout: 60_000, excludeTestServices: true })("alerts", (it) => {
  it.effect("routes a device's readings to the patient it is linked to now: a relink or an unlink applies to the very next reading", () =>
    Effect.gen(function*() {
      const { patientId: first, deviceId } = yield* monitored()
      const second = expectStatus<{ id: string }>(yield* call("POST", "/patients", { full_name: "Second Patient", age: 50, sex: "M" }), 201).id
      // Repeated readings: the route is served from the registry cache after the first.
      for (let i = 0; i < 3; i++) expect((yield* record(deviceId, { heart_rate: 70 + i })).patient_id).toBe(first)
      expectStatus(yield* call("PATCH", `/devices/${deviceId}`, { patient_id: second }), 200)
      const moved = yield* record(deviceId, { heart_rate: 81 })
      expect(moved.patient_id).toBe(second)
      const stored = expectStatus<{ items: Array<{ id: string; patient_id: string }> }>(
        yield* call("GET", `/api/v1/patients/${second}/vitals`),
        200
      )
      expect(stored.items.map((reading) => reading.id)).toEqual([moved.reading_id])
      expectStatus(yield* call("PATCH", `/devices/${deviceId}`, { patient_id: null }), 200)
      expect(yield* send(deviceId, { heart_rate: 82 })).toMatchObject({ status: 409, body: { detail: "Device is not linked to a patient" } })
    }))

  it.effect("raises one warning alert on a breach, updates it on the next breach and makes it critical above the critical bound", () =>
    Effect.gen(function*() {
      const { patientId, deviceId } = yield* monitored()

      const normal = yield* record(deviceId, { heart_rate: 80, spo2: 98, temperature: 36.8 })
      expect(normal.patient_id).toBe(patientId)
      expect(normal.alerts).toEqual({ raised: [], updated: [], resolved: [] })
      expect((yield* alertsOf(patientId)).items).toEqual([])

      const breach = yield* record(deviceId, { heart_rate: 120 })
      expect(breach.alerts.raised).toHaveLength(1)
      expect(breach.alerts.updated).toEqual([])
      const raised = breach.alerts.raised[0]
      expect(raised).toMatchObject({
        patient_id: patientId,
        vital_sign: "heart_rate",
        severity: "warning",
        status: "open",
        peak: 120,
        count: 1,
        bounds: { lower: 50, upper: 110, critical_lower: 40, critical_upper: 130 },
        acknowledged_at: null,
        acknowledged_by: null,
        escalated_at: null,
        resolved_at: null,
        resolved_by: null
      })
      expect(yield* getAlert(raised.id)).toEqual(raised)

      const worse = yield* record(deviceId, { heart_rate: 125 })
      expect(worse.alerts.raised).toEqual([])
      expect(worse.alerts.updated).toHaveLength(1)
      expect(worse.alerts.updated[0]).toMatchObject({ id: raised.id, severity: "warning", count: 2, peak: 125 })

      // A milder breach counts, but the peak stays the worst reading.
      const milder = yield* record(deviceId, { heart_rate: 115 })
      expect(milder.alerts.updated[0]).toMatchObject({ id: raised.id, count: 3, peak: 125 })

      const open = yield* alertsOf(patientId, "&status=open")
      expect(open.items).toHaveLength(1)
      expect(open.items[0]).toMatchObject({ id: raised.id, count: 3, peak: 125 })

      const critical = yield* record(deviceId, { heart_rate: 140 })
      expect(critical.alerts.raised).toEqual([])
      expect(critical.alerts.updated[0]).toMatchObject({ id: raised.id, severity: "critical", count: 4, peak: 140, status: "open" })
      expect(yield* getAlert(raised.id)).toMatchObject({ severity: "critical", count: 4, peak: 140 })
      expect((yield* alertsOf(patientId, "&severity=critical")).items.map((a) => a.id)).toEqual([raised.id])
      expect((yield* alertsOf(patientId, "&severity=warning")).items).toEqual([])
      expect((yield* alertsOf(patientId, "&vital_sign=spo2")).items).toEqual([])
      expect((yield* alertsOf(patientId)).items).toHaveLength(1)
    }))

  it.effect("reports the alert that the first reading a patient's monitor sees raises in that reading's answer", () =>
    Effect.gen(function*() {
      const { patientId, deviceId } = yield* monitored({ activate: false })
      const first = yield* record(deviceId, { heart_rate: 120 })
      // The alert is raised and stored...
      const stored = (yield* alertsOf(patientId)).items
      expect(stored).toHaveLength(1)
      expect(stored[0]).toMatchObject({ vital_sign: "heart_rate", status: "open", count: 1, peak: 120 })
      // ...and the answer to the reading that raised it says so.
      expect(first.alerts.raised.map((a) => a.id)).toEqual([stored[0].id])
    }))

  it.effect("keeps an alert open until 3 consecutive in-range readings, a breach in between restarting the count", () =>
    Effect.gen(function*() {
      const { patientId, deviceId } = yield* monitored()
      const alert = (yield* record(deviceId, { heart_rate: 120 })).alerts.raised[0]

      for (let i = 0; i < 2; i++) expect((yield* record(deviceId, { heart_rate: 80 })).alerts.resolved).toEqual([])
      expect((yield* getAlert(alert.id)).status).toBe("open")

      // A breach after two in-range readings: the count starts again.
      expect((yield* record(deviceId, { heart_rate: 118 })).alerts.updated[0]).toMatchObject({ id: alert.id, count: 2 })
      for (let i = 0; i < 2; i++) expect((yield* record(deviceId, { heart_rate: 80 })).alerts.resolved).toEqual([])
      // A reading without heart rate says nothing about it: it neither counts nor breaks the run.
      expect((yield* record(deviceId, { spo2: 97 })).alerts).toEqual({ raised: [], updated: [], resolved: [] })
      expect((yield* getAlert(alert.id)).status).toBe("open")

      const third = yield* record(deviceId, { heart_rate: 80 })
      expect(third.alerts.resolved).toHaveLength(1)
      expect(third.alerts.resolved[0]).toMatchObject({ id: alert.id, status: "resolved", resolved_by: "auto", count: 2, peak: 120 })
      expect(third.alerts.resolved[0].resolved_at).not.toBeNull()
      expect(yield* getAlert(alert.id)).toMatchObject({ status: "resolved", resolved_by: "auto" })
      expect((yield* alertsOf(patientId, "&status=open")).items).toEqual([])
      expect((yield* alertsOf(patientId, "&status=resolved")).items.map((a) => a.id)).toEqual([alert.id])
    }))

  it.effect("stores a repeated reading_id once, answers duplicate and leaves the alert count alone", () =>
    Effect.gen(function*() {
      const { patientId, deviceId } = yield* monitored()
      const sql = yield* SqlClient.SqlClient
      const readingId = randomUUID()

      const first = yield* record(deviceId, { reading_id: readingId, heart_rate: 120 })
      expect(first.reading_id).toBe(readingId)
      const alert = first.alerts.raised[0]
      expect(alert.count).toBe(1)

      // The same reading again (a retry), even with other values: stored once, evaluated once.
      for (const values of [{ heart_rate: 120 }, { heart_rate: 125 }]) {
        const again = expectStatus(yield* send(deviceId, { reading_id: readingId, ...values }), 201)
        expect(again).toMatchObject({ status: "duplicate", reading_id: readingId, alerts: { raised: [], updated: [], resolved: [] } })
      }
      const [row] = yield* sql<{ n: string }>`SELECT count(*) AS n FROM vital_signs WHERE id = ${readingId}`
      expect(row!.n).toBe("1")
      const [stored] = yield* sql<{ heart_rate: number }>`SELECT heart_rate FROM vital_signs WHERE id = ${readingId}`
      expect(stored!.heart_rate).toBe(120)
      expect(yield* getAlert(alert.id)).toMatchObject({ count: 1, peak: 120 })
      expect((yield* alertsOf(patientId)).items).toHaveLength(1)
    }))

  it.effect("answers 404 for an unknown device, 409 for an unlinked one and 422 for an implausible, empty or future reading", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { deviceId } = yield* monitored()
      const [before] = yield* sql<{ n: string }>`SELECT count(*) AS n FROM vital_signs`

      expect(yield* send(MISSING, { heart_rate: 80 })).toMatchObject({ status: 404, body: { detail: "Device not found" } })

      const unlinked = expectStatus<{ id: string }>(yield* call("POST", "/devices", { serial: serial(), firmware: "v1" }), 201)
      expect(yield* send(unlinked.id, { heart_rate: 80 })).toMatchObject({ status: 409, body: { detail: "Device is not linked to a patient" } })

      const implausible = yield* send(deviceId, { heart_rate: 400 })
      expect(implausible.status).toBe(422)
      expect(implausible.body.detail).toEqual([expect.objectContaining({ loc: ["body", "heart_rate"] })])

      const empty = yield* send(deviceId, {})
      expect(empty.status, JSON.stringify(empty.body)).toBe(422)
      expect(empty.body.detail[0].msg).toContain("at least one of")

      const future = yield* send(deviceId, { heart_rate: 80, measured_at: new Date(Date.now() + 60 * 60_000).toISOString() })
      expect(future.status, JSON.stringify(future.body)).toBe(422)
      expect(future.body.detail).toEqual([expect.objectContaining({ loc: ["body", "measured_at"] })])
      // Year 0 reads as a date in JavaScript, not in PostgreSQL, and 30 February as 2 March: refused here.
      for (const at of ["0000-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "2026-02-30T10:00:00Z"]) {
        const ancient = yield* send(deviceId, { heart_rate: 80, measured_at: at })
        expect(ancient.status, `${at}: ${JSON.stringify(ancient.body)}`).toBe(422)
        expect(ancient.body.detail).toEqual([expect.objectContaining({ loc: ["body", "measured_at"] })])
      }

      const noId = yield* call("POST", `/api/v1/devices/${deviceId}/readings`, { heart_rate: 80 })
      expect(noId.status).toBe(422)
      expect(noId.body.detail).toEqual([expect.objectContaining({ loc: ["body", "reading_id"], type: "missing" })])

      // None of them stored anything.
      const [after] = yield* sql<{ n: string }>`SELECT count(*) AS n FROM vital_signs`
      expect(after!.n).toBe(before!.n)
    }))

  it.effect("acknowledges an alert idempotently, resolves it by hand, refuses to acknowledge a resolved alert and opens a new alert on the next breach", () =>
    Effect.gen(function*() {
      const { patientId, deviceId } = yield* monitored()
      const alert = (yield* record(deviceId, { heart_rate: 120 })).alerts.raised[0]

      const acknowledged = expectStatus(yield* call("POST", `/api/v1/alerts/${alert.id}/acknowledge`), 200)
      expect(acknowledged).toMatchObject({ id: alert.id, status: "acknowledged", acknowledged_by: expect.any(String) })
      expect(acknowledged.acknowledged_by.length).toBeGreaterThan(0)
      expect(acknowledged.acknowledged_at).not.toBeNull()

      const twice = expectStatus(yield* call("POST", `/api/v1/alerts/${alert.id}/acknowledge`), 200)
      expect(twice).toEqual(acknowledged)
      expect(yield* getAlert(alert.id)).toEqual(acknowledged)

      // An acknowledged alert is still the patient's one alert for the sign: a breach updates it.
      const updated = (yield* record(deviceId, { heart_rate: 121 })).alerts
      expect(updated.raised).toEqual([])
      expect(updated.updated[0]).toMatchObject({ id: alert.id, status: "acknowledged", count: 2 })

      const resolved = expectStatus(yield* call("POST", `/api/v1/alerts/${alert.id}/resolve`), 200)
      expect(resolved).toMatchObject({ id: alert.id, status: "resolved", resolved_by: expect.any(String) })
      expect(resolved.resolved_at).not.toBeNull()

      expect(yield* call("POST", `/api/v1/alerts/${alert.id}/acknowledge`)).toMatchObject({ status: 409 })
      expect(yield* call("POST", `/api/v1/alerts/${alert.id}/resolve`)).toMatchObject({ status: 409 })
      expect(yield* getAlert(alert.id)).toEqual(resolved)

      for (const action of ["acknowledge", "resolve"]) {
        expect(yield* call("POST", `/api/v1/alerts/${MISSING}/${action}`)).toMatchObject({ status: 404, body: { detail: "Alert not found" } })
      }
      expect(yield* call("GET", `/api/v1/alerts/${MISSING}`)).toMatchObject({ status: 404, body: { detail: "Alert not found" } })
      expect((yield* call("GET", "/api/v1/alerts/not-a-uuid")).status).toBe(422)

      const next = (yield* record(deviceId, { heart_rate: 122 })).alerts
      expect(next.updated).toEqual([])
      expect(next.raised).toHaveLength(1)
      expect(next.raised[0]).toMatchObject({ status: "open", count: 1, peak: 122 })
      expect(next.raised[0].id).not.toBe(alert.id)
      expect((yield* alertsOf(patientId, "&status=open")).items.map((a) => a.id)).toEqual([next.raised[0].id])

      expect(yield* auditActions("alert", alert.id)).toEqual(["raised", "acknowledged", "updated", "resolved"])
    }))

  it.effect("shows latest values, active alerts and the default profile in the snapshot, and the patient's profile once it exists", () =>
    Effect.gen(function*() {
      const { patientId, deviceId } = yield* monitored()

      const empty = expectStatus(yield* call("GET", `/api/v1/patients/${patientId}/snapshot`), 200)
      expect(empty).toMatchObject({ patient_id: patientId, profile: "default", latest: {}, active_alerts: [] })

      const earlier = minutesAgo(2).toISOString()
      const later = minutesAgo(1).toISOString()
      yield* record(deviceId, { heart_rate: 100, spo2: 97, measured_at: earlier })
      // Under the default profile (upper 110) 100 is normal.
      const stillNormal = yield* record(deviceId, { heart_rate: 105, temperature: 37.1, measured_at: later })
      expect(stillNormal.alerts.raised).toEqual([])

      const snapshot = expectStatus(yield* call("GET", `/api/v1/patients/${patientId}/snapshot`), 200)
      expect(snapshot.profile).toBe("default")
      expect(snapshot.bounds.heart_rate).toEqual({ lower: 50, upper: 110, critical_lower: 40, critical_upper: 130 })
      expect(snapshot.bounds.spo2).toEqual({ lower: 94, critical_lower: 91 })
      expect(snapshot.latest).toEqual({
        heart_rate: { value: 105, measured_at: later },
        spo2: { value: 97, measured_at: earlier },
        temperature: { value: 37.1, measured_at: later }
      })
      expect(snapshot.active_alerts).toEqual([])

      // A profile of the patient's own: the very next reading is judged by it.
      expectStatus(yield* call("POST", "/thresholds", { patient_id: patientId, hr_min: 40, hr_max: 90, spo2_min: 92, temp_min: 35.5, temp_max: 38.5 }), 201)
      const profiled = expectStatus(yield* call("GET", `/api/v1/patients/${patientId}/snapshot`), 200)
      expect(profiled.profile).toBe("patient")
      expect(profiled.bounds.heart_rate).toEqual({ lower: 40, upper: 90 })
      expect(profiled.bounds.spo2).toEqual({ lower: 92 })

      const breach = yield* record(deviceId, { heart_rate: 100 })
      expect(breach.alerts.raised).toHaveLength(1)
      expect(breach.alerts.raised[0]).toMatchObject({ vital_sign: "heart_rate", severity: "warning", peak: 100, bounds: { lower: 40, upper: 90 } })
      // 93 would breach the default spo2 bound (94), not the patient's (92).
      expect((yield* record(deviceId, { spo2: 93 })).alerts.raised).toEqual([])

      const withAlert = expectStatus(yield* call("GET", `/api/v1/patients/${patientId}/snapshot`), 200)
      expect(withAlert.latest.heart_rate.value).toBe(100)
      expect(withAlert.latest.spo2.value).toBe(93)
      expect(withAlert.active_alerts).toHaveLength(1)
      expect(withAlert.active_alerts[0]).toMatchObject({ id: breach.alerts.raised[0].id, vital_sign: "heart_rate", status: "open" })

      expect(yield* call("GET", `/api/v1/patients/${MISSING}/snapshot`)).toMatchObject({ status: 404, body: { detail: "Patient not found" } })
    }))

  it.effect("reads vitals back by time range and vital sign, and walks keyset pages of 2 over every row once in measured_at order", () =>
    Effect.gen(function*() {
      const { patientId, deviceId } = yield* monitored()
      const now = Date.now()
      const at = (minutes: number) => new Date(now - minutes * 60_000).toISOString()
      const readings = [
        { reading_id: randomUUID(), measured_at: at(50), heart_rate: 70 },
        { reading_id: randomUUID(), measured_at: at(10), spo2: 97 },
        { reading_id: randomUUID(), measured_at: at(40), heart_rate: 72, spo2: 98 },
        { reading_id: randomUUID(), measured_at: at(30), temperature: 36.9 },
        // Two readings at the same instant: the id breaks the tie.
        { reading_id: randomUUID(), measured_at: at(20), heart_rate: 75 },
        { reading_id: randomUUID(), measured_at: at(20), heart_rate: 76 }
      ]
      for (const reading of readings) yield* record(deviceId, reading)
      const ordered = [...readings].sort((a, b) => a.measured_at < b.measured_at ? -1 : a.measured_at > b.measured_at ? 1 : a.reading_id < b.reading_id ? -1 : 1)
      const vitals = (query: string) =>
        Effect.map(call("GET", `/api/v1/patients/${patientId}/vitals${query}`), (response) =>
          expectStatus<{ items: Array<any>; next_cursor: string | null }>(response, 200))

      const all = yield* vitals("")
      expect(all.items.map((r) => r.id)).toEqual(ordered.map((r) => r.reading_id))
      expect(all.next_cursor).toBeNull()
      expect(all.items[0]).toMatchObject({ patient_id: patientId, device_id: deviceId, source: "device", heart_rate: 70, spo2: null, measured_at: readings[0]!.measured_at })

      // Between 45 and 15 minutes ago: the readings of 40, 30 and 20 (twice) minutes ago.
      const range = yield* vitals(`?from=${encodeURIComponent(at(45))}&to=${encodeURIComponent(at(15))}`)
      expect(range.items.map((r) => r.id)).toEqual(ordered.filter((r) => r.measured_at > at(45) && r.measured_at < at(15)).map((r) => r.reading_id))
      expect(range.items).toHaveLength(4)
      expect((yield* vitals(`?from=${encodeURIComponent(at(25))}`)).items.map((r) => r.id)).toEqual(ordered.slice(3).map((r) => r.reading_id))
      expect((yield* vitals(`?to=${encodeURIComponent(at(45))}`)).items.map((r) => r.id)).toEqual([readings[0]!.reading_id])

      const spo2 = yield* vitals("?vital_sign=spo2")
      expect(spo2.items.map((r) => r.id)).toEqual([readings[2]!.reading_id, readings[1]!.reading_id])
      expect(spo2.items.every((r) => r.spo2 !== null)).toBe(true)
      expect((yield* vitals("?vital_sign=respiratory_rate")).items).toEqual([])

      const walked: Array<string> = []
      let cursor: string | null = null
      let pages = 0
      do {
        const page: { items: Array<any>; next_cursor: string | null } = yield* vitals(`?limit=2${cursor === null ? "" : `&cursor=${cursor}`}`)
        expect(page.items.length).toBeLessThanOrEqual(2)
        walked.push(...page.items.map((r) => r.id as string))
        cursor = page.next_cursor
        pages++
      } while (cursor !== null && pages < 10)
      expect(walked).toEqual(ordered.map((r) => r.reading_id))
      expect(pages).toBe(3)

      // Pages combine with filters.
      const firstHr = yield* vitals("?vital_sign=heart_rate&limit=2")
      const secondHr = yield* vitals(`?vital_sign=heart_rate&limit=2&cursor=${firstHr.next_cursor}`)
      expect([...firstHr.items, ...secondHr.items].map((r) => r.id)).toEqual(ordered.filter((r) => r.heart_rate !== undefined).map((r) => r.reading_id))
      expect(secondHr.next_cursor).toBeNull()

      for (const bad of ["not-a-cursor", Buffer.from("{not json").toString("base64url"), "x".repeat(600)]) {
        const response = yield* call("GET", `/api/v1/patients/${patientId}/vitals?cursor=${bad}`)
        expect(response.status, bad).toBe(422)
        expect(response.body.detail).toEqual([expect.objectContaining({ loc: ["query", "cursor"] })])
        if (bad.length < 512) expect(response.body.detail[0]).toMatchObject({ msg: expect.stringContaining("not a cursor of"), input: bad })
      }
      expect((yield* call("GET", `/api/v1/patients/${patientId}/vitals?vital_sign=pulse`)).status).toBe(422)
      expect((yield* call("GET", `/api/v1/patients/${patientId}/vitals?from=yesterday`)).status).toBe(422)
      expect((yield* call("GET", `/api/v1/patients/${patientId}/vitals?limit=1001`)).status).toBe(422)
      // limit=0, as on every list: an empty page, whose cursor goes on from where it stood.
      const none = yield* vitals("?limit=0")
      expect(none.items).toEqual([])
      const fromStart = yield* vitals(`?limit=2&cursor=${none.next_cursor}`)
      expect(fromStart.items.map((r) => r.id)).toEqual((yield* vitals("?limit=2")).items.map((r) => r.id))
      expect(yield* call("GET", `/api/v1/patients/${MISSING}/vitals`)).toMatchObject({ status: 404 })
    }))

  it.effect("refuses with 422 a cursor written by the other list (an alerts cursor for vitals, a vitals cursor for alerts)", () =>
    Effect.gen(function*() {
      const { patientId, deviceId } = yield* monitored()
      for (const minutes of [3, 2, 1]) yield* record(deviceId, { heart_rate: 120, measured_at: minutesAgo(minutes).toISOString() })
      const vitalsCursor = expectStatus(yield* call("GET", `/api/v1/patients/${patientId}/vitals?limit=1`), 200).next_cursor
      expect(vitalsCursor).toEqual(expect.any(String))
      // The alerts list's cursor form: {created_at, id}, no measured_at.
      const alertsCursor = Buffer.from(JSON.stringify({ created_at: new Date().toISOString(), id: randomUUID() })).toString("base64url")

      const vitals = yield* call("GET", `/api/v1/patients/${patientId}/vitals?limit=2&cursor=${alertsCursor}`)
      expect(vitals.status, JSON.stringify(vitals.body)).toBe(422)
      const alerts = yield* call("GET", `/api/v1/alerts?patient_id=${patientId}&cursor=${vitalsCursor}`)
      expect(alerts.status, JSON.stringify(alerts.body)).toBe(422)
    }))

  it.effect("refuses with 422 a cursor whose time PostgreSQL would not read, on both lists", () =>
    Effect.gen(function*() {
      const { patientId } = yield* monitored()
      for (const at of ["1", "2026-01-01 12:00 GMT+0100 (x)", "0000-01-01T00:00:00.000Z"]) {
        const crafted = (key: string) => Buffer.from(JSON.stringify({ [key]: at, id: randomUUID() })).toString("base64url")
        const vitals = yield* call("GET", `/api/v1/patients/${patientId}/vitals?cursor=${crafted("measured_at")}`)
        expect(vitals.status, `${at}: ${JSON.stringify(vitals.body)}`).toBe(422)
        const alerts = yield* call("GET", `/api/v1/alerts?cursor=${crafted("created_at")}`)
        expect(alerts.status, `${at}: ${JSON.stringify(alerts.body)}`).toBe(422)
      }
    }))

  it.effect("walks the alerts list one alert per page, each alert once, to the end", () =>
    Effect.gen(function*() {
      const { patientId, deviceId } = yield* monitored()
      // Three alerts: heart rate, SpO2 and temperature, raised by separate readings.
      yield* record(deviceId, { heart_rate: 120 })
      yield* record(deviceId, { spo2: 90 })
      yield* record(deviceId, { temperature: 38.6 })
      const seen: Array<string> = []
      let cursor: string | null = null
      for (let page = 0; page < 10; page++) {
        const body: any = expectStatus(yield* call("GET", `/api/v1/alerts?patient_id=${patientId}&limit=1${cursor === null ? "" : `&cursor=${cursor}`}`), 200)
        seen.push(...body.items.map((alert: any) => alert.id))
        cursor = body.next_cursor
        if (cursor === null) break
      }
      expect(cursor).toBeNull()
      expect(seen).toHaveLength(3)
      expect(new Set(seen).size).toBe(3)
    }))

  it.effect("records every alert change as an audit row and an outbox event", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { deviceId } = yield* monitored()
      const alert = (yield* record(deviceId, { temperature: 38.6 })).alerts.raised[0]
      expect(alert).toMatchObject({ vital_sign: "temperature", severity: "warning" })
      for (let i = 0; i < 3; i++) yield* record(deviceId, { temperature: 37 })
      expect((yield* getAlert(alert.id)).status).toBe("resolved")

      expect(yield* auditActions("alert", alert.id)).toEqual(["raised", "resolved"])
      const rows = yield* sql<{ subject: string }>`
        SELECT subject FROM outbox WHERE event->>'subject' = ${alert.id} ORDER BY seq`
      const subjects = rows.map((row) => row.subject)
      expect(subjects.filter((s) => s.startsWith("events."))).toEqual(["events.alert.raised", "events.alert.resolved"])
      expect(subjects.filter((s) => s.startsWith("audit."))).toEqual(["audit.alert.raised", "audit.alert.resolved"])
      const [raisedEvent] = yield* sql<{ event: { type: string; data: { id: string; status: string } } }>`
        SELECT event FROM outbox WHERE subject = 'events.alert.resolved' AND event->>'subject' = ${alert.id}`
      expect(raisedEvent!.event.type).toBe("vigil.alert.resolved")
      expect(raisedEvent!.event.data).toMatchObject({ id: alert.id, status: "resolved" })
    }))

  it.effect("audits and publishes each alert change of one reading (several vital signs, written in one statement) as the alert it answered, field for field", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { patientId, deviceId } = yield* monitored()
      const changesOf = (alertId: string) =>
        sql<{ action: string; before: unknown; after: unknown; data: unknown }>`
          SELECT a.action, a.before, a.after, o.event->'data' AS data FROM audit_events a
          JOIN outbox o ON o.subject = 'events.alert.' || a.action AND o.event->>'subject' = a.entity_id
          WHERE a.entity_type = 'alert' AND a.entity_id = ${alertId} ORDER BY a.seq`
      const first = (yield* record(deviceId, { heart_rate: 120 })).alerts.raised[0]
      // One reading: the heart-rate alert worsens to critical, a temperature alert is raised.
      const second = (yield* record(deviceId, { heart_rate: 140, temperature: 38.6 })).alerts
      expect(second.updated.map((a: any) => a.id)).toEqual([first.id])
      expect(second.raised.map((a: any) => a.vital_sign)).toEqual(["temperature"])
      let resolved: Array<any> = []
      for (let i = 0; i < 3; i++) resolved = [...resolved, ...(yield* record(deviceId, { heart_rate: 70, temperature: 37 })).alerts.resolved]
      expect(resolved.map((a) => a.vital_sign).sort()).toEqual(["heart_rate", "temperature"])
      const heart = resolved.find((a) => a.vital_sign === "heart_rate")
      const temperature = resolved.find((a) => a.vital_sign === "temperature")
      expect(yield* changesOf(first.id)).toEqual([
        { action: "raised", before: null, after: first, data: first },
        { action: "updated", before: first, after: second.updated[0], data: second.updated[0] },
        { action: "resolved", before: second.updated[0], after: heart, data: heart }
      ])
      expect(yield* changesOf(second.raised[0].id)).toEqual([
        { action: "raised", before: null, after: second.raised[0], data: second.raised[0] },
        { action: "resolved", before: second.raised[0], after: temperature, data: temperature }
      ])
      const [saved] = yield* sql<{ last_seq: string }>`SELECT last_seq FROM patient_monitors WHERE patient_id = ${patientId}`
      const [latest] = yield* sql<{ seq: string }>`SELECT max(seq) AS seq FROM vital_signs WHERE patient_id = ${patientId}`
      expect(saved!.last_seq).toBe(latest!.seq)
    }))

  it.effect("writes nothing of an evaluation whose alert another process changed, and evaluates the reading again on fresh state", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const { patientId, deviceId } = yield* monitored()
      const alert = (yield* record(deviceId, { heart_rate: 120 })).alerts.raised[0]
      // As another process's monitor of the same patient would: the alert is resolved behind this monitor's back.
      yield* sql`UPDATE alerts SET status = 'resolved', resolved_at = now(), resolved_by = 'elsewhere' WHERE id = ${alert.id}`
      // This reading would worsen the alert and raise a temperature alert in one statement: stale, so neither is written,
      // then on reloaded state both breaches raise new alerts.
      const again = (yield* record(deviceId, { heart_rate: 125, temperature: 38.6 })).alerts
      expect(again.updated).toEqual([])
      expect(again.raised.map((a: any) => a.vital_sign).sort()).toEqual(["heart_rate", "temperature"])
      expect(again.raised.map((a: any) => a.id)).not.toContain(alert.id)
      expect(yield* auditActions("alert", alert.id)).toEqual(["raised"])
      const open = (yield* alertsOf(patientId, "&status=open")).items
      expect(open.map((a) => a.vital_sign).sort()).toEqual(["heart_rate", "temperature"])
      const [raised] = yield* sql<{ n: string }>`
        SELECT count(*) AS n FROM audit_events WHERE entity_type = 'alert' AND action = 'raised' AND after->>'patient_id' = ${patientId}`
      expect(Number(raised!.n)).toBe(3)
    }))
})

layer(TestApp.layer({ ALERT_SUSTAINED_READINGS: "3" }), { timeout: 60_000, excludeTestServices: true })("alerts, sustained rule", (it) => {
  it.effect("raises only on the 3rd consecutive breach, with the run's worst value and first time", () =>
    Effect.gen(function*() {
      const { patientId, deviceId } = yield* monitored()
      const now = Date.now()
      const at = (minutes: number) => new Date(now - minutes * 60_000).toISOString()

      expect((yield* record(deviceId, { heart_rate: 115, measured_at: at(9) })).alerts.raised).toEqual([])
      expect((yield* record(deviceId, { heart_rate: 116, measured_at: at(8) })).alerts.raised).toEqual([])
      // An in-range reading breaks the run: two more breaches are not enough.
      expect((yield* record(deviceId, { heart_rate: 90, measured_at: at(7) })).alerts.raised).toEqual([])
      expect((yield* record(deviceId, { heart_rate: 125, measured_at: at(6) })).alerts.raised).toEqual([])
      expect((yield* record(deviceId, { heart_rate: 118, measured_at: at(5) })).alerts.raised).toEqual([])
      expect((yield* alertsOf(patientId)).items).toEqual([])

      const third = yield* record(deviceId, { heart_rate: 117, measured_at: at(4) })
      expect(third.alerts.raised).toHaveLength(1)
      expect(third.alerts.raised[0]).toMatchObject({ vital_sign: "heart_rate", severity: "warning", status: "open", count: 3, peak: 125, first_seen: at(6), last_seen: at(4) })
      expect((yield* alertsOf(patientId)).items).toHaveLength(1)

      // Once open, the next breach updates it at once.
      expect((yield* record(deviceId, { heart_rate: 119, measured_at: at(3) })).alerts.updated[0]).toMatchObject({ count: 4 })
    }))
})

layer(
  TestApp.layer({ ALERT_ESCALATE_AFTER: "1 second", ALERT_SWEEP_INTERVAL: "200 millis" }),
  { timeout: 60_000, excludeTestServices: true }
)("alerts, escalation", (it) => {
  it.effect("escalates a critical alert nobody acknowledged, once, and records it in the audit trail", () =>
    Effect.gen(function*() {
      const { deviceId } = yield* monitored()
      const alert = (yield* record(deviceId, { heart_rate: 140 })).alerts.raised[0]
      expect(alert).toMatchObject({ severity: "critical", escalated_at: null })

      const escalated = yield* until(getAlert(alert.id), (a) => a.escalated_at !== null)
      expect(escalated.status).toBe("open")
      expect(Date.parse(escalated.escalated_at) - Date.parse(alert.created_at)).toBeGreaterThanOrEqual(1000)

      // Later sweeps leave it alone: one escalation per alert. A witness raised now is escalated
      // by a later sweep; by then the first alert has been left alone at least once.
      const witness = (yield* record((yield* monitored()).deviceId, { heart_rate: 141 })).alerts.raised[0]
      yield* until(getAlert(witness.id), (a) => a.escalated_at !== null)
      expect((yield* auditActions("alert", alert.id)).filter((a) => a === "escalated")).toHaveLength(1)
      expect((yield* getAlert(alert.id)).escalated_at).toBe(escalated.escalated_at)
      // An escalated alert can still be acknowledged.
      expect(expectStatus(yield* call("POST", `/api/v1/alerts/${alert.id}/acknowledge`), 200).status).toBe("acknowledged")
    }))

  it.effect("escalates neither an acknowledged critical alert nor a warning", () =>
    Effect.gen(function*() {
      const acknowledgedPatient = yield* monitored()
      const critical = (yield* record(acknowledgedPatient.deviceId, { heart_rate: 135 })).alerts.raised[0]
      expect(critical.severity).toBe("critical")
      expectStatus(yield* call("POST", `/api/v1/alerts/${critical.id}/acknowledge`), 200)

      const warningPatient = yield* monitored()
      const warning = (yield* record(warningPatient.deviceId, { heart_rate: 115 })).alerts.raised[0]
      expect(warning.severity).toBe("warning")

      // Witnesses: a critical alert raised now is escalated, so the sweeps ran with the others due;
      // a second, raised once the first is escalated, makes sure that sweep has finished.
      for (const spo2 of [85, 86]) {
        const witness = (yield* record((yield* monitored()).deviceId, { spo2 })).alerts.raised[0]
        expect(witness.severity).toBe("critical")
        yield* until(getAlert(witness.id), (a) => a.escalated_at !== null)
      }

      expect((yield* getAlert(critical.id)).escalated_at).toBeNull()
      expect((yield* getAlert(warning.id)).escalated_at).toBeNull()
      expect(yield* auditActions("alert", critical.id)).not.toContain("escalated")
      expect(yield* auditActions("alert", warning.id)).not.toContain("escalated")
    }))

  it.effect("escalates a warning that turned critical only once it has been critical for ALERT_ESCALATE_AFTER", () =>
    Effect.gen(function*() {
      const { deviceId } = yield* monitored()
      const warning = (yield* record(deviceId, { heart_rate: 115 })).alerts.raised[0]
      // A witness, critical and raised after the warning, is escalated: the warning is then older
      // than ALERT_ESCALATE_AFTER and a sweep has run, but it is only a warning so far.
      const witness = (yield* record((yield* monitored()).deviceId, { heart_rate: 142 })).alerts.raised[0]
      yield* until(getAlert(witness.id), (a) => a.escalated_at !== null)
      expect(Date.now() - Date.parse(warning.created_at)).toBeGreaterThanOrEqual(1000)
      expect((yield* getAlert(warning.id)).escalated_at).toBeNull()

      const critical = (yield* record(deviceId, { heart_rate: 140 })).alerts.updated[0]
      expect(critical).toMatchObject({ id: warning.id, severity: "critical" })
      const escalated = yield* until(getAlert(warning.id), (a) => a.escalated_at !== null)
      // "How long a critical alert may stay unacknowledged before it is escalated" (AlertConfig).
      expect(Date.parse(escalated.escalated_at) - Date.parse(critical.updated_at)).toBeGreaterThanOrEqual(1000)
    }))
})

layer(
  TestApp.layer({ DEVICE_OFFLINE_AFTER: "1 second", ALERT_SWEEP_INTERVAL: "200 millis" }),
  { timeout: 60_000, excludeTestServices: true }
)("alerts, offline devices", (it) => {
  it.effect("reports a device offline after a silence and online again at its next reading", () =>
    Effect.gen(function*() {
      const { deviceId } = yield* monitored()
      const deviceAudit = auditActions("device", deviceId)
      yield* record(deviceId, { heart_rate: 80 })
      expect(yield* deviceAudit).not.toContain("offline")

      const offline = yield* until(deviceAudit, (actions) => actions.includes("offline"))
      expect(offline.filter((a) => a === "offline")).toHaveLength(1)
      // Still silent: not reported a second time, though a witness that fell silent later has been.
      const witness = yield* monitored()
      yield* record(witness.deviceId, { heart_rate: 80 })
      yield* until(auditActions("device", witness.deviceId), (actions) => actions.includes("offline"))
      expect((yield* deviceAudit).filter((a) => a === "offline")).toHaveLength(1)

      yield* record(deviceId, { heart_rate: 81 })
      const back = yield* deviceAudit
      expect(back.filter((a) => a === "online")).toHaveLength(1)
      expect(back.lastIndexOf("online")).toBeGreaterThan(back.indexOf("offline"))
    }))

  it.effect("does not report a device that never sent a reading", () =>
    Effect.gen(function*() {
      const silent = expectStatus<{ id: string }>(yield* call("POST", "/devices", { serial: serial(), firmware: "v1" }), 201)
      const { deviceId } = yield* monitored()
      yield* record(deviceId, { heart_rate: 80 })
      // The witness goes offline, so the sweep ran; the silent device is not reported.
      yield* until(auditActions("device", deviceId), (actions) => actions.includes("offline"))
      expect(yield* auditActions("device", silent.id)).not.toContain("offline")
    }))
})
