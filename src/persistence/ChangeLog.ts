/**
 * Records a change to the registry where it happens: one hash-chained audit row and two outbox
 * rows (the domain event `events.<entityType>.<action>` and the audit event), written by the
 * caller's transaction, so the change, its audit and its events commit or vanish together. One
 * change is one event: a subscriber never has to stitch several together. The relay publishes
 * them later.
 */
import { SqlClient } from "@effect/sql"
import { classified } from "./SqlErrors.ts"
import { Effect } from "effect"
import { CurrentCaller } from "../domain/Access.ts"
import { auditSubject, eventSubject, makeEvent } from "../domain/Events.ts"

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
  | "service"

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

    /**
     * Records `changes` (in order) in one statement, however many they are: their audit rows, and
     * for each its domain event and its audit event in the outbox. Both events take their `time`
     * from the audit row (`clock_timestamp()` in the committing transaction), and the audit event
     * its data from the row, so they are put together in SQL: the envelope, built here, gets its
     * time there. Must run inside the transaction that makes the changes.
     */
    const recordAll = Effect.fn("ChangeLog.recordAll")(function*(changes: ReadonlyArray<Change>, options: { readonly actor?: string } = {}) {
      if (changes.length === 0) return
      // Who is making the change: the caller a door identified ("anonymous" with authentication
      // off), or the one an actor was told of (`options.actor`: its messages come from a door).
      const actor = options.actor ?? (yield* CurrentCaller).actor
      const entries = changes.map((change, ord) => {
        const before = snapshot(change.before)
        const after = snapshot(change.after)
        const { time: _t1, ...event } = makeEvent({ type: `vigil.${change.entityType}.${change.action}`, subject: change.entityId, data: after ?? before })
        const { data: _d, time: _t2, ...auditEvent } = makeEvent({ type: `vigil.audit.${change.entityType}.${change.action}`, subject: change.entityId, data: null })
        const id = crypto.randomUUID()
        return {
          ord,
          id,
          action: change.action,
          entity_type: change.entityType,
          entity_id: change.entityId,
          before,
          after,
          event_id: event.id,
          event_subject: eventSubject(change.entityType, change.action),
          event,
          audit_subject: auditSubject(change.entityType, change.action),
          // The audit event's id is the audit row's.
          audit_event: { ...auditEvent, id }
        }
      })
      yield* sql`
        WITH c AS (
          -- Text, not pg.json: node-postgres would send an array as a PostgreSQL array literal.
          SELECT * FROM jsonb_to_recordset(${JSON.stringify(entries)}::jsonb) AS c(
            ord int, id uuid, action text, entity_type text, entity_id text, before jsonb, after jsonb,
            event_id uuid, event_subject text, event jsonb, audit_subject text, audit_event jsonb)
        ), a AS (
          INSERT INTO audit_events (id, actor, action, entity_type, entity_id, before, after)
          SELECT id, ${actor}, action, entity_type, entity_id, before, after FROM c ORDER BY ord
          RETURNING id, seq, occurred_at, prev_hash, hash
        ), t AS (
          SELECT c.*, a.seq, a.prev_hash, a.hash,
                 to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS time
          FROM c JOIN a USING (id)
        )
        INSERT INTO outbox (event_id, subject, event)
        SELECT event_id, subject, event FROM (
          SELECT ord, 0 AS part, event_id, event_subject AS subject, event || jsonb_build_object('time', time) AS event FROM t
          UNION ALL
          -- As auditView writes a row.
          SELECT ord, 1, id, audit_subject, audit_event || jsonb_build_object('time', time, 'data', jsonb_build_object(
            'seq', seq, 'id', id, 'occurred_at', time, 'actor', ${actor}::text, 'action', action, 'entity_type', entity_type,
            'entity_id', entity_id, 'before', before, 'after', after, 'prev_hash', prev_hash, 'hash', hash))
          FROM t
        ) AS events
        ORDER BY ord, part`
    }, classified)

    /** Must run inside the transaction that makes the change. */
    const record = (change: Change, options: { readonly actor?: string } = {}) => recordAll([change], options)

    return { record, recordAll } as const
  })
}) {}
