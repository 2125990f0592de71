/**
 * The reads behind the FHIR R4 API (`src/http/FhirHttp.ts`): patients, devices and readings by
 * keyset pages, each page asking for one row more than it shows, so the door knows whether a
 * `next` link is due. Read-only; every filter is a bound parameter.
 */
import { SqlClient } from "@effect/sql"
import { Effect, Schema } from "effect"
import { Device } from "../domain/Device.ts"
import { Patient } from "../domain/Patient.ts"
import { classified } from "./SqlErrors.ts"
import { fromRow, type ReadingRow } from "./VitalsRepo.ts"

const decodePatients = Schema.decodeUnknown(Schema.Array(Patient))
const decodeDevices = Schema.decodeUnknown(Schema.Array(Device))

/** Where a page starts: the row at (`at`, `id`) included (an Observation page may stop inside a reading). */
export interface Keyset {
  readonly at: Date
  readonly id: string
}

export interface ReadingQuery {
  readonly patientId: string
  readonly deviceId?: string | undefined
  /** Groups of columns: a reading matches when any column of any group holds a value. */
  readonly columns?: ReadonlyArray<string> | undefined
  /** Inclusive lower and exclusive upper bounds on `measured_at`, all applied. */
  readonly from: ReadonlyArray<Date>
  readonly before: ReadonlyArray<Date>
  readonly descending: boolean
  readonly start?: Keyset | undefined
  readonly limit: number
}

export interface RegistryQuery {
  readonly ids?: ReadonlyArray<string> | undefined
  readonly start?: Keyset | undefined
  readonly limit: number
}

export interface PatientQuery extends RegistryQuery {
  /** Trial subject numbers (the only identifier Vigil keeps). */
  readonly subjectNumbers?: ReadonlyArray<string> | undefined
  /** FHIR `name`: any part of the name starts with it, case and accents as stored. */
  readonly name?: string | undefined
}

export interface DeviceQuery extends RegistryQuery {
  readonly patientId?: string | undefined
  readonly serials?: ReadonlyArray<string> | undefined
}

/** `LIKE` pattern characters taken literally. */
const likeEscaped = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`)

export class FhirReads extends Effect.Service<FhirReads>()("vigil/FhirReads", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const readings = Effect.fn("FhirReads.readings")(function*(query: ReadingQuery) {
      const order = query.descending ? sql`DESC` : sql`ASC`
      const conditions = [
        sql`patient_id = ${query.patientId}::uuid`,
        ...(query.deviceId === undefined ? [] : [sql`device_id = ${query.deviceId}::uuid`]),
        // Column names come from the closed table of observation kinds, never from input.
        ...(query.columns === undefined ? [] : [sql.literal(`(${query.columns.map((column) => `${column} IS NOT NULL`).join(" OR ")})`)]),
        ...query.from.map((at) => sql`measured_at >= ${at}`),
        ...query.before.map((at) => sql`measured_at < ${at}`),
        ...(query.start === undefined
          ? []
          : [query.descending
            ? sql`(measured_at, id) <= (${query.start.at}::timestamptz, ${query.start.id}::uuid)`
            : sql`(measured_at, id) >= (${query.start.at}::timestamptz, ${query.start.id}::uuid)`])
      ]
      const rows = yield* sql<ReadingRow>`
        SELECT * FROM vital_signs WHERE ${sql.and(conditions)}
        ORDER BY measured_at ${order}, id ${order} LIMIT ${query.limit}`
      return rows.map(fromRow)
    }, classified)

    const reading = Effect.fn("FhirReads.reading")(function*(id: string) {
      const [row] = yield* sql<ReadingRow>`SELECT * FROM vital_signs WHERE id = ${id}::uuid`
      return row === undefined ? undefined : fromRow(row)
    }, classified)

    const registryConditions = (query: RegistryQuery) => [
      ...(query.ids === undefined ? [] : [sql`id = ANY(${query.ids}::uuid[])`]),
      ...(query.start === undefined ? [] : [sql`(created_at, id) >= (${query.start.at}::timestamptz, ${query.start.id}::uuid)`])
    ]

    const patients = Effect.fn("FhirReads.patients")(function*(query: PatientQuery) {
      const name = query.name === undefined ? undefined : `${likeEscaped(query.name)}%`
      const conditions = [
        ...registryConditions(query),
        ...(query.subjectNumbers === undefined ? [] : [sql`subject_number = ANY(${query.subjectNumbers}::text[])`]),
        ...(name === undefined ? [] : [sql`(
          full_name ILIKE ${name} OR full_name ILIKE ${`% ${name}`} OR first_name ILIKE ${name} OR last_name ILIKE ${name})`])
      ]
      const rows = yield* sql`
        SELECT * FROM patients ${conditions.length === 0 ? sql`` : sql`WHERE ${sql.and(conditions)}`}
        ORDER BY created_at, id LIMIT ${query.limit}`
      return yield* decodePatients(rows)
    }, classified)

    const devices = Effect.fn("FhirReads.devices")(function*(query: DeviceQuery) {
      const conditions = [
        ...registryConditions(query),
        ...(query.patientId === undefined ? [] : [sql`patient_id = ${query.patientId}::uuid`]),
        ...(query.serials === undefined ? [] : [sql`serial = ANY(${query.serials}::text[])`])
      ]
      const rows = yield* sql`
        SELECT * FROM devices ${conditions.length === 0 ? sql`` : sql`WHERE ${sql.and(conditions)}`}
        ORDER BY created_at, id LIMIT ${query.limit}`
      return yield* decodeDevices(rows)
    }, classified)

    return { readings, reading, patients, devices } as const
  })
}) {}
