/**
 * Records a change to the registry where it happens: one audit row and two outbox rows (the
 * domain event `events.<entityType>.<action>` and the audit event), written by the caller's
 * transaction or by the very statement that makes the change (`writeAndRecord`), so the change,
 * its audit and its events commit or vanish together. One change is one event: a subscriber never
 * has to stitch several together. The audit row is hash-chained at commit when the chain is free,
 * else soon after (migration 0010); the relay publishes the events once they are committed (and
 * the audit event once it is chained), woken by `OutboxSignal`.
 */
import { SqlClient, type Statement } from "@effect/sql"
import { classified } from "./SqlErrors.ts"
import { Effect } from "effect"
import { CurrentCaller } from "../domain/Access.ts"
import { OutboxSignal } from "./OutboxSignal.ts"
import { cloudEvent, isoMillis } from "./SqlJson.ts"
import { currentTraceparent, TracingEnabled } from "../observability/Tracing.ts"

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
    const tracing = yield* TracingEnabled
    const signal = yield* OutboxSignal

    /**
     * Runs `effect`, which writes outbox rows, and wakes the relay once they are committed: at
     * once outside a transaction, else when the outermost transaction (`transaction`) commits.
     * Every write to the outbox goes through it: nothing else wakes the relay before its poll.
     */
    const signalled = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (outer) =>
        outer._tag === "Some" ? effect : Effect.tap(effect, () => signal.written))

    /**
     * `effect` in a transaction (a savepoint inside one), like `sql.withTransaction`; the relay is
     * signalled once the outermost commits. Every transaction that records changes runs in one.
     */
    const transaction = <A, E, R>(effect: Effect.Effect<A, E, R>) => signalled(sql.withTransaction(effect))

    // Who is making the change: the caller a door identified ("anonymous" with authentication
    // off), or the one an actor was told of (`actor`: its messages come from a door).
    const actorOf = (actor: string | undefined) => actor !== undefined ? Effect.succeed(actor) : Effect.map(CurrentCaller, (caller) => caller.actor)

    /**
     * The rest of a WITH list whose relation `changed` (ord, actor, entity_type, entity_id, action,
     * before, after) holds the changes: their audit rows, and for each its domain event
     * (`events.<type>.<action>`, data the entity after, or before when it is gone) and its audit
     * event in the outbox, in `ord` order. Both events take their `time` from the audit row
     * (`clock_timestamp()` in the committing transaction), and the audit event its data from
     * the row, as `auditView` writes it; the audit event's id is the audit row's.
     */
    const recording = (traceparent: string | null) => sql`
        c AS MATERIALIZED (SELECT changed.*, gen_random_uuid() AS id, gen_random_uuid() AS event_id FROM changed),
        a AS (
          INSERT INTO audit_events (id, actor, action, entity_type, entity_id, before, after)
          SELECT id, actor, action, entity_type, entity_id, before, after FROM c ORDER BY ord
          RETURNING id, seq, occurred_at, prev_hash, hash
        ), t AS (
          SELECT c.*, a.seq, a.prev_hash, a.hash, ${sql.literal(isoMillis("a.occurred_at"))} AS time
          FROM c JOIN a USING (id)
        ), recorded AS (
          -- Subjects events.<type>.<action> (eventSubject, domain/Events.ts) and audit.<type>.<action>.
          INSERT INTO outbox (event_id, subject, event, traceparent)
          SELECT event_id, subject, event, ${traceparent}::text FROM (
            SELECT ord, 0 AS part, event_id, 'events.' || entity_type || '.' || action AS subject, ${sql.literal(cloudEvent({
      id: "event_id",
      type: "'vigil.' || entity_type || '.' || action",
      time: "time",
      subject: "entity_id",
      data: "coalesce(after, before)"
    }))} AS event
            FROM t
            UNION ALL
            SELECT ord, 1, id, 'audit.' || entity_type || '.' || action, ${sql.literal(cloudEvent({
      id: "id",
      type: "'vigil.audit.' || entity_type || '.' || action",
      time: "time",
      subject: "entity_id",
      // As auditView writes the row.
      data: `jsonb_build_object('seq', seq, 'id', id, 'occurred_at', time, 'actor', actor, 'action', action,
        'entity_type', entity_type, 'entity_id', entity_id, 'before', before, 'after', after, 'prev_hash', prev_hash, 'hash', hash)`
    }))}
            FROM t
          ) AS events
          ORDER BY ord, part
        )`

    /**
     * Records `changes` (in order) in one statement, however many they are. Must run inside the
     * transaction that makes the changes.
     */
    const recordAll = Effect.fn("ChangeLog.recordAll")(function*(changes: ReadonlyArray<Change>, options: { readonly actor?: string } = {}) {
      if (changes.length === 0) return
      const actor = yield* actorOf(options.actor)
      const traceparent = yield* currentTraceparent(tracing)
      const entries = changes.map((change, ord) => ({
        ord,
        actor,
        entity_type: change.entityType,
        entity_id: change.entityId,
        action: change.action,
        before: snapshot(change.before),
        after: snapshot(change.after)
      }))
      yield* sql`
        WITH changed AS (
          -- Text, not pg.json: node-postgres would send an array as a PostgreSQL array literal.
          SELECT * FROM jsonb_to_recordset(${JSON.stringify(entries)}::jsonb) AS c(
            ord int, actor text, entity_type text, entity_id text, action text, before jsonb, after jsonb)
        ), ${recording(traceparent)}
        SELECT 1`
    }, classified)

    /** Must run inside the transaction that makes the change. */
    const record = (change: Change, options: { readonly actor?: string } = {}) => recordAll([change], options)

    /**
     * Makes changes and records them in one statement, atomic without a transaction of its own
     * (no BEGIN and COMMIT round trips). `changes(actor)` is the start of a WITH list (the writes,
     * with `RETURNING`) ending in a relation `changed` (ord, actor, entity_type, entity_id, action,
     * before, after: the entity as `SqlJson.jsonView` shows it); `actor` is who makes the change, as
     * `recordAll` takes it. `result` is the query that answers.
     */
    const writeAndRecord = <A extends object>(
      changes: (actor: Statement.Fragment) => Statement.Fragment,
      result: Statement.Fragment,
      options: { readonly actor?: string } = {}
    ) =>
      signalled(Effect.flatMap(
        Effect.zip(actorOf(options.actor), currentTraceparent(tracing)),
        ([actor, traceparent]) => sql<A>`WITH ${changes(sql`${actor}::text`)}, ${recording(traceparent)} ${result}`
      ))

    return { record, recordAll, writeAndRecord, transaction, signalled } as const
  })
}) {}

