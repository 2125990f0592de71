/** Handlers of the `painkiller` group (seed 003). */
import { Effect, Option } from "effect"
import type { Patient, PatientId } from "../domain/Patient.ts"
import type { StoredReading } from "../domain/Vitals.ts"
import { PatientRepo } from "../persistence/PatientRepo.ts"
import { VitalsRepo } from "../persistence/VitalsRepo.ts"
import { EvaluationScheduler } from "../services/EvaluationScheduler.ts"
import { VitalsIngest } from "../services/VitalsIngest.ts"
import type { Handlers } from "./Api.ts"
import { NotFound } from "./Errors.ts"
import type { PainkillerGroup, PatientMeasurementCreate } from "./PainkillerApi.ts"

const patientView = (patient: Patient) => ({
  id: patient.id,
  first_name: patient.first_name,
  last_name: patient.last_name,
  age: patient.age,
  condition: patient.condition
})

export const measurementView = (reading: StoredReading) => ({
  id: reading.id,
  temperature_celsius: reading.temperature,
  blood_pressure_sys: reading.systolic_bp,
  blood_pressure_dias: reading.diastolic_bp,
  body_weight: reading.weight_kg,
  height_cm: reading.height_cm,
  stroke: reading.stroke,
  diabetes: reading.diabetes,
  patient_id: reading.patient_id,
  created_at: reading.measured_at
})

// The seed's own messages.
const patientNotFound = () => Effect.fail(new NotFound({ detail: "patient not found" }))
const measureNotFound = () => Effect.fail(new NotFound({ detail: "measure not found" }))

export const make = Effect.gen(function*() {
  const patients = yield* PatientRepo
  const vitals = yield* VitalsRepo
  const ingest = yield* VitalsIngest
  const scheduler = yield* EvaluationScheduler

  const deletePatient = ({ path }: { readonly path: { readonly patient_id: PatientId } }) =>
    Effect.flatMap(patients.remove(path.patient_id), (removed) => removed ? Effect.succeed(null) : patientNotFound())

  const deleteMeasure = ({ path }: { readonly path: { readonly measure_id: string } }) =>
    Effect.flatMap(vitals.remove(path.measure_id, "measurement"), (removed) => removed ? Effect.succeed(null) : measureNotFound())

  const listMeasures = ({ urlParams }: { readonly urlParams: { readonly skip: number; readonly limit: number } }) =>
    Effect.map(vitals.listBySource("measurement", urlParams), (rows) => rows.map(measurementView))

  const addMeasurement = (patientId: PatientId, payload: PatientMeasurementCreate) =>
    Effect.gen(function*() {
      if (!(yield* patients.exists(patientId))) return yield* patientNotFound()
      const committed = yield* ingest.recordMeasurement(patientId, {
        heart_rate: null,
        spo2: null,
        respiratory_rate: null,
        temperature: payload.temperature_celsius,
        systolic_bp: payload.blood_pressure_sys,
        diastolic_bp: payload.blood_pressure_dias,
        weight_kg: payload.body_weight,
        height_cm: payload.height_cm,
        stroke: payload.stroke,
        diabetes: payload.diabetes
      }, { source: "measurement" })
      yield* scheduler.evaluate(committed.stored)
      return measurementView(committed.result!)
    })

  return {
    createPatient: ({ payload }) => Effect.map(patients.insertNamed(payload), patientView),
    listPatients: ({ urlParams }) => Effect.map(patients.list(urlParams), (rows) => rows.map(patientView)),
    listPatientsReadme: ({ urlParams }) => Effect.map(patients.list(urlParams), (rows) => rows.map(patientView)),
    getPatient: ({ path }) =>
      Effect.gen(function*() {
        const patient = yield* patients.findById(path.patient_id)
        if (Option.isNone(patient)) return yield* patientNotFound()
        const measurements = yield* vitals.listBySource("measurement", { skip: 0, limit: 1000 }, path.patient_id)
        return { ...patientView(patient.value), measurements: measurements.map(measurementView) }
      }),
    deletePatient,
    deletePatientReadme: deletePatient,
    addPatientMeasurement: ({ path, payload }) => addMeasurement(path.patient_id, payload),
    listPatientMeasurements: ({ path, urlParams }) =>
      Effect.gen(function*() {
        if (!(yield* patients.exists(path.patient_id))) return yield* patientNotFound()
        return (yield* vitals.listBySource("measurement", urlParams, path.patient_id)).map(measurementView)
      }),
    addMeasurement: ({ payload }) => addMeasurement(payload.patient_id, payload),
    listMeasures,
    listMeasurements: listMeasures,
    listMeasurementsReadme: listMeasures,
    getMeasure: ({ path }) =>
      Effect.map(vitals.findById(path.measure_id), (reading) =>
        reading !== undefined && reading.source === "measurement" ? measurementView(reading) : null),
    listMeasuresOfPatient: ({ path, urlParams }) =>
      Effect.map(vitals.listBySource("measurement", urlParams, path.patient_id), (rows) => rows.map(measurementView)),
    deleteMeasure,
    deleteMeasurementReadme: deleteMeasure
  } satisfies Handlers<typeof PainkillerGroup>
})
