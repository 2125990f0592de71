/**
 * Seed 001's registry on its own port (ML_REGISTRY_PORT, 9000 as the seed's): `MlRegistryApi`,
 * with its own OpenAPI document, Swagger UI at `/docs` and ReDoc at `/redoc`, so that clients and
 * the seed's SDK pointed at that port work unchanged.
 */
import { Config, Context, Effect, Layer } from "effect"
import { listenPort } from "../domain/ConfigValues.ts"
import * as Docs from "./Docs.ts"
import { HttpConfig } from "./HttpServer.ts"
import { MlRegistryApi } from "./MlRegistryApi.ts"
import * as MlRegistryHttp from "./MlRegistryHttp.ts"
import * as ApiServer from "./server/ApiServer.ts"
import { AccessControl } from "../services/AccessControl.ts"
import { mlRegistryPolicies } from "./Policies.ts"

export const MlRegistryServerConfig = Config.all({
  port: listenPort("ML_REGISTRY_PORT", 9000)
})

export class MlRegistryServer extends Context.Tag("vigil/MlRegistryServer")<MlRegistryServer, { readonly port: number }>() {}

export const layer = Layer.scoped(
  MlRegistryServer,
  Effect.gen(function*() {
    const { port } = yield* MlRegistryServerConfig
    const http = yield* HttpConfig
    const handlers = yield* MlRegistryHttp.make
    const control = yield* AccessControl
    const server = yield* ApiServer.serve<typeof MlRegistryApi, never, never>(MlRegistryApi, handlers, {
      policies: mlRegistryPolicies,
      access: control.required ? control : undefined,
      port,
      host: http.host,
      bodyLimit: http.bodyLimit,
      rawRoutes: Docs.routes(MlRegistryApi, "Medical ML Service Registry")
    })
    return { port: server.port }
  })
)
