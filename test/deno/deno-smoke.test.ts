/**
 * Vigil under Deno (`npm run start:deno`: `deno run -A src/main.ts`, the `deno` npm package's
 * binary) in connected mode, on PostgreSQL and NATS: the registry answers over REST and gRPC, and
 * a breaching reading published on NATS is stored and raises an alert.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"
import { jetstream } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { randomUUID } from "node:crypto"
import { fileURLToPath } from "node:url"
import { until } from "../support/eventually.ts"
import { deleteStreams, freePort, requireNats, resolveNats, unique } from "../support/nats-server.ts"
import { createDatabase, databaseUrl, dropDatabase } from "../support/test-database.ts"
import { type VigilProcess, vigilProcess } from "../support/vigil-process.ts"

const nats = await resolveNats()
const runNats = requireNats(nats, "Vigil under Deno")
const natsUrl = nats.available ? nats.url : ""
const REGISTRY_PROTO = fileURLToPath(new URL("../../proto/registry.proto", import.meta.url))

describe.skipIf(!runNats)("Vigil under Deno", () => {
  let database = ""
  const subjectPrefix = unique("deno").toLowerCase()
  const streamPrefix = unique("DENO").toUpperCase()
  let nc: NatsConnection
  let port = 0
  let grpcPort = 0
  let vigil: VigilProcess

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    return { status: response.status, body: await response.json() as any }
  }

  beforeAll(async () => {
    database = await createDatabase()
    nc = await connect({ servers: natsUrl })
    port = await freePort()
    grpcPort = await freePort()
    vigil = vigilProcess(port, {
      DATABASE_URL: databaseUrl(database),
      NATS_URL: natsUrl,
      NATS_SUBJECT_PREFIX: subjectPrefix,
      NATS_STREAM_PREFIX: streamPrefix,
      GRPC_PORT: String(grpcPort)
    }, "deno")
    await vigil.start()
  }, 120_000)

  afterAll(async () => {
    await vigil?.kill("SIGTERM")
    await nc?.close()
    await deleteStreams(natsUrl, streamPrefix)
    await dropDatabase(database)
  }, 60_000)

  it("serves the registry over REST and gRPC and raises an alert from a reading published on NATS", async () => {
    const patient = await call("POST", "/patients", { full_name: "Deno Patient", age: 61, sex: "F" })
    expect(patient.status).toBe(201)
    const device = await call("POST", "/devices", { serial: unique("DENO"), firmware: "v1", patient_id: patient.body.id })
    expect(device.status).toBe(201)
    expect((await call("GET", `/patients/${patient.body.id}`)).body.full_name).toBe("Deno Patient")

    const definition = grpc.loadPackageDefinition(protoLoader.loadSync(REGISTRY_PROTO, { keepCase: true, enums: String, defaults: true, longs: String })) as any
    const client = new definition.registry.Registry(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure())
    const answer = await new Promise<any>((resolve, reject) =>
      client.GetDevice({ version: "1.0.0", device_id: device.body.id }, { deadline: Date.now() + 10_000 }, (error: unknown, response: unknown) =>
        error ? reject(error) : resolve(response)))
    client.close()
    expect(answer.status).toBe("STATUS_SUCCESS")
    expect(answer.device.patient_id).toBe(patient.body.id)

    const ack = await jetstream(nc).publish(`${subjectPrefix}.ingest.vitals.${device.body.id}`,
      JSON.stringify({ reading_id: randomUUID(), measured_at: new Date().toISOString(), heart_rate: 150, spo2: 97 }), { timeout: 10_000 })
    expect(ack.duplicate).toBe(false)
    const alerts = await until("the reading's alert", 30_000, async () => {
      const listed = await call("GET", `/api/v1/alerts?patient_id=${patient.body.id}`)
      const items = listed.body.items ?? listed.body
      return Array.isArray(items) && items.length > 0 ? items : undefined
    })
    expect(alerts).toHaveLength(1)
    expect(alerts[0].vital_sign).toBe("heart_rate")
    expect(alerts[0].status).toBe("open")
  }, 60_000)
})
