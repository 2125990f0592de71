/**
 * Who is calling and what they may do: the caller a verified token names (a user of seed 004 v2's
 * roles, or a machine: a device or an ML service), the principals policies grant to, and v2's
 * 403 messages. Policies themselves sit beside the contracts they guard (`http/Policies.ts`,
 * `grpc/RegistryGrpc.ts`).
 */
import { Context, Schema } from "effect"
import type { Role, User } from "./User.ts"

export type Caller =
  | { readonly kind: "user"; readonly principal: Role; readonly user: User; readonly actor: string }
  | { readonly kind: "device"; readonly principal: "device"; readonly deviceId: string; readonly actor: string }
  | { readonly kind: "service"; readonly principal: "service"; readonly serviceId: string; readonly actor: string }
  /** Authentication is off (`VIGIL_AUTH=off`): nobody is identified and every door is open. */
  | { readonly kind: "open"; readonly principal: "open"; readonly actor: "anonymous" }
  /** Vigil itself, off any door: an actor evaluating readings, a sweep, a workflow. Opens no door. */
  | { readonly kind: "system"; readonly principal: "system"; readonly actor: "system" }

/** What a policy grants to: a user's role or a machine's kind. */
export type Principal = Role | "device" | "service"
export const PRINCIPALS: ReadonlyArray<Principal> = ["superadmin", "admin", "doctor", "patient", "device", "service"]

export const OPEN: Caller = { kind: "open", principal: "open", actor: "anonymous" }
export const SYSTEM: Caller = { kind: "system", principal: "system", actor: "system" }

export const userCaller = (user: User): Caller => ({ kind: "user", principal: user.role, user, actor: `user:${user.id}` })
export const deviceCaller = (deviceId: string): Caller => ({ kind: "device", principal: "device", deviceId, actor: `device:${deviceId}` })
export const serviceCaller = (serviceId: string): Caller => ({ kind: "service", principal: "service", serviceId, actor: `service:${serviceId}` })

/** The caller of the request being handled; `SYSTEM` where no door put one (background work). */
export class CurrentCaller extends Context.Reference<CurrentCaller>()("vigil/CurrentCaller", {
  defaultValue: (): Caller => SYSTEM
}) {}

/** Whose data a read returned: a registry patient, or a user of seed 004 (its patients are users). */
export interface Accessed {
  readonly entityType: "patient" | "user"
  readonly entityId: string
}

/** v2's 403 messages. */
export const NOT_ENOUGH_PERMISSIONS = "Not enough permissions"
export const SUPERADMIN_REQUIRED = "Superadmin privileges required"

/** The caller is known but may not do this. */
export class AccessDenied extends Schema.TaggedError<AccessDenied>()("AccessDenied", {
  detail: Schema.String
}) {}

/** A machine identity an admin issues a token for (`POST /api/v1/auth/machine-tokens`). */
export const MachineKind = Schema.Literal("device", "service")
export type MachineKind = typeof MachineKind.Type
