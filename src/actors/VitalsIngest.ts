/**
 * Every way vital signs come in (device readings over NATS or HTTP, trial batches, measurement
 * APIs) ends here: readings are committed in one transaction per batch, then handed to their
 * patients' PatientMonitors. `record*` answers once the batch is committed, with the evaluation
 * still to run: the NATS consumer acknowledges in between, HTTP handlers wait for it.
 */
import { SqlClient } from "@effect/sql"
import { Array as Arr, Cause, Deferred, Duration, Effect, Exit, FiberId, Option, Schema } from "effect"
import type { Alert } from "../domain/Alert.ts"
import type { DeviceId } from "../domain/Device.ts"
import type { PatientId, TrialSubject } from "../domain/Patient.ts"
import { type DeviceReading, emptyValues, type ReadingId, type StoredReading, type VitalReading } from "../domain/Vitals.ts"
import { ChangeLog } from "../persistence/ChangeLog.ts"
import { DeviceRepo } from "../persistence/DeviceRepo.ts"
import { VitalsRepo } from "../persistence/VitalsRepo.ts"
import { Device } from "./Device.ts"
import { PatientMonitor } from "./PatientMonitor.ts"
import { randomUUID } from "node:crypto"

/** The database could not take the batch; nothing of it was stored. Retry later. */
/**
 * The database did not take the batch; nothing of it was stored. `rejected`: PostgreSQL refused
 * the data itself (SQLSTATE class 22 or 23), so the same batch would fail again; otherwise retry later.
 */
export class IngestUnavailable extends Schema.TaggedError<IngestUnavailable>()("IngestUnavailable", {
  reason: Schema.String,
  rejected: Schema.Boolean
}) {}

/** The SQLSTATE of the first database error in `cause`, if any. */
const sqlState = (cause: Cause.Cause<unknown>): string | undefined => {
  for (const failure of [...Cause.failures(cause), ...Cause.defects(cause)]) {
    let error: unknown = failure
    for (let depth = 0; depth < 4 && error !== null && typeof error === "object"; depth++) {
      const code = (error as { code?: unknown }).code
      if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code
      error = (error as { cause?: unknown }).cause
    }
  }
  return undefined
}

export interface DeviceSubmission {
  readonly deviceId: DeviceId
  readonly reading: DeviceReading
}

export type Outcome =
  | { readonly _tag: "Stored"; readonly reading: StoredReading }
  | { readonly _tag: "Duplicate"; readonly readingId: ReadingId }
  | { readonly _tag: "Rejected"; readonly reason: "unknown device" | "device not linked to a patient" }

export interface AlertSummary {
  readonly raised: ReadonlyArray<Alert>
  readonly updated: ReadonlyArray<Alert>
  readonly resolved: ReadonlyArray<Alert>
}

export interface Committed<A> {
  readonly result: A
  /** Runs the stored readings through their PatientMonitors. Never fails: a monitor that cannot evaluate now catches up later. */
  readonly evaluate: Effect.Effect<AlertSummary>
  /**
   * `evaluate` in two steps: the outer effect puts the readings in line at their monitors (after
   * any evaluation started before it), the inner one waits for them; to overlap evaluations in order.
   */
  readonly startEvaluation: Effect.Effect<Effect.Effect<AlertSummary>>
}

/** A measurement set for a known patient (seed 003's measurements, the API). */
export type MeasurementValues = Omit<VitalReading, "id" | "patient_id" | "device_id" | "source" | "visit_name" | "measured_at">

const MONITOR_TIMEOUT = Duration.seconds(10)
/** Monitor calls running at once, across all evaluations. */
const MONITOR_CALLS_AT_ONCE = 32

export class VitalsIngest extends Effect.Service<VitalsIngest>()("vigil/VitalsIngest", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const vitals = yield* VitalsRepo
    const changes = yield* ChangeLog
    const monitors = yield* PatientMonitor.client
    const devices = yield* Device.client
    const registry = yield* DeviceRepo

    /**
     * Each patient's evaluations form a chain: a monitor call waits for the patient's previous one
     * (so a monitor gets its readings in the order evaluations began), but never for other
     * patients'. A batch whose one patient writes an alert slowly holds up that patient only.
     */
    const chains = new Map<string, Deferred.Deferred<void>>()
    const calls = yield* Effect.makeSemaphore(MONITOR_CALLS_AT_ONCE)

    /**
     * Puts the readings on their patients' chains now, and answers the effect that evaluates them.
     * Evaluations started one after another reach each monitor in that order, however they overlap.
     */
    const startEvaluation = (stored: ReadonlyArray<StoredReading>): Effect.Effect<Effect.Effect<AlertSummary>> =>
      Effect.sync(() => {
        const links = Object.entries(Arr.groupBy(stored, (reading) => reading.patient_id)).map(([patientId, readings]) => {
          const previous = chains.get(patientId)
          const done = Deferred.unsafeMake<void>(FiberId.none)
          chains.set(patientId, done)
          return { patientId, readings, previous, done }
        })
        /** Ends the links however the evaluation ended (a link not ended would hold its patient's chain forever). */
        const release = Effect.sync(() => {
          for (const link of links) {
            Deferred.unsafeDone(link.done, Exit.void)
            if (chains.get(link.patientId) === link.done) chains.delete(link.patientId)
          }
        })
        return Effect.gen(function*() {
          const summary = { raised: [] as Array<Alert>, updated: [] as Array<Alert>, resolved: [] as Array<Alert> }
          // One time limit for the batch, not one per call: a timeout per actor call doubles its CPU cost.
          yield* Effect.forEach(links, ({ done, patientId, previous, readings }) =>
            Effect.zipRight(
              previous === undefined ? Effect.void : Deferred.await(previous),
              calls.withPermits(1)(monitors(patientId).RecordVitals({ readings }).pipe(
                Effect.matchCauseEffect({
                  onFailure: (cause) =>
                    Effect.logWarning("readings stored but not evaluated yet; the monitor catches up when it reloads", cause).pipe(
                      Effect.annotateLogs({ patientId, readings: readings.length })
                    ),
                  onSuccess: (changes) =>
                    Effect.sync(() => {
                      summary.raised.push(...changes.raised)
                      summary.updated.push(...changes.updated)
                      summary.resolved.push(...changes.resolved)
                    })
                })
              ))
            ).pipe(Effect.ensuring(Deferred.done(done, Exit.void))), { concurrency: "unbounded", discard: true }).pipe(
            Effect.timeoutTo({
              duration: MONITOR_TIMEOUT,
              onSuccess: () => Effect.void,
              onTimeout: () =>
                Effect.logWarning("monitors did not answer in time; their readings are stored and caught up when they reload").pipe(
                  Effect.annotateLogs({ readings: stored.length })
                )
            }),
            Effect.flatten
          )
          return summary
        }).pipe(Effect.ensuring(release))
      })

    /** Interruptible only once its readings are in line (their links are then ended however it ends). */
    const evaluate = (stored: ReadonlyArray<StoredReading>): Effect.Effect<AlertSummary> =>
      Effect.uninterruptibleMask((restore) => Effect.flatMap(startEvaluation(stored), restore))

    const committed = <A>(result: A, stored: ReadonlyArray<StoredReading>): Committed<A> => ({
      result,
      evaluate: evaluate(stored),
      startEvaluation: startEvaluation(stored)
    })

    /** Database failures become `IngestUnavailable` (nothing stored: the work is one statement or one transaction). */
    const storing = <A>(work: Effect.Effect<A>) =>
      work.pipe(
        Effect.catchAllCause((cause) => {
          const state = sqlState(cause)
          const rejected = state !== undefined && (state.startsWith("22") || state.startsWith("23"))
          return Effect.zipRight(
            Effect.logWarning("vitals batch not stored", cause),
            Effect.fail(new IngestUnavailable({
              reason: rejected
                ? `the database refused the data (SQLSTATE ${state}); nothing was stored`
                : "the database did not accept the batch; nothing was stored",
              rejected
            }))
          )
        })
      )
    /** The transaction of a batch. */
    const commit = <A>(work: Effect.Effect<A>) => storing(sql.withTransaction(work).pipe(Effect.orDie))

    /** Devices heard from again after being reported offline: back online, audited. */
    const markOnline = (ids: ReadonlyArray<DeviceId>) =>
      sql.withTransaction(Effect.gen(function*() {
        const back = yield* sql<{ id: string }>`
          UPDATE devices SET offline_since = NULL WHERE id = ANY(${ids}::uuid[]) AND offline_since IS NOT NULL RETURNING *`
        for (const device of back) {
          yield* changes.record({ entityType: "device", entityId: device.id, action: "online", before: null, after: device })
        }
      })).pipe(
        // The readings are stored whatever happens here; the next reading tries again.
        Effect.catchAllCause((cause) => Effect.logWarning("devices heard from again, not yet marked online", cause))
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
        devices(deviceId).Reading().pipe(
          Effect.exit,
          Effect.map((exit) => {
            if (Exit.isSuccess(exit)) routes.set(deviceId, { patientId: exit.value.patient_id as PatientId | null, known: true })
            else if (Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error._tag === "DeviceUnknown") {
              routes.set(deviceId, { patientId: null, known: false })
            }
          })
        ), { concurrency: 32, discard: true }).pipe(
        // Devices that did not answer in time have no route: the batch is refused below.
        Effect.timeoutOption(MONITOR_TIMEOUT)
      )

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
          heart_rate: reading.heart_rate ?? null,
          spo2: reading.spo2 ?? null,
          temperature: reading.temperature ?? null,
          systolic_bp: reading.systolic_bp ?? null,
          diastolic_bp: reading.diastolic_bp ?? null,
          respiratory_rate: reading.respiratory_rate ?? null,
          measured_at: reading.measured_at ?? now
        })
        return reading.reading_id
      })
      if (submissions.some(({ deviceId }) => !routes.has(deviceId))) {
        return yield* Effect.fail(new IngestUnavailable({ reason: "a device actor did not answer; nothing was stored", rejected: false }))
      }
      const seen = heard.filter((id) => routes.get(id)?.patientId)
      const seqs = options.drawSeqs && readings.length > 0 ? yield* storing(vitals.drawSeqs(readings.length).pipe(Effect.orDie)) : undefined
      /** Stores the batch: one statement, atomic without a transaction of its own. */
      const store = Effect.gen(function*() {
        const { offline, stored } = yield* storing(vitals.insertFromDevices(readings, seen, seqs).pipe(Effect.orDie))
        if (offline.length > 0) yield* markOnline(offline)
        const byId = new Map(stored.map((reading) => [reading.id, reading]))
        return committed(
          outcomes.map((outcome): Outcome =>
            typeof outcome !== "string"
              ? outcome
              : byId.has(outcome)
              ? { _tag: "Stored", reading: byId.get(outcome)! }
              : { _tag: "Duplicate", readingId: outcome }
          ),
          stored
        )
      })
      return { store }
    })

    /** Device readings routed and stored (see `prepareDeviceReadings`). */
    const recordDeviceReadings = (submissions: ReadonlyArray<DeviceSubmission>) =>
      Effect.flatMap(prepareDeviceReadings(submissions, { drawSeqs: false }), (prepared) => prepared.store)

    /** Seed 002's batch: trial subjects found or created by subject number, all in one transaction. */
    const storeTrialVitals = Effect.fn("VitalsIngest.storeTrialVitals")(function*(
      records: ReadonlyArray<{
        readonly subject: TrialSubject
        readonly visitName: string
        readonly values: Pick<VitalReading, "systolic_bp" | "diastolic_bp" | "heart_rate" | "temperature">
        readonly readingId: ReadingId | undefined
        readonly measuredAt: Date | undefined
      }>
    ) {
      const now = new Date()
      const stored = yield* commit(Effect.gen(function*() {
        const subjects = new Map<string, TrialSubject>()
        for (const record of records) if (!subjects.has(record.subject.subject_number)) subjects.set(record.subject.subject_number, record.subject)
        const numbers = [...subjects.keys()]
        const created = yield* sql<Record<string, unknown> & { id: string }>`
          INSERT INTO patients (subject_number, treatment_arm, site_id, protocol_id)
          SELECT n, a, 'SITE001', 'PROTO-001' FROM unnest(${numbers}::text[], ${numbers.map((n) => subjects.get(n)!.treatment_arm)}::text[]) AS s(n, a)
          ON CONFLICT (subject_number) DO NOTHING
          RETURNING *`
        for (const patient of created) {
          yield* changes.record({ entityType: "patient", entityId: patient.id, action: "created", before: null, after: patient })
        }
        const ids = new Map((yield* sql<{ id: PatientId; subject_number: string }>`
          SELECT id, subject_number FROM patients WHERE subject_number = ANY(${numbers}::text[])`).map((row) => [row.subject_number, row.id]))
        return yield* vitals.insert(records.map((record): VitalReading => ({
          ...emptyValues,
          ...record.values,
          id: record.readingId ?? (randomUUID() as ReadingId),
          patient_id: ids.get(record.subject.subject_number)!,
          device_id: null,
          source: "trial",
          visit_name: record.visitName,
          measured_at: record.measuredAt ?? now
        })))
      }).pipe(Effect.orDie))
      return committed(stored, stored)
    })

    /** One measurement set for a patient who must exist (the caller checks). `None` result: a duplicate id. */
    const recordMeasurement = Effect.fn("VitalsIngest.recordMeasurement")(function*(
      patientId: PatientId,
      values: MeasurementValues,
      options: { readonly id?: ReadingId | undefined; readonly measuredAt?: Date | undefined; readonly source: "measurement" | "api" }
    ) {
      const stored = yield* storing(vitals.insert([{
        ...emptyValues,
        ...values,
        id: options.id ?? (randomUUID() as ReadingId),
        patient_id: patientId,
        device_id: null,
        source: options.source,
        visit_name: null,
        measured_at: options.measuredAt ?? new Date()
      }]))
      return committed(stored[0], stored)
    })

    return { prepareDeviceReadings, recordDeviceReadings, storeTrialVitals, recordMeasurement } as const
  }),
  dependencies: [VitalsRepo.Default, ChangeLog.Default]
}) {}
