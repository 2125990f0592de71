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
