/** The registry's repositories (and its audit trail and read cache) over one database: everything the REST and gRPC doors need. */
import { Layer } from "effect"
import { AuditRepo } from "./persistence/AuditRepo.ts"
import { DeviceRepo } from "./persistence/DeviceRepo.ts"
import { PatientRepo } from "./persistence/PatientRepo.ts"
import { RegistryCache } from "./persistence/RegistryCache.ts"
import { ThresholdProfileRepo } from "./persistence/ThresholdProfileRepo.ts"

// `RegistryCache.Default` is the repositories' own dependency: one layer value, so one cache.
export const layer = Layer.mergeAll(PatientRepo.Default, DeviceRepo.Default, ThresholdProfileRepo.Default, AuditRepo.Default, RegistryCache.Default)
