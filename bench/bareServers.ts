/**
 * The baselines for `bench/registry.ts`, run as a child process of it:
 *
 *   node --import tsx bench/bareServers.ts http   answers every `GET /patients/<id>` with BENCH_FIXTURE
 *   node --import tsx bench/bareServers.ts grpc   answers every `GetPatient` with BENCH_FIXTURE (JSON),
 *                                                 its timestamp renewed per call as Vigil does
 *
 * and for `bench/ml-registry.ts`:
 *
 *   node --import tsx bench/bareServers.ts ml-registry   answers every `GET /api/v1/services/<id>` with
 *                                                        BENCH_FIXTURE, and every `POST .../<id>/heartbeat`
 *                                                        with the seed's acknowledgement (id and time filled in)
 *   node --import tsx bench/bareServers.ts ml-health     answers anything `{"status":"healthy"}`: the
 *                                                        health URLs the registry probes
 *
 * Listens on 127.0.0.1, on a port the OS picks, and prints `READY <port>` once listening. Exits on
 * SIGTERM/SIGINT, or when its stdin closes (the parent went away).
 */
import * as grpc from "@grpc/grpc-js"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { loadRegistry, type GetPatientResponse } from "./registryProto.ts"

const HOST = "127.0.0.1"

const fixture = (): string => {
  const value = process.env["BENCH_FIXTURE"]
  if (value === undefined || value === "") throw new Error("BENCH_FIXTURE is not set")
  return value
}

const ready = (port: number) => process.stdout.write(`READY ${port}\n`)

const serveHttp = (body: string) => {
  const bytes = Buffer.from(body, "utf8")
  const headers = { "content-type": "application/json", "content-length": String(bytes.length) }
  const server = createServer((request, response) => {
    if (request.method === "GET" && request.url?.startsWith("/patients/") === true) {
      response.writeHead(200, headers)
      response.end(bytes)
    } else {
      response.writeHead(404, { "content-length": "0" })
      response.end()
    }
  })
  server.listen(0, HOST, () => ready((server.address() as AddressInfo).port))
  return () => server.close()
}

const HEARTBEAT = /^\/api\/v1\/services\/([^/]+)\/heartbeat$/

const serveMlRegistry = (body: string) => {
  const bytes = Buffer.from(body, "utf8")
  const headers = { "content-type": "application/json", "content-length": String(bytes.length) }
  const server = createServer((request, response) => {
    const url = request.url ?? ""
    const beat = request.method === "POST" ? HEARTBEAT.exec(url) : null
    if (beat !== null) {
      const ack = Buffer.from(JSON.stringify({ status: "acknowledged", service_id: decodeURIComponent(beat[1]!), timestamp: new Date().toISOString() }), "utf8")
      response.writeHead(200, { "content-type": "application/json", "content-length": String(ack.length) })
      response.end(ack)
    } else if (request.method === "GET" && url.startsWith("/api/v1/services/")) {
      response.writeHead(200, headers)
      response.end(bytes)
    } else {
      response.writeHead(404, { "content-length": "0" })
      response.end()
    }
  })
  server.listen(0, HOST, () => ready((server.address() as AddressInfo).port))
  return () => server.close()
}

const serveMlHealth = () => {
  const bytes = Buffer.from(JSON.stringify({ status: "healthy" }), "utf8")
  const headers = { "content-type": "application/json", "content-length": String(bytes.length) }
  const server = createServer((_request, response) => {
    response.writeHead(200, headers)
    response.end(bytes)
  })
  server.listen(0, HOST, () => ready((server.address() as AddressInfo).port))
  return () => server.close()
}

const serveGrpc = (body: string) => {
  const response = JSON.parse(body) as GetPatientResponse
  const Registry = loadRegistry()
  const server = new grpc.Server()
  server.addService(Registry.service, {
    GetPatient: (_call: grpc.ServerUnaryCall<unknown, GetPatientResponse>, callback: grpc.sendUnaryData<GetPatientResponse>) =>
      callback(null, { ...response, timestamp: new Date().toISOString() })
  })
  server.bindAsync(`${HOST}:0`, grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error !== null) {
      console.error(`bare gRPC server: bind failed: ${error.message}`)
      process.exit(1)
    }
    ready(port)
  })
  return () => server.forceShutdown()
}

const role = process.argv[2]
const close = role === "http"
  ? serveHttp(fixture())
  : role === "grpc"
  ? serveGrpc(fixture())
  : role === "ml-registry"
  ? serveMlRegistry(fixture())
  : role === "ml-health"
  ? serveMlHealth()
  : undefined
if (close === undefined) {
  console.error("usage: bareServers.ts http|grpc|ml-registry (with BENCH_FIXTURE set) or ml-health")
  process.exit(2)
}
const exit = () => {
  close()
  process.exit(0)
}
process.on("SIGTERM", exit)
process.on("SIGINT", exit)
process.stdin.on("end", exit)
process.stdin.on("error", exit)
process.stdin.resume()
