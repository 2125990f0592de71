/**
 * The Device entity: one actor per device (entity id = device id). It routes the device's
 * readings to its patient (the link as the registry holds it now). When the device was last
 * heard from is written with its readings (`devices.last_seen_at`, receipt time), where the
 * offline sweep reads it.
 */
import * as ClusterSchema from "@effect/cluster/ClusterSchema"
import * as Entity from "@effect/cluster/Entity"
import * as Rpc from "@effect/rpc/Rpc"
import { Effect, Layer, Option, Schema } from "effect"
import { ActorConfig } from "./ActorConfig.ts"
import { DeviceId } from "../domain/Device.ts"
import { Unavailable } from "../domain/Errors.ts"
import { DeviceRepo } from "../persistence/DeviceRepo.ts"

export class DeviceUnknown extends Schema.TaggedError<DeviceUnknown>()("DeviceUnknown", { deviceId: Schema.String }) {}

export const Route = Schema.Struct({ patient_id: Schema.NullOr(Schema.String) })

export const Device = Entity.make("Device", [
  /** Readings of this device arrived: where do they go? */
  Rpc.make("Reading", { success: Route, error: Schema.Union(DeviceUnknown, Unavailable) })
]).annotate(ClusterSchema.ClientTracingEnabled, false)

// Their own idle time: the cluster's default is the durable entities' (DurableCluster.ts).
export const layer = Layer.unwrapEffect(Effect.map(Effect.orDie(ActorConfig), ({ maxIdleTime }) => Device.toLayer(
  Effect.gen(function*() {
    const address = yield* Entity.CurrentAddress
    const deviceId = DeviceId.make(address.entityId)
    const devices = yield* DeviceRepo
    return Device.of({
      Reading: () =>
        devices.findById(deviceId).pipe(
          // A read the database refuses is a bug here: the id was checked before the call.
          Effect.catchTag("DataRefused", Effect.die),
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(new DeviceUnknown({ deviceId })),
            onSome: (device) => Effect.succeed({ patient_id: device.patient_id })
          }))
        )
    })
  }),
  { disableFatalDefects: true, maxIdleTime }
)))
