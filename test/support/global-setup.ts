/** Vitest global setup: one PostgreSQL server for the whole run, shared by URL with every test file. */
import type { TestProject } from "vitest/node"
import { startPostgresServer } from "./postgres-server.ts"

declare module "vitest" {
  export interface ProvidedContext {
    postgresAdminUrl: string
    postgresKind: string
  }
}

export default async function setup(project: TestProject) {
  const server = await startPostgresServer()
  console.log(`[vigil tests] PostgreSQL: ${server.kind}`)
  project.provide("postgresAdminUrl", server.adminUrl)
  project.provide("postgresKind", server.kind)
  return async () => {
    await server.stop()
  }
}
