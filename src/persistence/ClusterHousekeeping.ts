/**
 * Housekeeping of the durable cluster's message tables, which `@effect/cluster` never clears
 * (about 1 KB a message; an appointment's confirmation writes four). Only what nothing can need
 * again is removed, once older than the retention:
 * - a finished workflow execution (its `run` has a final reply, not `Suspended`): all its
 *   messages and replies, and its durable clock's. A workflow still sleeping is kept whole: its
 *   activities' results and clocks are what its resumption replays.
 * - an Appointment actor's processed commands, with their replies.
 * Message ids are Snowflakes, whose high bits are their creation time: the cutoff is one.
 */
import * as Snowflake from "@effect/cluster/Snowflake"
import * as MachineId from "@effect/cluster/MachineId"
import { SqlClient } from "@effect/sql"
import { Duration, Effect } from "effect"
import { classified } from "./SqlErrors.ts"

/** Rows removed per statement, so a backlog is cleared in steps that never hold many locks. */
const BATCH = 2000

export class ClusterHousekeeping extends Effect.Service<ClusterHousekeeping>()("vigil/ClusterHousekeeping", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** Removes what is finished and older than `retention` (before `now`); answers how many messages went. */
    const purge = Effect.fn("ClusterHousekeeping.purge")(function*(tablePrefix: string, retention: Duration.Duration, now: number) {
      const messages = sql(`${tablePrefix}_messages`)
      const replies = sql(`${tablePrefix}_replies`)
      const cutoff = String(Snowflake.make({ timestamp: Math.max(now - Duration.toMillis(retention), Snowflake.constEpochMillis), machineId: MachineId.make(0), sequence: 0 }))
      const removeWorkflows = sql<{ removed: number }>`
        WITH finished AS (
          SELECT m.entity_type, m.entity_id FROM ${messages} m JOIN ${replies} r ON r.id = m.last_reply_id
          WHERE m.entity_type LIKE 'Workflow/%' AND m.tag = 'run' AND m.kind = 0 AND m.processed AND m.id < ${cutoff}
            AND r.kind = 0 AND r.payload NOT LIKE '%"_tag":"Suspended"%'
          LIMIT ${BATCH}
        ), doomed AS (
          SELECT m.id FROM ${messages} m JOIN finished f ON m.entity_id = f.entity_id
            AND (m.entity_type = f.entity_type OR m.entity_type = 'Workflow/-/DurableClock')
        ), gone_replies AS (
          DELETE FROM ${replies} WHERE request_id IN (SELECT id FROM doomed)
        )
        DELETE FROM ${messages} WHERE id IN (SELECT id FROM doomed) RETURNING 1 AS removed`
      const removeCommands = sql<{ removed: number }>`
        WITH doomed AS (
          SELECT id FROM ${messages} WHERE entity_type = 'Appointment' AND kind = 0 AND processed AND id < ${cutoff} LIMIT ${BATCH}
        ), gone_replies AS (
          DELETE FROM ${replies} WHERE request_id IN (SELECT id FROM doomed)
        )
        DELETE FROM ${messages} WHERE id IN (SELECT id FROM doomed) RETURNING 1 AS removed`
      let removed = 0
      for (const statement of [removeWorkflows, removeCommands]) {
        while (true) {
          const rows = yield* statement
          removed += rows.length
          if (rows.length < BATCH) break
        }
      }
      return removed
    }, classified)

    return { purge } as const
  })
}) {}
