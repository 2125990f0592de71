/** A monitoring device, identified by its unique serial and optionally linked to one patient. */
import { Schema } from "effect"
import { PatientId } from "./Patient.ts"
import { NonEmptyBoundedString, Uuid } from "./Validation.ts"

export const DeviceId = Uuid.pipe(Schema.brand("DeviceId"))
export type DeviceId = typeof DeviceId.Type

export const Serial = NonEmptyBoundedString(100)
export const Firmware = NonEmptyBoundedString(50)

export class Device extends Schema.Class<Device>("Device")({
  id: DeviceId,
  serial: Schema.String,
  firmware: Schema.String,
  patient_id: Schema.NullOr(PatientId),
  created_at: Schema.DateFromSelf,
  updated_at: Schema.DateFromSelf
}) {}

export class DeviceCreate extends Schema.Class<DeviceCreate>("DeviceCreate")({
  serial: Serial,
  firmware: Firmware,
  patient_id: Schema.optionalWith(Schema.NullOr(PatientId), { default: () => null })
}) {}

/**
 * Only the fields sent are applied. `patient_id: null` unlinks the device; `firmware` may be
 * left out but not nulled (a device always has firmware).
 */
export class DeviceUpdate extends Schema.Class<DeviceUpdate>("DeviceUpdate")({
  patient_id: Schema.optional(Schema.NullOr(PatientId)),
  firmware: Schema.optional(Firmware)
}) {}

export class DeviceLink extends Schema.Class<DeviceLink>("DeviceLink")({
  device_id: DeviceId,
  patient_id: PatientId
}) {}
