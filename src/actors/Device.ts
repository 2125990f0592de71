/**
 * The Device entity: one actor per device (entity id = device id). It routes the device's
 * readings to its patient (the link as the registry holds it now) and keeps when the device was
 * last seen. The durable last-seen time is written with the readings themselves; the offline
 * sweep reads it from there.
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import * as Rpc from "@effect/rpc/Rpc"
import { Effect, Option, Schema } from "effect"
import { DeviceId } from "../domain/Device.ts"
import { DeviceRepo } from "../persistence/DeviceRepo.ts"

export class DeviceUnknown extends Schema.TaggedError<DeviceUnknown>()("DeviceUnknown", { deviceId: Schema.String }) {}

export const Route = Schema.Struct({
  patient_id: Schema.NullOr(Schema.String),
  last_seen: Schema.NullOr(Schema.DateFromSelf)
})

export const Device = Entity.make("Device", [
  /** A batch of readings taken at or before `at` arrived: where do they go? */
  Rpc.make("Reading", { payload: { at: Schema.DateFromSelf }, success: Route, error: DeviceUnknown }),
  Rpc.make("Status", { success: Route, error: DeviceUnknown })
]).annotate(ClusterSchema.ClientTracingEnabled, false)

export const layer = Device.toLayer(
  Effect.gen(function*() {
    const address = yield* Entity.CurrentAddress
    const deviceId = DeviceId.make(address.entityId)
    const devices = yield* DeviceRepo
    let lastSeen: Date | null = null

    const route = Effect.flatMap(devices.findById(deviceId), Option.match({
      onNone: () => Effect.fail(new DeviceUnknown({ deviceId })),
      onSome: (device) => Effect.succeed({ patient_id: device.patient_id, last_seen: lastSeen })
    }))

    return Device.of({
      Reading: ({ payload }) =>
        Effect.tap(route, () =>
          Effect.sync(() => {
            if (lastSeen === null || payload.at > lastSeen) lastSeen = payload.at
          })),
      Status: () => route
    })
  }),
  { disableFatalDefects: true }
)
