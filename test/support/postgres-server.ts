/**
 * Finds the PostgreSQL server a test run uses, in the order DEVELOPERS.md gives:
 * `DATABASE_URL` when set; otherwise a testcontainers PostgreSQL when a Docker engine answers;
 * otherwise an embedded PostgreSQL in a temporary directory. Test files then each create their
 * own database on it (see `test-database.ts`), so runs and files never share state.
 */
import { OwnPostgresServer } from "./own-postgres.ts"

export interface PostgresServer {
  /** A URL to a database on the server from which new databases can be created. */
  readonly adminUrl: string
  readonly kind: "env" | "testcontainers" | "embedded"
  readonly stop: () => Promise<void>
}

const tryTestcontainers = async (): Promise<PostgresServer | undefined> => {
  // Imported only here: testcontainers must not load when a URL is given (DESIGN.md section 11).
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import("testcontainers")
  try {
    await getContainerRuntimeClient()
  } catch {
    return undefined
  }
  const container = await new GenericContainer("postgres:16-alpine")
    .withEnvironment({ POSTGRES_PASSWORD: "postgres" })
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start()
  return {
    adminUrl: `postgres://postgres:postgres@${container.getHost()}:${container.getMappedPort(5432)}/postgres`,
    kind: "testcontainers",
    stop: async () => {
      await container.stop()
    }
  }
}

const startEmbedded = async (): Promise<PostgresServer> => {
  const server = await OwnPostgresServer.start()
  return { adminUrl: server.url("postgres"), kind: "embedded", stop: () => server.stop() }
}

export const startPostgresServer = async (): Promise<PostgresServer> => {
  const url = process.env.DATABASE_URL
  if (url !== undefined && url !== "") return { adminUrl: url, kind: "env", stop: async () => {} }
  return (await tryTestcontainers()) ?? (await startEmbedded())
}
