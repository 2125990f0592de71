/** Handlers of seed 001's registry groups (`MlRegistryApi.ts`), with the seed's answers and messages. */
import { Effect, Option } from "effect"
import { parseTags, type ServiceId } from "../domain/MlService.ts"
import { MlRegistry, type ServiceView } from "../services/MlRegistry.ts"
import type { Handlers } from "./Api.ts"
import { NotFound } from "./Errors.ts"
import type { MlRegistryRootGroup, MlServicesGroup } from "./MlRegistryApi.ts"

const serviceResponse = (view: ServiceView) => ({ ...view.metadata, status: view.status })

const notFound = (id: ServiceId) => new NotFound({ detail: `Service '${id}' not found` })

export const make = Effect.gen(function*() {
  const registry = yield* MlRegistry

  const mlServices = {
    register: ({ payload }) =>
      Effect.map(registry.register(payload), (service) => ({
        status: "registered" as const,
        service_id: service.service_id,
        message: `Service '${service.service_name}' registered successfully`
      })),
    list: () => Effect.map(registry.list(), (views) => views.map(serviceResponse)),
    search: ({ urlParams }) =>
      Effect.map(
        registry.search({ tags: parseTags(urlParams.tags), match: urlParams.match, status: urlParams.status, text: urlParams.q }),
        (views) => views.map(serviceResponse)
      ),
    get: ({ path }) =>
      Effect.flatMap(registry.get(path.service_id), Option.match({
        onNone: () => Effect.fail(notFound(path.service_id)),
        onSome: (view) => Effect.succeed(serviceResponse(view))
      })),
    unregister: ({ path }) =>
      registry.unregister(path.service_id).pipe(
        Effect.as({ status: "unregistered" as const, service_id: path.service_id, message: `Service '${path.service_id}' unregistered successfully` }),
        Effect.catchTag("ServiceNotFound", () => Effect.fail(notFound(path.service_id)))
      ),
    heartbeat: ({ path }) =>
      registry.heartbeat(path.service_id).pipe(
        Effect.map((timestamp) => ({ status: "acknowledged" as const, service_id: path.service_id, timestamp })),
        Effect.catchTag("ServiceNotFound", () => Effect.fail(notFound(path.service_id)))
      ),
    healthAll: ({ urlParams }) =>
      Effect.map(registry.health(urlParams.refresh === "true"), (views) =>
        Object.fromEntries(views.map(({ lastHeartbeat, lease, row }) => [row.service_id, {
          service_name: row.service_name,
          // Not probed yet (it was registered after the probes began): not known healthy.
          status: row.probe_status ?? "unhealthy",
          base_url: row.base_url,
          last_heartbeat: lastHeartbeat,
          detail: row.probe_detail,
          probed_at: row.probed_at,
          lease
        }])))
  } satisfies Handlers<typeof MlServicesGroup>

  const mlRegistryRoot = {
    root: () =>
      Effect.succeed({
        name: "Medical ML Service Registry",
        version: "1.0.0",
        description: "Central registry for medical ML prediction services",
        services_endpoint: "/api/v1/services",
        health_endpoint: "/health",
        docs: "/docs"
      }),
    health: () =>
      Effect.map(registry.counts(), ({ healthy, registered }) => ({
        status: "healthy" as const,
        service: "Medical ML Service Registry",
        registered_services: registered,
        healthy_services: healthy,
        version: "1.0.0"
      }))
  } satisfies Handlers<typeof MlRegistryRootGroup>

  return { mlServices, mlRegistryRoot }
})
