/**
 * Reads the audit trail: filtered keyset pages of chained rows (a reader first chains what
 * waits), and a check of the whole hash chain, with how many rows still wait to be chained.
 */
import { SqlClient } from "@effect/sql"
import { classified } from "./SqlErrors.ts"
import { Effect } from "effect"
import { type AuditRow, auditView } from "./ChangeLog.ts"
import { isoMillis } from "./SqlJson.ts"

export interface AuditFilter {
  readonly entity_type?: string | undefined
  readonly entity_id?: string | undefined
  readonly action?: string | undefined
  readonly from?: Date | undefined
  readonly to?: Date | undefined
  /** Rows after this `seq` (the previous page's `next_cursor`). */
  readonly after?: number | undefined
  readonly limit: number
}

/** One read of one patient's data: who, whose, through which route, when. */
export interface AccessRecord {
  readonly occurredAt: Date
  readonly actor: string
  readonly entityType: string
  readonly entityId: string
  /** The route template or RPC ("GET /patients/:patient_id", "/registry.Registry/GetPatient"). */
  readonly route: string
  readonly door: "http" | "grpc"
  /** How many such reads (same caller, data and route) this row stands for, up to `lastAt`. */
  readonly reads: number
  readonly lastAt: Date
}

export interface ChainBreak {
  readonly seq: number
  readonly id: string
  readonly reason: string
}

export interface ChainReport {
  readonly valid: boolean
  readonly checked: number
  readonly waiting: number
  readonly first_broken: ChainBreak | null
  readonly head_hash: string | null
}

const GENESIS = "0".repeat(64)
const VERIFY_PAGE = 5000

export class AuditRepo extends Effect.Service<AuditRepo>()("vigil/AuditRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /**
     * Chains every row committed before now that still waits (migration 0010), so that a reader
     * sees its own writes chained; answers how many it chained.
     */
    const chainWaiting = sql<{ chained: number }>`SELECT vigil_audit_chain_waiting(2147483647) AS chained`.pipe(
      Effect.map(([row]) => row?.chained ?? 0)
    )

    const list = Effect.fn("AuditRepo.list")(function*(filter: AuditFilter) {
      yield* chainWaiting
      const conditions = [
        // Rows committed since the chaining are the next read's.
        sql`seq < vigil_audit_waiting_seq()`,
        ...(filter.entity_type !== undefined ? [sql`entity_type = ${filter.entity_type}`] : []),
        ...(filter.entity_id !== undefined ? [sql`entity_id = ${filter.entity_id}`] : []),
        ...(filter.action !== undefined ? [sql`action = ${filter.action}`] : []),
        ...(filter.from !== undefined ? [sql`occurred_at >= ${filter.from}`] : []),
        ...(filter.to !== undefined ? [sql`occurred_at < ${filter.to}`] : []),
        ...(filter.after !== undefined ? [sql`seq > ${filter.after}`] : [])
      ]
      const rows = yield* sql<AuditRow>`
        SELECT * FROM audit_events WHERE ${sql.and(conditions)} ORDER BY seq LIMIT ${filter.limit + 1}`
      const page = rows.slice(0, filter.limit).map(auditView)
      // More rows follow: the next page starts after this one's last row (with `limit=0`, where it stood).
      return {
        items: page,
        next_cursor: rows.length > filter.limit ? String(page.at(-1)?.seq ?? filter.after ?? 0) : null
      }
    }, classified)

    /**
     * Recomputes every row's hash from its content and checks it chains onto the row before;
     * names the first row where either fails. A row changed in place fails its own hash; a row
     * removed breaks the link of the row after it.
     */
    const verify = Effect.fn("AuditRepo.verify")(function*() {
      let previousHash = GENESIS
      let after = 0
      let checked = 0
      // The chain's head now: rows chained while the check runs are the next check's.
      const [head] = yield* sql<{ head: string | null; waiting: string }>`
        SELECT (SELECT max(seq) FROM audit_events WHERE seq < vigil_audit_waiting_seq())::text AS head,
               (SELECT count(*) FROM audit_events WHERE seq >= vigil_audit_waiting_seq())::text AS waiting`
      const last = Number(head?.head ?? 0)
      const waiting = Number(head?.waiting ?? 0)
      while (after < last) {
        const rows = yield* sql<{ seq: string; id: string; prev_hash: string; hash: string; recomputed: string }>`
          SELECT seq, id, prev_hash, hash,
                 vigil_audit_hash(prev_hash, id, occurred_at, actor, action, entity_type, entity_id, before, after) AS recomputed
          FROM audit_events WHERE seq > ${after} AND seq <= ${last} ORDER BY seq LIMIT ${VERIFY_PAGE}`
        for (const row of rows) {
          const broken = (reason: string): ChainReport => ({
            valid: false,
            checked,
            waiting,
            first_broken: { seq: Number(row.seq), id: row.id, reason },
            head_hash: null
          })
          if (row.prev_hash !== previousHash) return broken("prev_hash does not match the hash of the row before it")
          if (row.recomputed !== row.hash) return broken("content does not match its hash")
          previousHash = row.hash
          checked++
        }
        if (rows.length < VERIFY_PAGE) break
        after = Number(rows[rows.length - 1]!.seq)
      }
      return { valid: true, checked, waiting, first_broken: null, head_hash: checked === 0 ? null : previousHash } satisfies ChainReport
    }, classified)

    /**
     * Appends reads of patient data (the access audit) in one statement: action "read", at the
     * time of the (first) read, with the route, the door, how many reads and the last one's time
     * in `after`. Chained like every audit row (migration 0010).
     */
    const insertReads = (reads: ReadonlyArray<AccessRecord>) =>
      sql`
        INSERT INTO audit_events (occurred_at, actor, action, entity_type, entity_id, after)
        SELECT occurred_at, actor, 'read', entity_type, entity_id,
               jsonb_build_object('route', route, 'door', door, 'reads', reads,
                                  'last_read_at', ${sql.literal(isoMillis("last_at"))})
        FROM unnest(
          ${reads.map((r) => r.occurredAt.toISOString())}::timestamptz[],
          ${reads.map((r) => r.actor)}::text[],
          ${reads.map((r) => r.entityType)}::text[],
          ${reads.map((r) => r.entityId)}::text[],
          ${reads.map((r) => r.route)}::text[],
          ${reads.map((r) => r.door)}::text[],
          ${reads.map((r) => r.reads)}::int[],
          ${reads.map((r) => r.lastAt.toISOString())}::timestamptz[]
        ) AS r(occurred_at, actor, entity_type, entity_id, route, door, reads, last_at)`.pipe(Effect.asVoid, classified)

    return { list, verify, insertReads } as const
  })
}) {}
