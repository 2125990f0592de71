/** The registry's repositories (and its audit trail) over one database: everything the REST and gRPC doors need. */
import { Layer } from "effect"
import { AuditRepo } from "./persistence/AuditRepo.ts"
import { DeviceRepo } from "./persistence/DeviceRepo.ts"
import { PatientRepo } from "./persistence/PatientRepo.ts"
import { ThresholdProfileRepo } from "./persistence/ThresholdProfileRepo.ts"

export const layer = Layer.mergeAll(PatientRepo.Default, DeviceRepo.Default, ThresholdProfileRepo.Default, AuditRepo.Default)
