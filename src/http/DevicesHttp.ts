/** Handlers of the `devices` group. */
import { Effect, Option } from "effect"
import { type Device, DeviceUpdate } from "../domain/Device.ts"
import { DeviceRepo } from "../persistence/DeviceRepo.ts"
import { PatientRepo } from "../persistence/PatientRepo.ts"
import type { DevicesGroup, Handlers } from "./Api.ts"
import { Conflict, NotFound } from "./Errors.ts"

const deviceNotFound = () => new NotFound({ detail: "Device not found" })
const patientNotFound = () => new NotFound({ detail: "Patient not found" })

export const make = Effect.gen(function*() {
  const devices = yield* DeviceRepo
  const patients = yield* PatientRepo
  const orNotFound = (device: Option.Option<Device>) =>
    Option.match(device, { onNone: () => Effect.fail(deviceNotFound()), onSome: Effect.succeed })

  return {
    create: ({ payload }) =>
      devices.insert(payload).pipe(Effect.catchTags({
        DuplicateSerial: (error) => Effect.fail(new Conflict({ detail: `Device with serial '${error.serial}' already exists` })),
        PatientNotFound: () => Effect.fail(patientNotFound())
      })),
    list: ({ urlParams }) => devices.list(urlParams),
    get: ({ path }) => devices.findById(path.device_id).pipe(Effect.flatMap(orNotFound)),
    update: ({ path, payload }) =>
      devices.update(path.device_id, payload).pipe(
        Effect.catchTag("PatientNotFound", () => Effect.fail(patientNotFound())),
        Effect.flatMap(orNotFound)
      ),
    link: ({ payload }) =>
      Effect.gen(function*() {
        // Both must exist; the seed answers one message for either missing.
        if (!(yield* patients.exists(payload.patient_id))) {
          return yield* Effect.fail(new NotFound({ detail: "Device or patient not found" }))
        }
        return yield* devices.update(payload.device_id, new DeviceUpdate({ patient_id: payload.patient_id })).pipe(
          Effect.catchTag("PatientNotFound", () => Effect.succeed(Option.none<Device>())),
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(new NotFound({ detail: "Device or patient not found" })),
            onSome: (device) => Effect.succeed(device)
          }))
        )
      })
  } satisfies Handlers<typeof DevicesGroup>
})
