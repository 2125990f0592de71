/**
 * Seed 003's patient and measurement routes, in the README's form and in the original code's form
 * (DESIGN.md section 1; `reference/seed-sources.md` section 2). Where the original answered 201
 * with no body, Vigil answers with the created record; where it answered 500 for an unknown id,
 * 404. Measurements are vital-sign rows (source `measurement`), so they feed the alert rules too.
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { PainkillerPatientCreate, PatientId } from "../domain/Patient.ts"
import { ErrorType, Int, Uuid, atLeast, atMost } from "../domain/Validation.ts"
import { HeightCm, Plausible, WeightKg } from "../domain/Vitals.ts"
import { NotFoundResponse } from "./Errors.ts"
import { Pagination } from "./Params.ts"

const Bool = Schema.Boolean.annotations({ [ErrorType]: "bool_type", message: () => "Input should be a valid boolean" })
const Pressure = (sign: "systolic_bp" | "diastolic_bp") => Int.pipe(atLeast(0), atMost(sign === "systolic_bp" ? 350 : 300))

/** The measurement fields, all required as in the original. */
const measurementFields = {
  temperature_celsius: Plausible("temperature"),
  blood_pressure_sys: Pressure("systolic_bp"),
  blood_pressure_dias: Pressure("diastolic_bp"),
  body_weight: WeightKg,
  height_cm: HeightCm,
  stroke: Bool,
  diabetes: Bool
}

export class MeasurementCreate extends Schema.Class<MeasurementCreate>("MeasurementCreate")({
  ...measurementFields,
  patient_id: PatientId
}) {}

/** The README's `POST /api/v1/patient/{id}/measurements`: the patient is in the path. */
export class PatientMeasurementCreate extends Schema.Class<PatientMeasurementCreate>("PatientMeasurementCreate")(measurementFields) {}

export const MeasurementResponse = Schema.Struct({
  id: Schema.String,
  temperature_celsius: Schema.NullOr(Schema.Number),
  blood_pressure_sys: Schema.NullOr(Schema.Number),
  blood_pressure_dias: Schema.NullOr(Schema.Number),
  body_weight: Schema.NullOr(Schema.Number),
  height_cm: Schema.NullOr(Schema.Number),
  stroke: Schema.NullOr(Schema.Boolean),
  diabetes: Schema.NullOr(Schema.Boolean),
  patient_id: Schema.String,
  created_at: Schema.Date
}).annotations({ identifier: "Measurement" })

export const PainkillerPatientResponse = Schema.Struct({
  id: Schema.String,
  first_name: Schema.NullOr(Schema.String),
  last_name: Schema.NullOr(Schema.String),
  age: Schema.NullOr(Schema.Number),
  condition: Schema.NullOr(Schema.String)
}).annotations({ identifier: "PainkillerPatient" })

export const PainkillerPatientDetail = Schema.Struct({
  ...PainkillerPatientResponse.fields,
  measurements: Schema.Array(MeasurementResponse)
}).annotations({ identifier: "PainkillerPatientDetail" })

const PatientPath = Schema.Struct({ patient_id: PatientId })
const MeasurePath = Schema.Struct({ measure_id: Uuid })
const Deleted = Schema.Null

export class PainkillerGroup extends HttpApiGroup.make("painkiller")
  .add(
    HttpApiEndpoint.post("createPatient", "/api/v1/patient")
      .setPayload(PainkillerPatientCreate)
      .addSuccess(PainkillerPatientResponse, { status: 201 })
  )
  .add(HttpApiEndpoint.get("listPatients", "/api/v1/patient/list").setUrlParams(Pagination).addSuccess(Schema.Array(PainkillerPatientResponse)))
  .add(HttpApiEndpoint.post("listPatientsReadme", "/api/v1/patient/list").setUrlParams(Pagination).addSuccess(Schema.Array(PainkillerPatientResponse)))
  .add(
    HttpApiEndpoint.get("getPatient", "/api/v1/patient/:patient_id")
      .setPath(PatientPath)
      .addSuccess(PainkillerPatientDetail)
      .addError(NotFoundResponse)
  )
  .add(HttpApiEndpoint.del("deletePatient", "/api/v1/patient/delete/:patient_id").setPath(PatientPath).addSuccess(Deleted).addError(NotFoundResponse))
  .add(HttpApiEndpoint.post("deletePatientReadme", "/api/v1/patient/delete/:patient_id").setPath(PatientPath).addSuccess(Deleted).addError(NotFoundResponse))
  .add(
    HttpApiEndpoint.post("addPatientMeasurement", "/api/v1/patient/:patient_id/measurements")
      .setPath(PatientPath)
      .setPayload(PatientMeasurementCreate)
      .addSuccess(MeasurementResponse, { status: 201 })
      .addError(NotFoundResponse)
  )
  .add(
    HttpApiEndpoint.get("listPatientMeasurements", "/api/v1/patient/:patient_id/measurements")
      .setPath(PatientPath)
      .setUrlParams(Pagination)
      .addSuccess(Schema.Array(MeasurementResponse))
      .addError(NotFoundResponse)
  )
  .add(
    HttpApiEndpoint.post("addMeasurement", "/api/v1/measures")
      .setPayload(MeasurementCreate)
      .addSuccess(MeasurementResponse, { status: 201 })
      .addError(NotFoundResponse)
  )
  .add(HttpApiEndpoint.get("listMeasures", "/api/v1/measures/list").setUrlParams(Pagination).addSuccess(Schema.Array(MeasurementResponse)))
  .add(HttpApiEndpoint.get("listMeasurements", "/api/v1/measurements/list").setUrlParams(Pagination).addSuccess(Schema.Array(MeasurementResponse)))
  .add(HttpApiEndpoint.post("listMeasurementsReadme", "/api/v1/measurements/list").setUrlParams(Pagination).addSuccess(Schema.Array(MeasurementResponse)))
  .add(
    HttpApiEndpoint.get("getMeasure", "/api/v1/measures/list/:measure_id")
      .setPath(MeasurePath)
      .addSuccess(Schema.NullOr(MeasurementResponse))
  )
  .add(
    HttpApiEndpoint.get("listMeasuresOfPatient", "/api/v1/measures/:patient_id/list")
      .setPath(PatientPath)
      .setUrlParams(Pagination)
      .addSuccess(Schema.Array(MeasurementResponse))
  )
  .add(HttpApiEndpoint.del("deleteMeasure", "/api/v1/measures/delete/:measure_id").setPath(MeasurePath).addSuccess(Deleted).addError(NotFoundResponse))
  .add(HttpApiEndpoint.post("deleteMeasurementReadme", "/api/v1/measurements/delete/:measure_id").setPath(MeasurePath).addSuccess(Deleted).addError(NotFoundResponse))
  .annotate(OpenApi.Description, "Seed 003: patients and their health measurements")
{}
