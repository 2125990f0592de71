/**
 * The ML service registry (seed 001): the MlService actors on the in-memory runtime (the same one
 * as the monitors': `Cluster.layer` is one value, so one runtime), the process's lease board, the
 * registry service the doors call; and, for the durable cluster, its lease sweep and prober.
 */
import { Layer } from "effect"
import * as Cluster from "./actors/Cluster.ts"
import * as MlRegistrySweeps from "./actors/MlRegistrySweeps.ts"
import * as MlServiceLive from "./actors/MlServiceLive.ts"
import { HealthProbes } from "./actors/HealthProbes.ts"
import { LeaseBoard } from "./actors/LeaseBoard.ts"
import { MlServiceRepo } from "./persistence/MlServiceRepo.ts"
import { MlRegistry } from "./services/MlRegistry.ts"

const shared = Layer.mergeAll(MlServiceRepo.Default, LeaseBoard.Default, HealthProbes.Default)

/** What the doors need: the registry service, with its actors. */
export const layer = Layer.merge(MlRegistry.Default, MlServiceLive.layer).pipe(
  Layer.provide(Cluster.layer),
  Layer.provide(shared)
)

/** The singletons, for the durable cluster to run. */
export const sweeps = MlRegistrySweeps.layer.pipe(Layer.provide(shared))
