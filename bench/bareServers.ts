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
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { loadRegistry, type GetPatientResponse } from "./registryProto.ts"

const HOST = "127.0.0.1"

const fixture = (): string => {
  const value = process.env["BENCH_FIXTURE"]
  if (value === undefined || value === "") throw new Error("BENCH_FIXTURE is not set")
  return value
}

const ready = (port: number) => process.stdout.write(`READY ${port}\n`)

/** A JSON answer, its bytes and headers made once. */
const jsonAnswer = (body: string) => {
  const bytes = Buffer.from(body, "utf8")
  return { bytes, headers: { "content-type": "application/json", "content-length": String(bytes.length) } }
}

const send = (response: ServerResponse, answer: ReturnType<typeof jsonAnswer>) => {
  response.writeHead(200, answer.headers)
  response.end(answer.bytes)
}

const notFound = (response: ServerResponse) => {
  response.writeHead(404, { "content-length": "0" })
  response.end()
}

/** Listens on a port the OS picks and says which; answers the close. */
const listen = (handler: (request: IncomingMessage, response: ServerResponse) => void) => {
  const server = createServer(handler)
  server.listen(0, HOST, () => ready((server.address() as AddressInfo).port))
  return () => server.close()
}

const serveHttp = (body: string) => {
  const answer = jsonAnswer(body)
  return listen((request, response) =>
    request.method === "GET" && request.url?.startsWith("/patients/") === true ? send(response, answer) : notFound(response))
}

const HEARTBEAT = /^\/api\/v1\/services\/([^/]+)\/heartbeat$/

const serveMlRegistry = (body: string) => {
  const answer = jsonAnswer(body)
  return listen((request, response) => {
    const url = request.url ?? ""
    const beat = request.method === "POST" ? HEARTBEAT.exec(url) : null
    if (beat !== null) {
      send(response, jsonAnswer(JSON.stringify({ status: "acknowledged", service_id: decodeURIComponent(beat[1]!), timestamp: new Date().toISOString() })))
    } else if (request.method === "GET" && url.startsWith("/api/v1/services/")) {
      send(response, answer)
    } else {
      notFound(response)
    }
  })
}

const serveMlHealth = () => {
  const answer = jsonAnswer(JSON.stringify({ status: "healthy" }))
  return listen((_request, response) => send(response, answer))
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
