/** Handlers of the `thresholds` group. */
import { Effect, Option } from "effect"
import { ThresholdProfileRepo } from "../persistence/ThresholdProfileRepo.ts"
import { thresholdProfileView, type ThresholdsGroup, type Handlers } from "./Api.ts"
import { Conflict, NotFound } from "./Errors.ts"

export const make = Effect.gen(function*() {
  const thresholds = yield* ThresholdProfileRepo
  return {
    create: ({ payload }) =>
      thresholds.insert(payload).pipe(Effect.catchTags({
        PatientNotFound: () => Effect.fail(new NotFound({ detail: "Patient not found" })),
        ThresholdProfileExists: () => Effect.fail(new Conflict({ detail: "Threshold profile already exists for this patient" }))
      }), Effect.map(thresholdProfileView)),
    list: ({ urlParams }) => Effect.map(thresholds.list(urlParams), (rows) => rows.map(thresholdProfileView)),
    get: ({ path }) =>
      thresholds.findByPatient(path.patient_id).pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.fail(new NotFound({ detail: "Threshold profile not found" })),
          onSome: (profile) => Effect.succeed(thresholdProfileView(profile))
        }))
      )
  } satisfies Handlers<typeof ThresholdsGroup>
})
