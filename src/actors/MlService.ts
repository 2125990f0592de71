/**
 * The MlService entity's contract: one actor per registered ML service (entity id = service id)
 * on the in-memory runtime, owning the service's heartbeat lease: it takes the service's
 * registrations, heartbeats and deregistration one at a time, and writes a beat to the table at
 * most once per lease fraction (`LeaseBoard.ts`). Volatile messages: a registration's durability
 * is its commit, before the answer; a heartbeat not written is a heartbeat the lease may lose
 * with the process, and the sweep then sees the beat written before it.
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import * as Rpc from "@effect/rpc/Rpc"
import { Schema } from "effect"
import { DataRefused, Unavailable } from "../domain/Errors.ts"
import { RegisteredService, ServiceRegistration } from "../domain/MlService.ts"

export class ServiceNotFound extends Schema.TaggedError<ServiceNotFound>()("ServiceNotFound", { serviceId: Schema.String }) {}

export const MlService = Entity.make("MlService", [
  /** `by`: who asks (the audit's actor), as the door identified them. */
  Rpc.make("Register", { payload: { registration: ServiceRegistration, by: Schema.String }, success: RegisteredService, error: Schema.Union(Unavailable, DataRefused) }),
  /** Answers the beat's time, as the metadata's `last_heartbeat` now says. */
  Rpc.make("Heartbeat", { success: Schema.String, error: Schema.Union(ServiceNotFound, Unavailable) }),
  Rpc.make("Deregister", { payload: { by: Schema.String }, success: RegisteredService, error: Schema.Union(ServiceNotFound, Unavailable) })
]).annotate(ClusterSchema.ClientTracingEnabled, false)
