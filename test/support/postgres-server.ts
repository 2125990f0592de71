/**
 * Finds the PostgreSQL server a test run uses, in the order DEVELOPERS.md gives:
 * `DATABASE_URL` when set; otherwise a testcontainers PostgreSQL when a Docker engine answers;
 * otherwise an embedded PostgreSQL in a temporary directory. Test files then each create their
 * own database on it (see `test-database.ts`), so runs and files never share state.
 */
import { loadServerClass } from "../../src/persistence/EmbeddedPostgres.ts"
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { reapWhenGone } from "./reaper.ts"

export interface PostgresServer {
  /** A URL to a database on the server from which new databases can be created. */
  readonly adminUrl: string
  readonly kind: "env" | "testcontainers" | "embedded"
  readonly stop: () => Promise<void>
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

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
  const root = mkdtempSync(join(tmpdir(), "vigil-test-pg-"))
  // As root, PostgreSQL runs as the OS user `postgres`, who must reach the data directory.
  chmodSync(root, 0o755)
  const port = await freePort()
  const EmbeddedPostgresServer = await loadServerClass()
  const server = new EmbeddedPostgresServer({
    databaseDir: join(root, "data"),
    port,
    user: "postgres",
    password: "postgres",
    authMethod: "password",
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: () => {}
  })
  try {
    await server.initialise()
    await server.start()
  } catch (error) {
    rmSync(root, { recursive: true, force: true })
    throw error
  }
  // The postmaster's pid is the first line of its pid file.
  const pid = Number(readFileSync(join(root, "data", "postmaster.pid"), "utf8").split("\n")[0])
  const reaper = reapWhenGone({ pid, signal: "INT", dirs: [root] })
  return {
    adminUrl: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    kind: "embedded",
    stop: async () => {
      reaper.cancel()
      await server.stop()
      rmSync(root, { recursive: true, force: true })
    }
  }
}

export const startPostgresServer = async (): Promise<PostgresServer> => {
  const url = process.env.DATABASE_URL
  if (url !== undefined && url !== "") return { adminUrl: url, kind: "env", stop: async () => {} }
  return (await tryTestcontainers()) ?? (await startEmbedded())
}
