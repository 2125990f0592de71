/** Failures of the registry's rules, independent of how they reach a client. */
import { Schema } from "effect"

export class PatientNotFound extends Schema.TaggedError<PatientNotFound>()("PatientNotFound", {
  patientId: Schema.String
}) {}

export class DeviceNotFound extends Schema.TaggedError<DeviceNotFound>()("DeviceNotFound", {
  deviceId: Schema.String
}) {}

export class ThresholdProfileNotFound extends Schema.TaggedError<ThresholdProfileNotFound>()(
  "ThresholdProfileNotFound",
  { patientId: Schema.String }
) {}

export class DuplicateSerial extends Schema.TaggedError<DuplicateSerial>()("DuplicateSerial", {
  serial: Schema.String
}) {}

export class ThresholdProfileExists extends Schema.TaggedError<ThresholdProfileExists>()(
  "ThresholdProfileExists",
  { patientId: Schema.String }
) {}

/**
 * What Vigil depends on (the database, an actor) cannot answer now; nothing was done, or what
 * was done is safe (committed before it). The caller may retry: HTTP 503 with `Retry-After`, gRPC
 * `UNAVAILABLE`, a NATS message held or redelivered.
 */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
  reason: Schema.String
}) {}

/**
 * The database refused data that passed validation (SQLSTATE class 22, data exception, or 23,
 * integrity constraint violation) and no rule above it expected: the same data would be refused
 * again. `column` and `constraint` name what refused it, when PostgreSQL says.
 */
export class DataRefused extends Schema.TaggedError<DataRefused>()("DataRefused", {
  reason: Schema.String,
  sqlState: Schema.String,
  column: Schema.optional(Schema.String),
  constraint: Schema.optional(Schema.String)
}) {}
