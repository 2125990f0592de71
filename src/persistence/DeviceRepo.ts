/** SQL for the `devices` table, including links to patients. */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Option, Schema } from "effect"
import { Device, type DeviceCreate, type DeviceId, type DeviceUpdate } from "../domain/Device.ts"
import { DuplicateSerial, PatientNotFound, type DataRefused, type Unavailable } from "../domain/Errors.ts"
import type { PatientId } from "../domain/Patient.ts"
import type { Page } from "./Page.ts"
import { classified, FOREIGN_KEY_VIOLATION, fromSqlError, isViolation, UNIQUE_VIOLATION } from "./SqlErrors.ts"
import { ChangeLog } from "./ChangeLog.ts"
import { jsonView } from "./SqlJson.ts"
import { RegistryCache } from "./RegistryCache.ts"

const decodeDevices = Schema.decodeUnknown(Schema.Array(Device))
/** A device row `alias` as its audit row and events show it. */
const deviceJson = (alias: string) => jsonView(Device.fields, alias)

export class DeviceRepo extends Effect.Service<DeviceRepo>()("vigil/DeviceRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { devices: cache } = yield* RegistryCache
    const changes = yield* ChangeLog

    type WriteFailure = Effect.Effect<never, PatientNotFound | Unavailable | DataRefused>
    const unknownPatient = (patientId: PatientId | null | undefined) => (error: SqlError): WriteFailure =>
      isViolation(error, FOREIGN_KEY_VIOLATION) && patientId
        ? Effect.fail(new PatientNotFound({ patientId }))
        : fromSqlError(error)

    /** Inserts the device and records its creation, in one statement. */
    const insert = Effect.fn("DeviceRepo.insert")(function*(input: DeviceCreate) {
      const rows = yield* changes.writeAndRecord(
        (actor) => sql`created AS (
            INSERT INTO devices ${sql.insert({ serial: input.serial, firmware: input.firmware, patient_id: input.patient_id })}
            RETURNING *),
          changed AS (SELECT 0 AS ord, ${actor} AS actor, 'device' AS entity_type, id::text AS entity_id, 'created' AS action,
            NULL::jsonb AS before, ${sql.literal(deviceJson("created"))} AS after FROM created)`,
        sql`SELECT * FROM created`
      ).pipe(
        Effect.catchTag("SqlError", (error): Effect.Effect<never, DuplicateSerial | PatientNotFound | Unavailable | DataRefused> =>
          isViolation(error, UNIQUE_VIOLATION, "devices_serial_key")
            ? Effect.fail(new DuplicateSerial({ serial: input.serial }))
            : unknownPatient(input.patient_id)(error))
      )
      const [device] = yield* decodeDevices(rows)
      return device!
    }, classified)

    const load = (id: DeviceId) =>
      sql`SELECT * FROM devices WHERE id = ${id}`.pipe(
        Effect.flatMap(decodeDevices),
        Effect.map((rows) => Option.fromNullable(rows[0])),
        classified,
        Effect.withSpan("DeviceRepo.load")
      )

    const findById = (id: DeviceId): Effect.Effect<Option.Option<Device>, Unavailable | DataRefused> =>
      cache.getOrLoad(id, () => load(id))

    /** The device as the cache holds it now, without loading (`undefined`: not cached). */
    const cached = (id: DeviceId): Option.Option<Device> | undefined => cache.peek(id)

    const list = Effect.fn("DeviceRepo.list")(function*(page: Page) {
      const rows = yield* sql`SELECT * FROM devices ORDER BY created_at, id OFFSET ${page.skip} LIMIT ${page.limit}`
      return yield* decodeDevices(rows)
    }, classified)

    /**
     * Applies the fields present in `patch`; `None` when the device does not exist. A change of
     * link alone is audited and published as "linked"/"unlinked"; a change of firmware (with or
     * without a new link) as "updated"; a patch that changes nothing records nothing. One
     * statement: the row is locked, changed and recorded without transaction round trips.
     */
    const update = Effect.fn("DeviceRepo.update")(function*(id: DeviceId, patch: DeviceUpdate) {
      const firmware = patch.firmware ?? null
      const relink = patch.patient_id !== undefined
      const patientId = patch.patient_id ?? null
      const rows = yield* changes.writeAndRecord(
        (actor) => sql`current AS (SELECT * FROM devices WHERE id = ${id} FOR UPDATE),
          moves AS (
            SELECT current.*,
              ${firmware}::text IS NOT NULL AND ${firmware}::text <> current.firmware AS refirm,
              ${relink} AND ${patientId}::uuid IS DISTINCT FROM current.patient_id AS relink
            FROM current),
          updated AS (
            UPDATE devices SET
              firmware = CASE WHEN moves.refirm THEN ${firmware}::text ELSE devices.firmware END,
              patient_id = CASE WHEN moves.relink THEN ${patientId}::uuid ELSE devices.patient_id END,
              updated_at = now()
            FROM moves WHERE devices.id = moves.id AND (moves.refirm OR moves.relink)
            RETURNING devices.*, moves.refirm, ${sql.literal(deviceJson("moves"))} AS before_json),
          changed AS (
            SELECT 0 AS ord, ${actor} AS actor, 'device' AS entity_type, id::text AS entity_id,
              -- Without a firmware change, this patch changed the link.
              CASE WHEN refirm THEN 'updated' WHEN patient_id IS NULL THEN 'unlinked' ELSE 'linked' END AS action,
              before_json AS before, ${sql.literal(deviceJson("updated"))} AS after
            FROM updated)`,
        // The device as changed, or as it was when the patch changed nothing.
        sql`SELECT * FROM updated UNION ALL SELECT current.*, false, NULL FROM current WHERE NOT EXISTS (SELECT 1 FROM updated)`
      ).pipe(Effect.catchTag("SqlError", unknownPatient(patch.patient_id)))
      const [device] = yield* decodeDevices(rows)
      cache.invalidate(id)
      return Option.fromNullable(device)
    }, classified)

    /** Devices heard from, but last before `silentSince`: offline (from the database's now), audited. */
    const markOffline = Effect.fn("DeviceRepo.markOffline")(function*(silentSince: Date) {
      return yield* changes.transaction(Effect.gen(function*() {
        const rows = yield* sql<Record<string, unknown> & { id: string }>`
          UPDATE devices SET offline_since = now()
          WHERE id IN (SELECT id FROM devices WHERE offline_since IS NULL
                         AND last_seen_at < ${silentSince}
                       ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED)
          RETURNING *`
        for (const device of rows) {
          yield* changes.record({ entityType: "device", entityId: device.id, action: "offline", before: null, after: device })
        }
        return rows
      }))
    }, classified)

    /** Devices heard from again after being reported offline: back online, each audited with an event. */
    const markOnline = Effect.fn("DeviceRepo.markOnline")(function*(ids: ReadonlyArray<DeviceId>) {
      return yield* changes.transaction(Effect.gen(function*() {
        const back = yield* sql<Record<string, unknown> & { id: string }>`
          UPDATE devices SET offline_since = NULL WHERE id = ANY(${ids}::uuid[]) AND offline_since IS NOT NULL RETURNING *`
        for (const device of back) {
          yield* changes.record({ entityType: "device", entityId: device.id, action: "online", before: null, after: device })
        }
        return back
      }))
    }, classified)

    return { insert, findById, cached, list, update, markOffline, markOnline } as const
  }),
  dependencies: [RegistryCache.Default, ChangeLog.Default]
}) {}
