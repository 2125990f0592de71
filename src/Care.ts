/**
 * Care coordination (seed 004): its repositories, the Appointment actor and the appointment
 * workflows for the durable cluster (its own Sharding, on PostgreSQL), the appointment sweep and
 * the cluster's housekeeping, and the services the doors call. The durable cluster is provided to
 * this by the composition (`App.ts`), once, and not passed on: the doors see only the services.
 */
import { Layer } from "effect"
import * as AppointmentLive from "./actors/AppointmentLive.ts"
import * as AppointmentWorkflows from "./actors/AppointmentWorkflows.ts"
import * as CareSweeps from "./actors/CareSweeps.ts"
import { AppointmentLifecycle } from "./persistence/AppointmentLifecycle.ts"
import { AppointmentRepo } from "./persistence/AppointmentRepo.ts"
import { ClusterHousekeeping } from "./persistence/ClusterHousekeeping.ts"
import { LabResultRepo } from "./persistence/LabResultRepo.ts"
import { SchedulingRepo } from "./persistence/SchedulingRepo.ts"
import { UserRepo } from "./persistence/UserRepo.ts"
import { Accounts, superadmin } from "./services/Accounts.ts"
import { AppointmentBooking } from "./services/AppointmentBooking.ts"
import { AccessControl } from "./services/AccessControl.ts"
import { Authentication } from "./services/Authentication.ts"

const repositories = Layer.mergeAll(
  UserRepo.Default,
  SchedulingRepo.Default,
  AppointmentRepo.Default,
  AppointmentLifecycle.Default,
  LabResultRepo.Default,
  ClusterHousekeeping.Default
)

const actors = Layer.mergeAll(AppointmentLive.layer, AppointmentWorkflows.layer, CareSweeps.layer)

export const layer = Layer.mergeAll(
  Accounts.Default,
  AppointmentBooking.Default,
  Authentication.Default,
  AccessControl.Default.pipe(Layer.provide(Authentication.Default)),
  // The configured superadmin exists before the doors open.
  superadmin.pipe(Layer.provide(Accounts.Default)),
  actors
).pipe(Layer.provideMerge(repositories))
