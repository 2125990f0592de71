/** ML services for the registry's tests: their metadata, and a stand-in for their health URLs. */
import { Effect, Scope } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { MlRegistryServer } from "../../src/http/MlRegistryServer.ts"

export const registryUrl = Effect.map(MlRegistryServer, ({ port }) => `http://127.0.0.1:${port}`)

/** The seed's three models, as its SDK registers them, at `baseUrl`. */
export const seedServices = (baseUrl: string) => [
  metadata("cardiovascular_disease", "Cardiovascular Disease Risk Predictor", baseUrl, ["cardiovascular", "classification", "risk"]),
  metadata("breast_cancer", "Breast Cancer Classifier", baseUrl, ["cancer", "oncology", "classification"]),
  metadata("alzheimers", "Alzheimer's Disease Predictor", baseUrl, ["neurology", "classification"])
]

export const metadata = (serviceId: string, name: string, baseUrl: string, tags: ReadonlyArray<string>, healthPath = `/${serviceId}/health`) => ({
  service_id: serviceId,
  service_name: name,
  version: "1.0.0",
  description: `${name} (test)`,
  base_url: baseUrl,
  port: Number(new URL(baseUrl).port),
  endpoints: { predict: "/api/v1/predict", health: healthPath, model_info: "/api/v1/model/info" },
  input_schema: { type: "object", properties: { age: { type: "integer" } } },
  output_schema: { type: "object", properties: { risk: { type: "number" } } },
  tags,
  capabilities: { batch: false }
})

export interface HealthServer {
  readonly baseUrl: string
  /** Requests received, by path. */
  readonly hits: Map<string, number>
}

/**
 * A server answering health URLs: `/<id>/health` is `{"status": "healthy"}`, a path under
 * `/down/` answers 503, and one under `/hang/` never answers. Closed with the scope.
 */
export const healthServer: Effect.Effect<HealthServer, never, Scope.Scope> = Effect.acquireRelease(
  Effect.async<{ server: ReturnType<typeof createServer>; baseUrl: string; hits: Map<string, number> }>((resume) => {
    const hits = new Map<string, number>()
    const server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const path = request.url ?? "/"
      hits.set(path, (hits.get(path) ?? 0) + 1)
      if (path.startsWith("/hang/")) return
      if (path.startsWith("/down/")) {
        response.writeHead(503, { "content-type": "application/json" })
        return response.end(JSON.stringify({ status: "unhealthy" }))
      }
      response.writeHead(200, { "content-type": "application/json" })
      response.end(JSON.stringify({ status: "healthy", model: path }))
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits })))
  }),
  ({ server }) => Effect.async<void>((resume) => {
    server.closeAllConnections()
    server.close(() => resume(Effect.void))
  })
).pipe(Effect.map(({ baseUrl, hits }) => ({ baseUrl, hits })))

/** The base URL of a port on 127.0.0.1 where nothing listens: bound once, then closed. */
export const refusedBaseUrl: Effect.Effect<string> = Effect.async<string>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo
    server.close(() => resume(Effect.succeed(`http://127.0.0.1:${port}`)))
  })
})
