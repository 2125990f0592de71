/**
 * Monitoring: the actors (PatientMonitor, Device) on the in-process cluster, their repositories,
 * the application services every path of vital signs goes through (storing, then evaluation),
 * and the alerting sweeps. Released in reverse: the services finish their work before the actors stop.
 */
import { Layer } from "effect"
import * as Cluster from "./actors/Cluster.ts"
import * as Device from "./actors/Device.ts"
import * as PatientMonitorLive from "./actors/PatientMonitorLive.ts"
import * as Sweeps from "./actors/Sweeps.ts"
import { EvaluationScheduler } from "./services/EvaluationScheduler.ts"
import { VitalsIngest } from "./services/VitalsIngest.ts"
import { AlertRepo } from "./persistence/AlertRepo.ts"
import { MonitorStateRepo } from "./persistence/MonitorStateRepo.ts"
import { FhirReads } from "./persistence/FhirReads.ts"
import { OpsFigures } from "./persistence/OpsFigures.ts"
import { WardRepo } from "./persistence/WardRepo.ts"
import { VitalsRepo } from "./persistence/VitalsRepo.ts"
import * as Registry from "./Registry.ts"

const repositories = Layer.mergeAll(Registry.layer, VitalsRepo.Default, AlertRepo.Default, MonitorStateRepo.Default, FhirReads.Default, OpsFigures.Default, WardRepo.Default)

export const layer = Layer.mergeAll(VitalsIngest.Default, EvaluationScheduler.Default, Sweeps.layer).pipe(
  Layer.provideMerge(Layer.mergeAll(PatientMonitorLive.layer, Device.layer)),
  Layer.provideMerge(Cluster.layer),
  Layer.provideMerge(repositories)
)
