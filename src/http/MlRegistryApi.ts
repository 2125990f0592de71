/**
 * Seed 001's ML service registry contract (`reference/seed-sources.md` 4.2): its `/api/v1/services`
 * routes and `/api/v1/health/all`, served on Vigil's port and on the registry's own
 * (ML_REGISTRY_PORT, 9000), where `GET /` and `GET /health` answer as the seed's registry does, so
 * that its clients and its Python SDK work unchanged. Answers carry the seed's fields, and Vigil's
 * `status` (the heartbeat lease: `passing`, `critical`) beside them.
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { LEASE_STATUSES, PROBE_STATUSES, ServiceId, ServiceRegistration, storedMetadataFields } from "../domain/MlService.ts"
import { BoundedText, Enum } from "../domain/Validation.ts"
import { DataRefusedResponse, NotFoundResponse, UnavailableResponse } from "./Errors.ts"
import { documentValidationErrors } from "./OpenApiDocument.ts"

export const ServiceMetadataResponse = Schema.Struct({
  ...storedMetadataFields,
  status: Schema.Literal(...LEASE_STATUSES)
}).annotations({ identifier: "ServiceMetadata" })

const ServicePath = Schema.Struct({ service_id: ServiceId })

const Outcome = <S extends string>(status: S) =>
  Schema.Struct({ status: Schema.Literal(status), service_id: Schema.String, message: Schema.String })

export const ServiceSearch = Schema.Struct({
  /** Comma-separated; a service matches with any of them (the seed's), or all (`match=all`). */
  tags: Schema.optional(BoundedText(4096)),
  match: Schema.optionalWith(Enum("any", "all"), { default: () => "any" as const }),
  status: Schema.optional(Enum(...LEASE_STATUSES)),
  /** Text in the name or the description, in any case. */
  q: Schema.optional(BoundedText(255))
})

export const ServiceHealth = Schema.Struct({
  service_name: Schema.String,
  status: Schema.Literal(...PROBE_STATUSES),
  base_url: Schema.String,
  last_heartbeat: Schema.NullOr(Schema.String),
  /** Vigil's: what the last probe found, when, and the lease. */
  detail: Schema.NullOr(Schema.String),
  probed_at: Schema.NullOr(Schema.Date),
  lease: Schema.Literal(...LEASE_STATUSES)
}).annotations({ identifier: "ServiceHealth" })

export class MlServicesGroup extends HttpApiGroup.make("mlServices")
  .add(
    HttpApiEndpoint.post("register", "/api/v1/services/register")
      .setPayload(ServiceRegistration)
      .addSuccess(Outcome("registered"), { status: 201 })
  )
  .add(HttpApiEndpoint.get("list", "/api/v1/services").addSuccess(Schema.Array(ServiceMetadataResponse)))
  .add(
    HttpApiEndpoint.get("search", "/api/v1/services/search/by-tags")
      .setUrlParams(ServiceSearch)
      .addSuccess(Schema.Array(ServiceMetadataResponse))
  )
  .add(HttpApiEndpoint.get("get", "/api/v1/services/:service_id").setPath(ServicePath).addSuccess(ServiceMetadataResponse).addError(NotFoundResponse))
  .add(HttpApiEndpoint.del("unregister", "/api/v1/services/:service_id").setPath(ServicePath).addSuccess(Outcome("unregistered")).addError(NotFoundResponse))
  .add(
    HttpApiEndpoint.post("heartbeat", "/api/v1/services/:service_id/heartbeat")
      .setPath(ServicePath)
      .addSuccess(Schema.Struct({ status: Schema.Literal("acknowledged"), service_id: Schema.String, timestamp: Schema.String }))
      .addError(NotFoundResponse)
  )
  .add(
    HttpApiEndpoint.get("healthAll", "/api/v1/health/all")
      .setUrlParams(Schema.Struct({ refresh: Schema.optionalWith(Enum("true", "false"), { default: () => "false" as const }) }))
      .addSuccess(Schema.Record({ key: Schema.String, value: ServiceHealth }))
  )
  .annotate(OpenApi.Description, "The registry of medical ML prediction services (seed 001): registration, heartbeat leases, tag search, probed health")
{}

/** The seed's registry root and health, on its own port. */
export class MlRegistryRootGroup extends HttpApiGroup.make("mlRegistryRoot")
  .add(
    HttpApiEndpoint.get("root", "/").addSuccess(Schema.Struct({
      name: Schema.String,
      version: Schema.String,
      description: Schema.String,
      services_endpoint: Schema.String,
      health_endpoint: Schema.String,
      docs: Schema.String
    }))
  )
  .add(
    HttpApiEndpoint.get("health", "/health").addSuccess(Schema.Struct({
      status: Schema.Literal("healthy"),
      service: Schema.String,
      registered_services: Schema.Number,
      healthy_services: Schema.Number,
      version: Schema.String
    }))
  )
{}

/** What ML_REGISTRY_PORT serves: the seed's registry, alone. */
export class MlRegistryApi extends HttpApi.make("mlRegistry")
  .add(MlRegistryRootGroup)
  .add(MlServicesGroup)
  .addError(UnavailableResponse)
  .addError(DataRefusedResponse)
  .annotateContext(OpenApi.annotations({
    title: "Medical ML Service Registry",
    version: "1.0.0",
    description: "Central registry for medical ML prediction services (Vigil's, seed 001's contract).",
    transform: documentValidationErrors
  }))
{}
