/**
 * Records a change to the registry where it happens: one hash-chained audit row and two outbox
 * rows (the domain event `events.<entityType>.<action>` and the audit event), written by the
 * caller's transaction, so the change, its audit and its events commit or vanish together. One
 * change is one event: a subscriber never has to stitch several together. The relay publishes
 * them later.
 */
import { SqlClient } from "@effect/sql"
import { classified } from "./SqlErrors.ts"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect } from "effect"
import { auditSubject, eventSubject, makeEvent } from "../domain/Events.ts"

/** Who is making the change. Until authentication lands, API callers are "anonymous". */
export class CurrentActor extends Context.Reference<CurrentActor>()("vigil/CurrentActor", {
  defaultValue: () => "anonymous"
}) {}

export type EntityType =
  | "patient"
  | "device"
  | "threshold"
  | "alert"
  | "measurement"
  | "user"
  | "doctor_profile"
  | "doctor_schedule"
  | "patient_profile"
  | "appointment"
  | "task"
  | "lab_result"

export interface Change {
  readonly entityType: EntityType
  readonly entityId: string
  /** What happened: "created", "updated", "linked", "unlinked"; the audit action and the event name. */
  readonly action: string
  readonly before: object | null
  readonly after: object | null
}

export interface AuditRow {
  readonly seq: string
  readonly id: string
  readonly occurred_at: Date
  readonly actor: string
  readonly action: string
  readonly entity_type: string
  readonly entity_id: string
  readonly before: unknown
  readonly after: unknown
  readonly prev_hash: string
  readonly hash: string
}

/** An entity as JSON: dates as ISO strings, nothing but data. */
export const snapshot = (entity: object | null): object | null =>
  entity === null ? null : JSON.parse(JSON.stringify(entity))

export const auditView = (row: AuditRow) => ({
  seq: Number(row.seq),
  id: row.id,
  occurred_at: row.occurred_at.toISOString(),
  actor: row.actor,
  action: row.action,
  entity_type: row.entity_type,
  entity_id: row.entity_id,
  before: row.before,
  after: row.after,
  prev_hash: row.prev_hash,
  hash: row.hash
})

export class ChangeLog extends Effect.Service<ChangeLog>()("vigil/ChangeLog", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const pg = yield* PgClient.PgClient

    /**
     * Records `changes` (in order) in two statements, however many they are. Must run inside the
     * transaction that makes them.
     */
    const recordAll = Effect.fn("ChangeLog.recordAll")(function*(changes: ReadonlyArray<Change>) {
      if (changes.length === 0) return
      const actor = yield* CurrentActor
      const entries = changes.map((change) => ({ change, id: crypto.randomUUID(), before: snapshot(change.before), after: snapshot(change.after) }))
      const audits = yield* sql<AuditRow>`
        INSERT INTO audit_events ${sql.insert(entries.map(({ after, before, change, id }) => ({
          id,
          actor,
          action: change.action,
          entity_type: change.entityType,
          entity_id: change.entityId,
          before: before === null ? null : pg.json(before),
          after: after === null ? null : pg.json(after)
        })))}
        RETURNING *`
      const byId = new Map(audits.map((audit) => [audit.id, audit]))
      const rows = entries.flatMap(({ after, before, change, id }) => {
        const audit = byId.get(id)!
        const time = audit.occurred_at
        const domainEvent = {
          subject: eventSubject(change.entityType, change.action),
          event: makeEvent({ type: `vigil.${change.entityType}.${change.action}`, subject: change.entityId, data: after ?? before, time })
        }
        const auditEvent = {
          subject: auditSubject(change.entityType, change.action),
          event: {
            ...makeEvent({ type: `vigil.audit.${change.entityType}.${change.action}`, subject: change.entityId, data: auditView(audit), time }),
            id: audit.id
          }
        }
        return [domainEvent, auditEvent].map(({ event, subject }) => ({ event_id: event.id, subject, event: pg.json(event) }))
      })
      yield* sql`INSERT INTO outbox ${sql.insert(rows)}`
    }, classified)

    /** Must run inside the transaction that makes the change. */
    const record = (change: Change) => recordAll([change])

    return { record, recordAll } as const
  })
}) {}
