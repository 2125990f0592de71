/**
 * The whole service on a database of its own, listening on free ports of 127.0.0.1, for tests
 * that talk to it as clients do: over HTTP and gRPC.
 */
import { ConfigProvider, Effect, Layer } from "effect"
import * as App from "../../src/App.ts"
import { RegistryGrpcServer } from "../../src/grpc/RegistryGrpc.ts"
import { HttpServer } from "../../src/http/HttpServer.ts"
import * as TestDatabase from "./test-database.ts"

export const config = (overrides: Record<string, string> = {}) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries({
    PORT: "0",
    HOST: "127.0.0.1",
    GRPC_PORT: "0",
    GRPC_HOST: "127.0.0.1",
    ML_REGISTRY_PORT: "0",
    SEED_DEMO_DATA: "false",
    // Most tests are about what a door does, not who may open it: the access tests turn it on.
    VIGIL_AUTH: "off",
    ...overrides
  }))))

export const layer = (overrides: Record<string, string> = {}) =>
  App.make(TestDatabase.layer).pipe(Layer.provide(config(overrides)))

export interface JsonResponse {
  readonly status: number
  readonly body: any
  readonly headers: Headers
}

export const baseUrl = Effect.map(HttpServer, ({ port }) => `http://127.0.0.1:${port}`)
export const grpcAddress = Effect.map(RegistryGrpcServer, ({ port }) => `127.0.0.1:${port}`)

/** One HTTP call to `url`; `body` is sent as JSON unless it is already a string. */
export const fetchJson = (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) =>
  Effect.promise(async (): Promise<JsonResponse> => {
    const response = await fetch(url, {
      method,
      headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) })
    })
    const text = await response.text()
    let parsed: unknown = text
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed, headers: response.headers }
  })

/** One HTTP call to Vigil's port; `body` is sent as JSON unless it is already a string. */
export const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  Effect.flatMap(baseUrl, (base) => fetchJson(method, `${base}${path}`, body, headers))
