/** Handlers of the `monitoring` group. */
import { Effect, Option } from "effect"
import { callActor } from "../actors/ActorCalls.ts"
import { PatientMonitor } from "../actors/PatientMonitor.ts"
import { AlertId } from "../domain/Alert.ts"
import { AlertRepo } from "../persistence/AlertRepo.ts"
import { WardRepo } from "../persistence/WardRepo.ts"
import { vitalSigns } from "../domain/VitalSign.ts"
import { displayName } from "../domain/Patient.ts"
import { CurrentCaller } from "../domain/Access.ts"
import { PatientRepo } from "../persistence/PatientRepo.ts"
import { readingView, VitalsRepo } from "../persistence/VitalsRepo.ts"
import { EvaluationScheduler } from "../services/EvaluationScheduler.ts"
import { VitalsIngest } from "../services/VitalsIngest.ts"
import type { Handlers } from "./Api.ts"
import { Conflict, NotFound } from "./Errors.ts"
import type { MonitoringGroup } from "./MonitoringApi.ts"

export const make = Effect.gen(function*() {
  const ingest = yield* VitalsIngest
  const scheduler = yield* EvaluationScheduler
  const patients = yield* PatientRepo
  const vitals = yield* VitalsRepo
  const alerts = yield* AlertRepo
  const monitors = yield* PatientMonitor.client
  const ward = yield* WardRepo

  /** At most this many patients on the ward view. */
  const WARD_LIMIT = 500
  const wardView = (windowMinutes: number) =>
    Effect.gen(function*() {
      const now = new Date()
      const since = new Date(now.getTime() - windowMinutes * 60_000)
      const patients = yield* ward.patients(since, WARD_LIMIT)
      const ids = patients.map((patient) => patient.id)
      const [latest, minutes, active] = yield* Effect.all([ward.latest(ids), ward.minutes(ids, since), alerts.activeOf(ids)], { concurrency: 3 })
      const alertsOf = new Map<string, Array<(typeof active)[number]>>()
      for (const alert of active) alertsOf.set(alert.patient_id, [...(alertsOf.get(alert.patient_id) ?? []), alert])
      const series = new Map<string, { minutes: Array<string>; values: Record<string, Array<number | null>> }>()
      for (const row of minutes) {
        let entry = series.get(row.patient_id)
        if (entry === undefined) {
          entry = { minutes: [], values: Object.fromEntries(vitalSigns.map((sign) => [sign, []])) }
          series.set(row.patient_id, entry)
        }
        entry.minutes.push(row.minute)
        for (const sign of vitalSigns) entry.values[sign]!.push(row.values[sign])
      }
      return {
        generated_at: now,
        window_minutes: windowMinutes,
        patients: patients.map((patient) => {
          const own = series.get(patient.id)
          return {
            patient_id: patient.id,
            name: displayName(patient),
            latest: latest.get(patient.id) ?? {},
            series: own === undefined
              ? { minutes: [], values: {} }
              : { minutes: own.minutes, values: Object.fromEntries(Object.entries(own.values).filter(([, values]) => values.some((v) => v !== null))) },
            active_alerts: alertsOf.get(patient.id) ?? []
          }
        })
      }
    })

  const patientMustExist = (id: Parameters<typeof patients.exists>[0]) =>
    Effect.flatMap(patients.exists(id), (exists) => exists ? Effect.void : Effect.fail(new NotFound({ detail: "Patient not found" })))

  /** Sends a manual command to the alert's PatientMonitor. */
  const alertCommand = (alertId: string, command: "AcknowledgeAlert" | "ResolveAlert") =>
    Effect.gen(function*() {
      const alert = yield* alerts.findById(AlertId.make(alertId))
      if (Option.isNone(alert)) return yield* Effect.fail(new NotFound({ detail: "Alert not found" }))
      const by = (yield* CurrentCaller).actor
      return yield* callActor(monitors(alert.value.patient_id)[command]({ alert_id: alertId, by })).pipe(
        Effect.catchTags({
          AlertNotFound: () => Effect.fail(new NotFound({ detail: "Alert not found" })),
          AlertStateConflict: (error) => Effect.fail(new Conflict({ detail: `Alert is ${error.status}` }))
        })
      )
    })

  return {
    ward: ({ urlParams }) => wardView(urlParams.window_minutes),
    storeVitals: ({ payload }) =>
      Effect.gen(function*() {
        const committed = yield* ingest.storeTrialVitals(payload.records.map((record) => ({
          subject: { subject_number: record.SubjectID, treatment_arm: record.TreatmentArm },
          visitName: record.VisitName,
          values: {
            systolic_bp: record.SystolicBP,
            diastolic_bp: record.DiastolicBP,
            heart_rate: record.HeartRate,
            temperature: record.Temperature
          },
          readingId: record.ReadingID,
          measuredAt: record.MeasuredAt
        })))
        yield* scheduler.evaluate(committed.stored)
        // As the seed: the records of the batch that are now stored (a retried ReadingID counts once).
        return { success: true as const, records_stored: committed.result.length, timestamp: new Date() }
      }),

    recordReading: ({ path, payload }) =>
      Effect.gen(function*() {
        const committed = yield* ingest.recordDeviceReadings([{ deviceId: path.device_id, reading: payload }])
        const outcome = committed.result[0]!
        if (outcome._tag === "Rejected") {
          return yield* outcome.reason === "unknown device"
            ? Effect.fail(new NotFound({ detail: "Device not found" }))
            : Effect.fail(new Conflict({ detail: "Device is not linked to a patient" }))
        }
        const alertChanges = yield* scheduler.evaluate(committed.stored)
        return {
          status: outcome._tag === "Stored" ? "stored" as const : "duplicate" as const,
          reading_id: payload.reading_id,
          patient_id: outcome._tag === "Stored" ? outcome.reading.patient_id : null,
          alerts: alertChanges
        }
      }),

    vitals: ({ path, urlParams }) =>
      Effect.gen(function*() {
        yield* patientMustExist(path.patient_id)
        const page = yield* vitals.list(path.patient_id, {
          from: urlParams.from,
          to: urlParams.to,
          vital_sign: urlParams.vital_sign,
          after: urlParams.cursor,
          limit: urlParams.limit
        })
        return { items: page.items.map(readingView), next_cursor: page.next_cursor }
      }),

    snapshot: ({ path }) =>
      Effect.gen(function*() {
        yield* patientMustExist(path.patient_id)
        return yield* callActor(monitors(path.patient_id).GetSnapshot())
      }),

    alerts: ({ urlParams }) =>
      Effect.gen(function*() {
        return yield* alerts.list({
          patient_id: urlParams.patient_id,
          status: urlParams.status,
          severity: urlParams.severity,
          vital_sign: urlParams.vital_sign,
          from: urlParams.from,
          to: urlParams.to,
          after: urlParams.cursor,
          limit: urlParams.limit
        })
      }),

    alert: ({ path }) =>
      Effect.flatMap(alerts.findById(AlertId.make(path.alert_id)), Option.match({
        onNone: () => Effect.fail(new NotFound({ detail: "Alert not found" })),
        onSome: Effect.succeed
      })),

    acknowledge: ({ path }) => alertCommand(path.alert_id, "AcknowledgeAlert"),
    resolve: ({ path }) => alertCommand(path.alert_id, "ResolveAlert")
  } satisfies Handlers<typeof MonitoringGroup>
})
