/**
 * SQL for `alerts`. Writes run inside the caller's transaction (the PatientMonitor's), each with
 * its audit row and its `events.alert.<action>` event through the ChangeLog. The database keeps
 * at most one unresolved alert per patient and vital sign (`alerts_one_active_idx`).
 */
import { SqlClient, type Statement } from "@effect/sql"
import { classified } from "./SqlErrors.ts"
import { PgClient } from "@effect/sql-pg"
import { Effect, Option, Schema } from "effect"
import { Alert, type AlertId, type AlertStatus, StaleAlertState } from "../domain/Alert.ts"
import type { Bounds, OpenAlert, Severity } from "../domain/Alerting.ts"
import type { VitalSign } from "../domain/VitalSign.ts"
import { type Keyset, pageOf } from "../domain/Keyset.ts"
import type { PatientId } from "../domain/Patient.ts"
import { ChangeLog, snapshot } from "./ChangeLog.ts"
import { jsonView } from "./SqlJson.ts"

const decodeAlerts = Schema.decodeUnknown(Schema.Array(Alert))
/** An alert row `alias` as its audit row and events show it. */
const alertJson = (alias: string) => jsonView(Alert.fields, alias)

/** One of an evaluation's alert writes (`writeEvaluation`). */
export type EvaluationWrite =
  | { readonly _tag: "raise"; readonly sign: VitalSign; readonly alert: OpenAlert; readonly bounds: Bounds }
  | { readonly _tag: "worsen"; readonly current: Alert; readonly alert: OpenAlert }
  | { readonly _tag: "resolve"; readonly current: Alert; readonly by: string }

export interface AlertFilter {
  readonly patient_id?: string | undefined
  readonly status?: AlertStatus | undefined
  readonly severity?: Severity | undefined
  readonly vital_sign?: VitalSign | undefined
  readonly from?: Date | undefined
  readonly to?: Date | undefined
  /** (created_at, id) of the last row of the previous page. */
  readonly after?: Keyset | undefined
  readonly limit: number
}

export class AlertRepo extends Effect.Service<AlertRepo>()("vigil/AlertRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const pg = yield* PgClient.PgClient
    const changes = yield* ChangeLog

    /**
     * The one row an insert or update of `alertId` returned. None: the alert had already moved on
     * (another process's monitor of the same patient changed it), so the caller's state is stale.
     */
    const decodeOne = (alertId: string) => (rows: ReadonlyArray<unknown>) =>
      Effect.flatMap(decodeAlerts(rows), (alerts) =>
        alerts[0] !== undefined ? Effect.succeed(alerts[0]) : Effect.fail(new StaleAlertState({ alertId })))

    /** The patient's alerts that are not resolved (at most one per vital sign). */
    const active = Effect.fn("AlertRepo.active")(function*(patientId: PatientId) {
      return yield* decodeAlerts(yield* sql`SELECT * FROM alerts WHERE patient_id = ${patientId} AND status <> 'resolved'`)
    }, classified)

    /** The alerts not resolved of any of `patientIds`, newest first. */
    const activeOf = Effect.fn("AlertRepo.activeOf")(function*(patientIds: ReadonlyArray<string>) {
      if (patientIds.length === 0) return []
      return yield* decodeAlerts(yield* sql`
        SELECT * FROM alerts WHERE patient_id = ANY(${patientIds}::uuid[]) AND status <> 'resolved' ORDER BY created_at DESC, id`)
    }, classified)

    const findById = Effect.fn("AlertRepo.findById")(function*(id: AlertId) {
      const [alert] = yield* decodeAlerts(yield* sql`SELECT * FROM alerts WHERE id = ${id}`)
      return Option.fromNullable(alert)
    }, classified)

    /** In the caller's transaction. */
    const raise = Effect.fn("AlertRepo.raise")(function*(patientId: PatientId, sign: VitalSign, alert: OpenAlert, bounds: Bounds) {
      const created = yield* decodeOne(`new ${sign} alert`)(yield* sql`
        INSERT INTO alerts (patient_id, vital_sign, severity, status, peak, count, bounds, first_seen, last_seen, critical_since)
        VALUES (${patientId}, ${sign}, ${alert.severity}, 'open', ${alert.peak}, ${alert.count}, ${pg.json(bounds)},
          ${alert.first_seen}, ${alert.last_seen}, CASE WHEN ${alert.severity}::text = 'critical' THEN now() END)
        RETURNING *`)
      yield* changes.record({ entityType: "alert", entityId: created.id, action: "raised", before: null, after: created })
      return created
    }, classified)

    /** A repeat breach (peak, count, last seen, maybe severity); in the caller's transaction. */
    const worsen = Effect.fn("AlertRepo.worsen")(function*(current: Alert, alert: OpenAlert) {
      const updated = yield* decodeOne(current.id)(yield* sql`
        UPDATE alerts SET severity = ${alert.severity}, peak = ${alert.peak}, count = ${alert.count},
          last_seen = ${alert.last_seen}, updated_at = now(),
          critical_since = CASE WHEN ${alert.severity}::text = 'critical' THEN coalesce(critical_since, now()) END
        WHERE id = ${current.id} AND status <> 'resolved' RETURNING *`)
      yield* changes.record({ entityType: "alert", entityId: current.id, action: "updated", before: current, after: updated })
      return updated
    }, classified)

    /** Sets the status (and who and when); `action` names the change in the audit and the event. */
    const transition = Effect.fn("AlertRepo.transition")(function*(
      current: Alert,
      change: { readonly action: "acknowledged" | "resolved" | "escalated"; readonly by: string }
    ) {
      const updated = yield* decodeOne(current.id)(
        change.action === "acknowledged"
          ? yield* sql`UPDATE alerts SET status = 'acknowledged', acknowledged_at = now(), acknowledged_by = ${change.by},
              updated_at = now() WHERE id = ${current.id} AND status = 'open' RETURNING *`
          : change.action === "resolved"
          ? yield* sql`UPDATE alerts SET status = 'resolved', resolved_at = now(), resolved_by = ${change.by},
              updated_at = now() WHERE id = ${current.id} AND status <> 'resolved' RETURNING *`
          : yield* sql`UPDATE alerts SET escalated_at = now(), updated_at = now()
              WHERE id = ${current.id} AND status = 'open' AND escalated_at IS NULL RETURNING *`
      )
      // Whose change: the caller who acknowledged or resolved it, "auto" (it resolved itself) or "system" (the escalation sweep).
      yield* changes.record({ entityType: "alert", entityId: current.id, action: change.action, before: current, after: updated }, { actor: change.by })
      return updated
    }, classified)

    /**
     * An evaluation's alert writes and the monitor's saved state (`save`: the data-modifying
     * statement that saves it when its condition holds) in one statement, atomic without a
     * transaction of its own: each write's row, its audit row and its events, as `raise`, `worsen`
     * and `transition` write them. The writes must
     * concern different vital signs (the statement's parts do not see each other's rows). When an
     * alert to change has moved on (another process's monitor changed it), nothing at all is
     * written and it fails with `StaleAlertState`. Answers the alerts as written, in order.
     */
    const writeEvaluation = Effect.fn("AlertRepo.writeEvaluation")(function*(
      patientId: PatientId,
      writes: ReadonlyArray<EvaluationWrite>,
      save: (when: Statement.Fragment) => Statement.Fragment
    ) {
      const current = writes.flatMap((write) => write._tag === "raise" ? [] : [write.current.id])
      // The alerts to change, locked; `fresh` only if every one is still unresolved.
      const fresh = sql`fresh AS (SELECT count(*) = ${current.length} AS ok FROM (
          SELECT id FROM alerts WHERE id = ANY(${current}::uuid[]) AND status <> 'resolved' FOR UPDATE) AS locked)`
      const parts = writes.map((write, ord) => {
        const w = sql.literal(`w${ord}`)
        if (write._tag === "raise") {
          const { alert } = write
          return {
            cte: sql`${w} AS (
              INSERT INTO alerts (patient_id, vital_sign, severity, status, peak, count, bounds, first_seen, last_seen, critical_since)
              SELECT ${patientId}::uuid, ${write.sign}::text, ${alert.severity}::text, 'open', ${alert.peak}::float8, ${alert.count}::int,
                ${pg.json(write.bounds)}::jsonb, ${alert.first_seen}::timestamptz, ${alert.last_seen}::timestamptz,
                CASE WHEN ${alert.severity}::text = 'critical' THEN now() END
              FROM fresh WHERE fresh.ok RETURNING *)`,
            action: "raised",
            before: null as Alert | null,
            actor: undefined as string | undefined
          }
        }
        if (write._tag === "worsen") {
          const { alert } = write
          return {
            cte: sql`${w} AS (
              UPDATE alerts SET severity = ${alert.severity}, peak = ${alert.peak}, count = ${alert.count},
                last_seen = ${alert.last_seen}, updated_at = now(),
                critical_since = CASE WHEN ${alert.severity}::text = 'critical' THEN coalesce(critical_since, now()) END
              FROM fresh WHERE fresh.ok AND id = ${write.current.id} AND status <> 'resolved' RETURNING alerts.*)`,
            action: "updated",
            before: write.current,
            actor: undefined
          }
        }
        return {
          cte: sql`${w} AS (
            UPDATE alerts SET status = 'resolved', resolved_at = now(), resolved_by = ${write.by}, updated_at = now()
            FROM fresh WHERE fresh.ok AND id = ${write.current.id} AND status <> 'resolved' RETURNING alerts.*)`,
          action: "resolved",
          before: write.current,
          actor: write.by as string | undefined
        }
      })
      const rows = yield* changes.writeAndRecord<{ ord: number }>(
        (actor) =>
          sql`${fresh}, ${sql.csv(parts.map((part) => part.cte))},
            saved AS (${save(sql`(SELECT ok FROM fresh)`)}),
            changed AS (${sql.join(" UNION ALL ", false)(parts.map((part, ord) =>
            sql`SELECT ${ord}::int AS ord, ${part.actor === undefined ? actor : sql`${part.actor}::text`} AS actor, 'alert' AS entity_type,
                id::text AS entity_id, ${part.action}::text AS action,
                ${part.before === null ? sql`NULL` : sql`${JSON.stringify(snapshot(part.before))}`}::jsonb AS before,
                ${sql.literal(alertJson(`w${ord}`))} AS after FROM ${sql.literal(`w${ord}`)}`
          ))})`,
        sql`${sql.join(" UNION ALL ", false)(parts.map((_, ord) => sql`SELECT ${ord}::int AS ord, * FROM ${sql.literal(`w${ord}`)}`))} ORDER BY ord`
      )
      if (rows.length < writes.length) {
        return yield* Effect.fail(new StaleAlertState({ alertId: current.join(", ") }))
      }
      return yield* decodeAlerts(rows)
    }, classified)

    const list = Effect.fn("AlertRepo.list")(function*(filter: AlertFilter) {
      const conditions = [
        ...(filter.patient_id !== undefined ? [sql`patient_id = ${filter.patient_id}`] : []),
        ...(filter.status !== undefined ? [sql`status = ${filter.status}`] : []),
        ...(filter.severity !== undefined ? [sql`severity = ${filter.severity}`] : []),
        ...(filter.vital_sign !== undefined ? [sql`vital_sign = ${filter.vital_sign}`] : []),
        ...(filter.from !== undefined ? [sql`created_at >= ${filter.from}`] : []),
        ...(filter.to !== undefined ? [sql`created_at < ${filter.to}`] : []),
        ...(filter.after !== undefined ? [sql`(created_at, id) > (${filter.after.at}::timestamptz, ${filter.after.id}::uuid)`] : [])
      ]
      const rows = yield* decodeAlerts(yield* sql`
        SELECT * FROM alerts WHERE ${sql.and(conditions)} ORDER BY created_at, id LIMIT ${filter.limit + 1}`)
      return pageOf("created_at", rows, filter.limit, filter.after, (alert) => ({ at: alert.created_at, id: alert.id }))
    }, classified)

    /** Critical alerts nobody acknowledged, critical since before `criticalSince`, not yet escalated. */
    const dueForEscalation = Effect.fn("AlertRepo.dueForEscalation")(function*(criticalSince: Date) {
      return yield* sql<{ id: AlertId; patient_id: PatientId }>`
        SELECT id, patient_id FROM alerts
        WHERE status = 'open' AND severity = 'critical' AND escalated_at IS NULL
          AND critical_since < ${criticalSince}
        ORDER BY critical_since LIMIT 1000`
    }, classified)

    /** A transaction for the writes above (the relay is signalled once it commits). */
    const transaction = changes.transaction

    return { active, activeOf, findById, raise, worsen, transition, writeEvaluation, transaction, list, dueForEscalation } as const
  }),
  dependencies: [ChangeLog.Default]
}) {}
