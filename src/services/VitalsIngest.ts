/**
 * Every way vital signs come in (device readings over NATS or HTTP, trial batches, measurement
 * APIs) is stored here: device readings routed to their patients, each batch committed in one
 * statement or one transaction. Each method answers once the batch is committed, with the readings
 * stored; the door then hands those to the `EvaluationScheduler` (HTTP waits for the alert
 * changes, the NATS consumer acknowledges first). Failures are the repositories' (`Unavailable`:
 * nothing stored, retry; `DataRefused`: the same batch would be refused again) or defects.
 */
import { Cause, Duration, Effect, Option } from "effect"
import { callActor } from "../actors/ActorCalls.ts"
import { Device } from "../actors/Device.ts"
import type { DeviceId } from "../domain/Device.ts"
import { Unavailable } from "../domain/Errors.ts"
import type { PatientId, TrialSubject } from "../domain/Patient.ts"
import { perVitalSign } from "../domain/VitalSign.ts"
import { type DeviceReading, emptyValues, type ReadingId, type StoredReading, type VitalReading } from "../domain/Vitals.ts"
import { DeviceRepo } from "../persistence/DeviceRepo.ts"
import { PatientRepo } from "../persistence/PatientRepo.ts"
import { classified } from "../persistence/SqlErrors.ts"
import { ChangeLog } from "../persistence/ChangeLog.ts"
import { VitalsRepo } from "../persistence/VitalsRepo.ts"
import { countIngested } from "../observability/Metrics.ts"

export interface DeviceSubmission {
  readonly deviceId: DeviceId
  readonly reading: DeviceReading
}

export type Outcome =
  | { readonly _tag: "Stored"; readonly reading: StoredReading }
  | { readonly _tag: "Duplicate"; readonly readingId: ReadingId }
  | { readonly _tag: "Rejected"; readonly reason: "unknown device" | "device not linked to a patient" }

/** A committed batch: the door's answer, and the readings stored (a repeated id is stored once). */
export interface Committed<A> {
  readonly result: A
  readonly stored: ReadonlyArray<StoredReading>
}

/** A measurement set for a known patient (seed 003's measurements, the API). */
export type MeasurementValues = Omit<VitalReading, "id" | "patient_id" | "device_id" | "source" | "visit_name" | "measured_at">

export interface TrialRecord {
  readonly subject: TrialSubject
  readonly visitName: string
  readonly values: Pick<VitalReading, "systolic_bp" | "diastolic_bp" | "heart_rate" | "temperature">
  readonly readingId: ReadingId | undefined
  readonly measuredAt: Date | undefined
}

/** How long a batch's device actors may take to route it, together (one timer per batch). */
const ROUTE_TIMEOUT = Duration.seconds(10)

export class VitalsIngest extends Effect.Service<VitalsIngest>()("vigil/VitalsIngest", {
  effect: Effect.gen(function*() {
    const vitals = yield* VitalsRepo
    const patients = yield* PatientRepo
    const registry = yield* DeviceRepo
    const devices = yield* Device.client
    const changes = yield* ChangeLog

    /** Devices heard from again after being reported offline; the readings are stored whatever happens here (the next reading tries again). */
    const markOnline = (ids: ReadonlyArray<DeviceId>) =>
      registry.markOnline(ids).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isFailType(cause)
            ? Effect.logWarning("devices heard from again, not yet marked online", cause)
            : Effect.logError("marking devices online failed", cause)
        )
      )

    /**
     * Device readings, each routed to the device's patient (by its Device actor, or from the
     * registry cache it reads), ready to store. With `drawSeqs`, their places in the store are
     * drawn now: batches prepared one after another and then stored concurrently keep the order
     * they were prepared in (the PatientMonitors' catch-up watermark is a `seq`).
     */
    const prepareDeviceReadings = Effect.fn("VitalsIngest.prepareDeviceReadings")(function*(
      submissions: ReadonlyArray<DeviceSubmission>,
      options: { readonly drawSeqs: boolean }
    ) {
      const now = new Date()
      // The devices heard from (their last-seen time is when Vigil stores this batch: a device may
      // upload old readings late).
      const heard = [...new Set(submissions.map(({ deviceId }) => deviceId))]
      const routes = new Map<string, { readonly patientId: PatientId | null; readonly known: boolean }>()
      // A device the registry cache holds is routed from it, as its actor would (it reads the same
      // cache); the actor is asked for the others: first readings, devices changed since, expired entries.
      const ask: Array<DeviceId> = []
      for (const deviceId of heard) {
        const device = registry.cached(deviceId)
        if (device !== undefined && Option.isSome(device)) routes.set(deviceId, { patientId: device.value.patient_id, known: true })
        else ask.push(deviceId)
      }
      yield* Effect.forEach(ask, (deviceId) =>
        callActor(devices(deviceId).Reading(), null).pipe(
          Effect.map((route) => routes.set(deviceId, { patientId: route.patient_id as PatientId | null, known: true })),
          Effect.catchTag("DeviceUnknown", () => Effect.sync(() => routes.set(deviceId, { patientId: null, known: false }))),
          // No route: the batch is refused below.
          Effect.catchTag("Unavailable", () => Effect.void)
        ), { concurrency: 32, discard: true }).pipe(Effect.timeoutOption(ROUTE_TIMEOUT))

      const readings: Array<VitalReading> = []
      const outcomes: Array<Outcome | ReadingId> = submissions.map(({ deviceId, reading }) => {
        const route = routes.get(deviceId)
        if (route === undefined || !route.known) return { _tag: "Rejected", reason: "unknown device" } as const
        if (route.patientId === null) return { _tag: "Rejected", reason: "device not linked to a patient" } as const
        readings.push({
          ...emptyValues,
          id: reading.reading_id,
          patient_id: route.patientId,
          device_id: deviceId,
          source: "device",
          visit_name: null,
          ...perVitalSign((sign) => reading[sign] ?? null),
          measured_at: reading.measured_at ?? now
        })
        return reading.reading_id
      })
      if (submissions.some(({ deviceId }) => !routes.has(deviceId))) {
        return yield* Effect.fail(new Unavailable({ reason: "a device actor did not answer; nothing was stored" }))
      }
      const seen = heard.filter((id) => routes.get(id)?.patientId)
      const seqs = options.drawSeqs && readings.length > 0 ? yield* vitals.drawSeqs(readings.length) : undefined
      /** Stores the batch: one statement, atomic without a transaction of its own. */
      const store = Effect.gen(function*() {
        const { offline, stored } = yield* vitals.insertFromDevices(readings, seen, seqs)
        if (offline.length > 0) yield* markOnline(offline)
        const byId = new Map(stored.map((reading) => [reading.id, reading]))
        const result = outcomes.map((outcome): Outcome =>
          typeof outcome !== "string"
            ? outcome
            : byId.has(outcome)
            ? { _tag: "Stored", reading: byId.get(outcome)! }
            : { _tag: "Duplicate", readingId: outcome }
        )
        return { result, stored } satisfies Committed<ReadonlyArray<Outcome>>
      })
      return { store }
    })

    /** Device readings routed and stored (see `prepareDeviceReadings`). */
    const recordDeviceReadings = (submissions: ReadonlyArray<DeviceSubmission>) =>
      Effect.flatMap(prepareDeviceReadings(submissions, { drawSeqs: false }), (prepared) => prepared.store).pipe(
        Effect.tap((committed) => countIngested("http", committed.stored.length))
      )

    /** Seed 002's batch: trial subjects found or created by subject number, all in one transaction. */
    const storeTrialVitals = Effect.fn("VitalsIngest.storeTrialVitals")(function*(records: ReadonlyArray<TrialRecord>) {
      const now = new Date()
      const stored = yield* classified(changes.transaction(Effect.gen(function*() {
        const ids = yield* patients.ensureTrialSubjects(records.map((record) => record.subject))
        return yield* vitals.insert(records.map((record): VitalReading => ({
          ...emptyValues,
          ...record.values,
          id: record.readingId ?? (crypto.randomUUID() as ReadingId),
          patient_id: ids.get(record.subject.subject_number)!,
          device_id: null,
          source: "trial",
          visit_name: record.visitName,
          measured_at: record.measuredAt ?? now
        })))
      })))
      countIngested("store_vitals", stored.length)
      return { result: stored, stored } satisfies Committed<ReadonlyArray<StoredReading>>
    })

    /** One measurement set for a patient who must exist (the caller checks). `undefined` result: a duplicate id. */
    const recordMeasurement = Effect.fn("VitalsIngest.recordMeasurement")(function*(
      patientId: PatientId,
      values: MeasurementValues,
      options: { readonly id?: ReadingId | undefined; readonly measuredAt?: Date | undefined; readonly source: "measurement" | "api" }
    ) {
      const stored = yield* vitals.insert([{
        ...emptyValues,
        ...values,
        id: options.id ?? (crypto.randomUUID() as ReadingId),
        patient_id: patientId,
        device_id: null,
        source: options.source,
        visit_name: null,
        measured_at: options.measuredAt ?? new Date()
      }])
      countIngested(options.source === "measurement" ? "measurement" : "http", stored.length)
      return { result: stored[0], stored } satisfies Committed<StoredReading | undefined>
    })

    return { prepareDeviceReadings, recordDeviceReadings, storeTrialVitals, recordMeasurement } as const
  }),
  dependencies: [VitalsRepo.Default, ChangeLog.Default]
}) {}
