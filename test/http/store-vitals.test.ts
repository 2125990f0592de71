/**
 * Seed 002's `POST /store-vitals`: a batch of trial vitals stored in one transaction, trial
 * subjects found or created by SubjectID, implausible values refused with FastAPI's 422 (and
 * nothing of the batch stored), abnormal values stored and alerted on, retries safe by ReadingID.
 */
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp
const ISO_Z = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/

let subjects = 0
/** A SubjectID no other test uses. */
const subjectId = (prefix = "SUBJ") => `${prefix}-${Date.now().toString(36)}-${subjects++}`

/** A plausible, normal record (the seed's curl example's values). */
const record = (SubjectID: string, overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  SubjectID,
  VisitName: "Screening",
  TreatmentArm: "Active",
  SystolicBP: 125,
  DiastolicBP: 80,
  HeartRate: 72,
  Temperature: 36.8,
  ...overrides
})

const storeVitals = (records: ReadonlyArray<unknown>) => call("POST", "/store-vitals", { records })

const stored = (response: TestApp.JsonResponse) => {
  expect(response.status, JSON.stringify(response.body)).toBe(200)
  return response.body as { success: true; records_stored: number; timestamp: string }
}

const counts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ patients: number; vitals: number }>`
    SELECT (SELECT count(*)::int FROM patients) AS patients, (SELECT count(*)::int FROM vital_signs) AS vitals`
  return row!
})

const patientsBySubject = (subjectNumber: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<{ id: string; subject_number: string; treatment_arm: string | null; site_id: string | null; protocol_id: string | null }>`
      SELECT id, subject_number, treatment_arm, site_id, protocol_id FROM patients WHERE subject_number = ${subjectNumber}`
  })

const vitalsOf = (patientId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<Record<string, unknown>>`
      SELECT id, source, visit_name, systolic_bp, diastolic_bp, heart_rate, temperature, device_id, measured_at
      FROM vital_signs WHERE patient_id = ${patientId} ORDER BY seq`
  })

layer(TestApp.layer(), { timeout: 60_000, excludeTestServices: true })("store-vitals", (it) => {
  it.effect("answers seed 002's own verification queries, run as its document writes them, with exactly that subject's rows", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      // Another subject's readings first: the second query must not return them.
      stored(yield* storeVitals([record("TEST-002"), record("TEST-002", { VisitName: "Week 4" })]))
      // The document's "Test Database Write", as written.
      const write = yield* call(
        "POST",
        "/store-vitals",
        `{"records": [{"SubjectID": "TEST-001", "VisitName": "Screening", "TreatmentArm": "Active", "SystolicBP": 120, "DiastolicBP": 80, "HeartRate": 70, "Temperature": 36.6}]}`,
        { "content-type": "application/json" }
      )
      expect(stored(write).records_stored).toBe(1)

      // The document's "Verify in Database", verbatim.
      const patients = yield* sql.unsafe<Record<string, unknown>>(`SELECT * FROM patients WHERE subject_number = 'TEST-001';`)
      expect(patients).toHaveLength(1)
      expect(patients[0]).toMatchObject({ subject_number: "TEST-001", treatment_arm: "Active" })
      expect(patients[0]!.patient_id).toBe(patients[0]!.id)
      const vitals = yield* sql.unsafe<Record<string, unknown>>(
        `SELECT * FROM vital_signs WHERE patient_id IN (SELECT patient_id FROM patients WHERE subject_number = 'TEST-001');`
      )
      expect(vitals).toHaveLength(1)
      expect(vitals[0]).toMatchObject({
        patient_id: patients[0]!.id,
        visit_name: "Screening",
        systolic_bp: 120,
        diastolic_bp: 80,
        heart_rate: 70,
        temperature: 36.6
      })
    }))

  it.effect("stores the seed's curl example and creates the trial subject", () =>
    Effect.gen(function*() {
      // The seed's exact body.
      const response = yield* call("POST", "/store-vitals", {
        records: [{
          SubjectID: "RA001-001",
          VisitName: "Screening",
          TreatmentArm: "Active",
          SystolicBP: 125,
          DiastolicBP: 80,
          HeartRate: 72,
          Temperature: 36.8
        }]
      })
      expect(response.status, JSON.stringify(response.body)).toBe(200)
      expect(response.body).toEqual({ success: true, records_stored: 1, timestamp: expect.stringMatching(ISO_Z) })
      expect(Math.abs(Date.parse(response.body.timestamp) - Date.now())).toBeLessThan(60_000)

      const patients = yield* patientsBySubject("RA001-001")
      expect(patients).toHaveLength(1)
      expect(patients[0]).toMatchObject({ subject_number: "RA001-001", treatment_arm: "Active" })
      const rows = yield* vitalsOf(patients[0]!.id)
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({
        source: "trial",
        visit_name: "Screening",
        systolic_bp: 125,
        diastolic_bp: 80,
        heart_rate: 72,
        temperature: 36.8,
        device_id: null
      })
    }))

  it.effect("creates each subject of a batch once and reuses an existing subject in a later batch", () =>
    Effect.gen(function*() {
      const a = subjectId("RA002")
      const b = subjectId("RA002")
      const before = yield* counts
      const first = stored(yield* storeVitals([
        record(a, { VisitName: "Screening" }),
        record(b, { VisitName: "Screening", TreatmentArm: "Placebo" }),
        record(a, { VisitName: "Week 4", HeartRate: 75 }),
        record(b, { VisitName: "Week 4", TreatmentArm: "Placebo", HeartRate: 68 })
      ]))
      expect(first.records_stored).toBe(4)
      const afterFirst = yield* counts
      expect(afterFirst.patients - before.patients).toBe(2)
      expect(afterFirst.vitals - before.vitals).toBe(4)

      const [patientA] = yield* patientsBySubject(a)
      const [patientB] = yield* patientsBySubject(b)
      expect(patientA!.treatment_arm).toBe("Active")
      expect(patientB!.treatment_arm).toBe("Placebo")
      expect((yield* vitalsOf(patientA!.id)).map((row) => row.visit_name)).toEqual(["Screening", "Week 4"])
      expect((yield* vitalsOf(patientB!.id)).map((row) => row.visit_name)).toEqual(["Screening", "Week 4"])

      // A later batch for the same subjects: no new patients, the readings go to the same ones.
      const second = stored(yield* storeVitals([record(a, { VisitName: "Week 12" }), record(b, { VisitName: "Week 12", TreatmentArm: "Placebo" })]))
      expect(second.records_stored).toBe(2)
      const afterSecond = yield* counts
      expect(afterSecond.patients).toBe(afterFirst.patients)
      expect(afterSecond.vitals - afterFirst.vitals).toBe(2)
      expect(yield* patientsBySubject(a)).toHaveLength(1)
      expect(yield* patientsBySubject(b)).toHaveLength(1)
      expect((yield* vitalsOf(patientA!.id)).map((row) => row.visit_name)).toEqual(["Screening", "Week 4", "Week 12"])
      expect((yield* vitalsOf(patientB!.id)).map((row) => row.visit_name)).toEqual(["Screening", "Week 4", "Week 12"])
    }))

  it.effect("refuses a batch with an implausible value at index 2 with 422 naming it, storing nothing of the batch", () =>
    Effect.gen(function*() {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ HeartRate: 900 }, "HeartRate"],
        [{ Temperature: 60 }, "Temperature"],
        [{ Temperature: 10 }, "Temperature"],
        [{ SystolicBP: -5 }, "SystolicBP"],
        [{ DiastolicBP: 400 }, "DiastolicBP"]
      ]
      for (const [bad, field] of cases) {
        const fresh = subjectId("RA003")
        const existing = subjectId("RA003")
        stored(yield* storeVitals([record(existing)]))
        const before = yield* counts
        const response = yield* storeVitals([record(fresh), record(existing, { VisitName: "Week 4" }), record(fresh, { VisitName: "Week 4", ...bad }), record(existing)])
        expect(response.status, JSON.stringify(bad)).toBe(422)
        expect(response.body.detail, JSON.stringify(bad)).toEqual([
          expect.objectContaining({ loc: ["body", "records", 2, field], msg: expect.any(String), type: expect.any(String) })
        ])
        // Neither the valid records' readings nor the new subject.
        expect(yield* counts).toEqual(before)
        expect(yield* patientsBySubject(fresh)).toHaveLength(0)
      }
    }))

  it.effect("refuses a fractional SystolicBP, DiastolicBP or HeartRate (ints in the seed) and accepts 120.0", () =>
    Effect.gen(function*() {
      for (const field of ["SystolicBP", "DiastolicBP", "HeartRate"]) {
        const subject = subjectId("RA005")
        const before = yield* counts
        const response = yield* storeVitals([record(subject), record(subject, { VisitName: "Week 4", [field]: 100.5 })])
        expect(response.status, field).toBe(422)
        expect(response.body.detail, field).toEqual([
          expect.objectContaining({ loc: ["body", "records", 1, field], type: "int_from_float" })
        ])
        expect(yield* counts).toEqual(before)
      }
      const whole = yield* storeVitals([record(subjectId("RA005"), { HeartRate: 100.0, SystolicBP: 120.0 })])
      expect(whole.status).toBe(200)
    }))

  it.effect("answers 422 with type missing naming a field left out at index 1", () =>
    Effect.gen(function*() {
      for (const field of ["SubjectID", "VisitName", "TreatmentArm", "SystolicBP", "DiastolicBP", "HeartRate", "Temperature"]) {
        const subject = subjectId("RA004")
        const incomplete = record(subject)
        delete incomplete[field]
        const before = yield* counts
        const response = yield* storeVitals([record(subject), incomplete])
        expect(response.status, field).toBe(422)
        expect(response.body.detail, field).toEqual([expect.objectContaining({ loc: ["body", "records", 1, field], type: "missing" })])
        expect(typeof response.body.detail[0].msg).toBe("string")
        expect(yield* counts).toEqual(before)
      }
    }))

  it.effect("stores abnormal but plausible values the seed's ranges refused, and raises alerts on them", () =>
    Effect.gen(function*() {
      const subject = subjectId("RA005")
      const response = stored(yield* storeVitals([record(subject, { HeartRate: 130, Temperature: 39.5 })]))
      expect(response.records_stored).toBe(1)
      const [patient] = yield* patientsBySubject(subject)
      expect(patient).toBeDefined()
      const rows = yield* vitalsOf(patient!.id)
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({ heart_rate: 130, temperature: 39.5 })

      const alerts = yield* call("GET", `/api/v1/alerts?patient_id=${patient!.id}`)
      expect(alerts.status).toBe(200)
      const items = alerts.body.items as Array<{ vital_sign: string; severity: string; status: string; patient_id: string; peak: number }>
      expect(items.map((alert) => alert.vital_sign).sort()).toEqual(["heart_rate", "temperature"])
      // Default profile: heart rate warning above 110, critical above 130; temperature critical above 39.1.
      expect(items.find((alert) => alert.vital_sign === "heart_rate")).toMatchObject({
        patient_id: patient!.id,
        status: "open",
        severity: "warning",
        peak: 130
      })
      expect(items.find((alert) => alert.vital_sign === "temperature")).toMatchObject({
        patient_id: patient!.id,
        status: "open",
        severity: "critical",
        peak: 39.5
      })
    }))

  it.effect("stores a retried record with the same ReadingID once", () =>
    Effect.gen(function*() {
      const subject = subjectId("RA006")
      const readingId = randomUUID()
      const body = [record(subject, { ReadingID: readingId })]
      expect(stored(yield* storeVitals(body)).records_stored).toBe(1)
      const before = yield* counts
      const retry = stored(yield* storeVitals(body))
      expect(retry).toEqual({ success: true, records_stored: 0, timestamp: expect.stringMatching(ISO_Z) })
      expect(yield* counts).toEqual(before)
      const [patient] = yield* patientsBySubject(subject)
      const rows = yield* vitalsOf(patient!.id)
      expect(rows.map((row) => row.id)).toEqual([readingId])

      // A batch mixing the retried record with a new one stores only the new one.
      const mixed = stored(yield* storeVitals([...body, record(subject, { VisitName: "Week 4", ReadingID: randomUUID() })]))
      expect(mixed.records_stored).toBe(1)
      expect(yield* vitalsOf(patient!.id)).toHaveLength(2)

      // The same id spelt in capitals is the same reading.
      expect(stored(yield* storeVitals([record(subject, { ReadingID: readingId.toUpperCase() })])).records_stored).toBe(0)
      // A batch holding the same ReadingID twice stores it once.
      const twice = randomUUID()
      const doubled = stored(yield* storeVitals([record(subject, { ReadingID: twice }), record(subject, { ReadingID: twice, VisitName: "Week 8" })]))
      expect(doubled.records_stored).toBe(1)
      expect(yield* vitalsOf(patient!.id)).toHaveLength(3)
    }))

  it.effect("refuses a ReadingID that is not a UUID", () =>
    Effect.gen(function*() {
      const before = yield* counts
      const response = yield* storeVitals([record(subjectId("RA007"), { ReadingID: "not-a-uuid" })])
      expect(response.status).toBe(422)
      expect(response.body.detail).toEqual([expect.objectContaining({ loc: ["body", "records", 0, "ReadingID"] })])
      expect(yield* counts).toEqual(before)
    }))

  it.effect("records the created trial subject in the audit trail", () =>
    Effect.gen(function*() {
      const subject = subjectId("RA008")
      stored(yield* storeVitals([record(subject, { TreatmentArm: "Placebo" }), record(subject, { VisitName: "Week 4", TreatmentArm: "Placebo" })]))
      const [patient] = yield* patientsBySubject(subject)
      const { status, body } = yield* call("GET", "/api/v1/audit?entity_type=patient&action=created&limit=1000")
      expect(status).toBe(200)
      const rows = (body.items as Array<{ entity_id: string; entity_type: string; action: string; before: unknown; after: any }>)
        .filter((row) => row.entity_id === patient!.id)
      // One subject, one "created" entry, however many records the batch held.
      expect(rows).toHaveLength(1)
      expect(rows[0]).toMatchObject({ entity_type: "patient", action: "created", before: null })
      expect(rows[0]!.after).toMatchObject({ id: patient!.id, subject_number: subject, treatment_arm: "Placebo" })

      // A later batch for the same subject creates nothing new.
      stored(yield* storeVitals([record(subject, { VisitName: "Week 12", TreatmentArm: "Placebo" })]))
      const again = (yield* call("GET", `/api/v1/audit?entity_type=patient&action=created&entity_id=${patient!.id}`)).body.items
      expect(again).toHaveLength(1)
    }))

  it.effect("answers 200 with records_stored 0 for an empty records list", () =>
    Effect.gen(function*() {
      const before = yield* counts
      const response = stored(yield* storeVitals([]))
      expect(response).toEqual({ success: true, records_stored: 0, timestamp: expect.stringMatching(ISO_Z) })
      expect(yield* counts).toEqual(before)
    }))
})
