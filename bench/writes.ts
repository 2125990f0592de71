/**
 * Registry writes from many clients (issue 15's item 1): Vigil's `POST /patients` and
 * `PATCH /devices/{id}` from 256 concurrent HTTP clients, against a bare write transaction that
 * writes the same rows (the entity, its audit row, its two outbox rows: the domain event and the
 * audit event) in one transaction from 256 concurrent clients, on a pool of Vigil's size, into
 * tables made `LIKE` Vigil's (the same columns, defaults, constraints and indexes, without
 * Vigil's triggers: no audit chain, no notifications). The bare figure is what PostgreSQL here
 * takes for that work; the ratio is what Vigil's door, actors, validation and audit chain leave.
 */
import autocannon from "autocannon"
import { randomUUID } from "node:crypto"
import { performance } from "node:perf_hooks"
import pg from "pg"
import { log, percentile, withTimeout } from "./support.ts"

export const WRITE_CLIENTS = 256
const POOL_SIZE = 10

export interface WriteResult {
  readonly perSecond: number
  readonly p99Ms: number
  readonly completed: number
  readonly errors: number
}

const autocannonWrites = (options: autocannon.Options, seconds: number) => {
  let instance: autocannon.Instance | undefined
  const run = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon({ ...options, connections: WRITE_CLIENTS, pipelining: 1, duration: seconds, timeout: 10, maxOverallRequests: 500_000 }, (error, result) =>
      error !== null && error !== undefined ? reject(error) : resolve(result))
  })
  return withTimeout(`autocannon ${options.url}`, (seconds + 20) * 1000, run, () => instance?.stop())
}

const fromAutocannon = (result: autocannon.Result): WriteResult => ({
  perSecond: result.requests.average,
  p99Ms: result.latency.p99,
  completed: result.requests.total,
  errors: result.non2xx + result.errors + result.timeouts
})

/** `POST /patients` from 256 clients, each a new patient. */
export const vigilCreates = async (httpUrl: string, seconds: number): Promise<WriteResult> => {
  let n = 0
  const options: autocannon.Options = {
    url: `${httpUrl}/patients`,
    method: "POST",
    headers: { "content-type": "application/json" },
    requests: [{ setupRequest: (request) => ({ ...request, body: JSON.stringify({ full_name: `Bench Patient ${n++}`, age: 40, sex: "F" }) }) }]
  }
  log(`Vigil: POST /patients from ${WRITE_CLIENTS} clients, ${seconds} s`)
  return fromAutocannon(await autocannonWrites(options, seconds))
}

/** Devices for the PATCH run: one per client, so clients do not queue on one row. */
export const makeDevices = async (httpUrl: string, count: number): Promise<Array<string>> => {
  const ids: Array<string> = []
  for (let i = 0; i < count; i++) {
    const response = await fetch(`${httpUrl}/devices`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ serial: `BENCH-${randomUUID().slice(0, 12)}`, firmware: "v1.0.0" }),
      signal: AbortSignal.timeout(10_000)
    })
    const body = await response.json() as { id: string }
    if (response.status !== 201) throw new Error(`POST /devices answered ${response.status}: ${JSON.stringify(body)}`)
    ids.push(body.id)
  }
  return ids
}

/** `PATCH /devices/{id}` from 256 clients over `deviceIds`, a new firmware each time. */
export const vigilUpdates = async (httpUrl: string, deviceIds: ReadonlyArray<string>, seconds: number): Promise<WriteResult> => {
  let n = 0
  const options: autocannon.Options = {
    url: httpUrl,
    method: "PATCH",
    headers: { "content-type": "application/json" },
    requests: [{
      setupRequest: (request) => {
        const i = n++
        return { ...request, path: `/devices/${deviceIds[i % deviceIds.length]}`, body: JSON.stringify({ firmware: `v2.${i}` }) }
      }
    }]
  }
  log(`Vigil: PATCH /devices/{id} from ${WRITE_CLIENTS} clients over ${deviceIds.length} devices, ${seconds} s`)
  return fromAutocannon(await autocannonWrites(options, seconds))
}

const event = (type: string, subject: string, data: unknown) => ({
  specversion: "1.0",
  id: randomUUID(),
  source: "/vigil",
  type,
  subject,
  time: new Date().toISOString(),
  datacontenttype: "application/json",
  data
})

/** The bare transaction's tables, `LIKE` Vigil's without its triggers. */
const prepareBare = async (pool: pg.Pool, devices: number): Promise<Array<string>> => {
  await pool.query(`
    DROP TABLE IF EXISTS bare_patients, bare_devices, bare_audit, bare_outbox;
    CREATE TABLE bare_patients (LIKE patients INCLUDING ALL);
    CREATE TABLE bare_devices (LIKE devices INCLUDING DEFAULTS INCLUDING INDEXES INCLUDING CONSTRAINTS);
    CREATE TABLE bare_audit (LIKE audit_events INCLUDING DEFAULTS INCLUDING INDEXES INCLUDING CONSTRAINTS);
    CREATE SEQUENCE IF NOT EXISTS bare_audit_seq;
    ALTER TABLE bare_audit ALTER COLUMN seq SET DEFAULT nextval('bare_audit_seq');
    CREATE TABLE bare_outbox (LIKE outbox INCLUDING ALL);`)
  const ids = Array.from({ length: devices }, () => randomUUID())
  await pool.query(`INSERT INTO bare_devices (id, serial, firmware) SELECT id, 'BARE-' || id, 'v1.0.0' FROM unnest($1::uuid[]) AS id`, [ids])
  return ids
}

/** One entity change as Vigil writes it: the row, its audit row, its event and its audit event, in one transaction. */
const bareTransaction = async (pool: pg.Pool, write: (client: pg.PoolClient) => Promise<{ entityType: string; id: string; action: string; before: unknown; after: unknown }>) => {
  const client = await pool.connect()
  try {
    await client.query("BEGIN")
    const change = await write(client)
    const auditId = randomUUID()
    await client.query(
      `INSERT INTO bare_audit (id, actor, action, entity_type, entity_id, before, after, prev_hash, hash) VALUES ($1, 'anonymous', $2, $3, $4, $5, $6, '', '')`,
      [auditId, change.action, change.entityType, change.id, JSON.stringify(change.before), JSON.stringify(change.after)]
    )
    const domain = event(`vigil.${change.entityType}.${change.action}`, change.id, change.after)
    const audit = { ...event(`vigil.audit.${change.entityType}.${change.action}`, change.id, null), id: auditId }
    await client.query(
      `INSERT INTO bare_outbox (event_id, subject, event) VALUES ($1, $2, $3), ($4, $5, $6)`,
      [domain.id, `vigil.events.${change.entityType}.${change.action}`, JSON.stringify(domain), audit.id, `vigil.audit.${change.entityType}.${change.action}`, JSON.stringify(audit)]
    )
    await client.query("COMMIT")
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined)
    throw error
  } finally {
    client.release()
  }
}

/** 256 clients, each running `one` back to back for `seconds`. */
const clients = async (seconds: number, one: (n: number) => Promise<void>): Promise<WriteResult> => {
  const latencies: Array<number> = []
  let errors = 0
  let n = 0
  const started = performance.now()
  const stopAt = started + seconds * 1000
  await Promise.all(Array.from({ length: WRITE_CLIENTS }, async () => {
    while (performance.now() < stopAt && n < 500_000) {
      const at = performance.now()
      try {
        await one(n++)
        latencies.push(performance.now() - at)
      } catch {
        errors++
      }
    }
  }))
  return { perSecond: latencies.length / ((performance.now() - started) / 1000), p99Ms: percentile(latencies, 99), completed: latencies.length, errors }
}

export interface BareWrites<Extra = unknown> {
  readonly creates: WriteResult & Extra
  readonly updates: WriteResult & Extra
}

/** The bare write transaction, creates then updates, on `databaseUrl`; `measure` wraps each measured run. */
export const bareWrites = async <Extra>(
  databaseUrl: string,
  seconds: number,
  devices: number,
  measure: (work: () => Promise<WriteResult>) => Promise<WriteResult & Extra>
): Promise<BareWrites<Extra>> => {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: POOL_SIZE })
  try {
    const ids = await prepareBare(pool, devices)
    log(`bare write transaction: creates from ${WRITE_CLIENTS} clients, ${seconds} s`)
    const creates = await measure(() => clients(seconds, (n) =>
      bareTransaction(pool, async (client) => {
        const { rows } = await client.query(`INSERT INTO bare_patients (full_name, age, sex) VALUES ($1, 40, 'F') RETURNING *`, [`Bench Patient ${n}`])
        return { entityType: "patient", id: rows[0].id, action: "created", before: null, after: rows[0] }
      })))
    log(`bare write transaction: updates from ${WRITE_CLIENTS} clients over ${ids.length} devices, ${seconds} s`)
    const updates = await measure(() => clients(seconds, (n) =>
      bareTransaction(pool, async (client) => {
        const id = ids[n % ids.length]!
        const before = await client.query(`SELECT * FROM bare_devices WHERE id = $1 FOR UPDATE`, [id])
        const { rows } = await client.query(`UPDATE bare_devices SET firmware = $2, updated_at = now() WHERE id = $1 RETURNING *`, [id, `v2.${n}`])
        return { entityType: "device", id, action: "updated", before: before.rows[0], after: rows[0] }
      })))
    await pool.query(`DROP TABLE IF EXISTS bare_patients, bare_devices, bare_audit, bare_outbox; DROP SEQUENCE IF EXISTS bare_audit_seq`)
    return { creates, updates }
  } finally {
    await pool.end()
  }
}
