/**
 * Seed 001's medical ML prediction services: the metadata its SDK registers
 * (`reference/seed-sources.md` 4.1), the heartbeat lease Vigil keeps for each (passing while its
 * last beat is younger than the timeout, critical after), and the seed's rule for a healthy
 * answer of a service's health URL. Pure rules here; the registry's state is the actor's and the
 * table's.
 */
import { Schema } from "effect"
import { BoundedText, ErrorType, Int, NonEmptyBoundedString, Text } from "./Validation.ts"

export const ServiceId = NonEmptyBoundedString(255).pipe(Schema.brand("ServiceId"))
export type ServiceId = typeof ServiceId.Type

const Dict = <V extends Schema.Schema.Any>(value: V) =>
  Schema.Record({ key: Schema.String, value }).annotations({ [ErrorType]: "dict_type", message: () => "Input should be a valid dictionary" })

const Tags = Schema.Array(BoundedText(255)).annotations({ [ErrorType]: "list_type", message: () => "Input should be a valid list" })

/** The seed's `ServiceMetadata`, as `POST /api/v1/services/register` takes it; unknown fields are ignored. */
export class ServiceRegistration extends Schema.Class<ServiceRegistration>("ServiceMetadata")({
  service_id: ServiceId,
  service_name: Text,
  version: Text,
  description: Schema.optionalWith(Text, { default: () => "" }),
  base_url: Text,
  port: Int,
  endpoints: Dict(Text),
  input_schema: Dict(Schema.Unknown),
  output_schema: Dict(Schema.Unknown),
  tags: Schema.optionalWith(Tags, { default: () => [] }),
  capabilities: Schema.optionalWith(Schema.NullOr(Dict(Schema.Unknown)), { default: () => null }),
  registered_at: Schema.optional(Text),
  last_heartbeat: Schema.optionalWith(Schema.NullOr(Text), { default: () => null })
}) {}

export const LEASE_STATUSES = ["passing", "critical"] as const
export type LeaseStatus = typeof LEASE_STATUSES[number]

export const PROBE_STATUSES = ["healthy", "unhealthy"] as const
export type ProbeStatus = typeof PROBE_STATUSES[number]

/** The seed's metadata of a service as the registry answers it (`metadataView`). */
export const storedMetadataFields = {
  service_id: ServiceId,
  service_name: Schema.String,
  version: Schema.String,
  description: Schema.String,
  base_url: Schema.String,
  port: Schema.Number,
  endpoints: Schema.Record({ key: Schema.String, value: Schema.String }),
  input_schema: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  output_schema: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  tags: Schema.Array(Schema.String),
  capabilities: Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  registered_at: Schema.String,
  last_heartbeat: Schema.NullOr(Schema.String)
}

/** A registered service, as the registry keeps it. */
export class RegisteredService extends Schema.Class<RegisteredService>("RegisteredService")({
  ...storedMetadataFields,
  // bigint: node-postgres answers it as text.
  position: Schema.NumberFromString,
  heartbeat_at: Schema.DateFromSelf,
  lease_status: Schema.Literal(...LEASE_STATUSES),
  critical_since: Schema.NullOr(Schema.DateFromSelf),
  probe_status: Schema.NullOr(Schema.Literal(...PROBE_STATUSES)),
  probe_detail: Schema.NullOr(Schema.String),
  probed_at: Schema.NullOr(Schema.DateFromSelf),
  created_at: Schema.DateFromSelf,
  updated_at: Schema.DateFromSelf
}) {}

/** What `/api/v1/health/all` needs of a service (and a probe: its health endpoint), no more. */
export const ServiceHealthRow = Schema.Struct({
  service_id: ServiceId,
  service_name: Schema.String,
  base_url: Schema.String,
  endpoints: Schema.Record({ key: Schema.String, value: Schema.String }),
  last_heartbeat: Schema.NullOr(Schema.String),
  heartbeat_at: Schema.DateFromSelf,
  probe_status: Schema.NullOr(Schema.Literal(...PROBE_STATUSES)),
  probe_detail: Schema.NullOr(Schema.String),
  probed_at: Schema.NullOr(Schema.DateFromSelf)
})
export type ServiceHealthRow = typeof ServiceHealthRow.Type

/** The seed's metadata of a service, as its answers show it (and Vigil's lease status beside it). */
export const metadataView = (service: RegisteredService, lastHeartbeat: string | null = service.last_heartbeat) => ({
  service_id: service.service_id,
  service_name: service.service_name,
  version: service.version,
  description: service.description,
  base_url: service.base_url,
  port: service.port,
  endpoints: service.endpoints,
  input_schema: service.input_schema,
  output_schema: service.output_schema,
  tags: service.tags,
  capabilities: service.capabilities,
  registered_at: service.registered_at,
  last_heartbeat: lastHeartbeat
})

/** Passing while the last beat is younger than the timeout (strictly, as the seed counts), then critical. */
export const leaseStatus = (lastBeat: Date, now: number, timeoutMillis: number): LeaseStatus =>
  lastBeat.getTime() > now - timeoutMillis ? "passing" : "critical"

/** The seed's healthy answer of a health URL: HTTP 200 whose JSON `status` is `healthy` or `ok`, in any case. */
export const isHealthyAnswer = (httpStatus: number, body: unknown): boolean => {
  if (httpStatus !== 200 || typeof body !== "object" || body === null) return false
  const status = (body as { readonly status?: unknown }).status
  return typeof status === "string" && ["healthy", "ok"].includes(status.toLowerCase())
}

/** The health URL the seed probes: `base_url` joined with `endpoints.health` (`/health` when absent). */
export const healthUrl = (service: Pick<RegisteredService, "base_url" | "endpoints">): string =>
  `${service.base_url.replace(/\/+$/, "")}${service.endpoints["health"] ?? "/health"}`

/** The seed's tag list: comma-separated, trimmed, empty entries dropped. */
export const parseTags = (text: string | undefined): ReadonlyArray<string> =>
  (text ?? "").split(",").map((tag) => tag.trim()).filter((tag) => tag.length > 0)
