/**
 * Vitest global setup: one PostgreSQL server and one NATS server for the whole run, shared by URL
 * with every test file, and stopped when the run ends.
 */
import type { TestProject } from "vitest/node"
import { startRunNats } from "./nats-server.ts"
import { startPostgresServer } from "./postgres-server.ts"

declare module "vitest" {
  export interface ProvidedContext {
    postgresAdminUrl: string
    postgresKind: string
    /** Empty when the run has no NATS (`natsUnavailableReason` says why). */
    natsUrl: string
    natsUnavailableReason: string
  }
}

export default async function setup(project: TestProject) {
  const server = await startPostgresServer()
  console.log(`[vigil tests] PostgreSQL: ${server.kind}`)
  project.provide("postgresAdminUrl", server.adminUrl)
  project.provide("postgresKind", server.kind)
  const nats = await startRunNats()
  console.log(`[vigil tests] NATS: ${nats.available ? (nats.own ? `nats-server started for this run (${nats.url})` : "NATS_URL") : nats.reason}`)
  project.provide("natsUrl", nats.available ? nats.url : "")
  project.provide("natsUnavailableReason", nats.available ? "" : nats.reason)
  return async () => {
    if (nats.available) await nats.own?.stop()
    await server.stop()
  }
}
