/** Handlers of the `patients` group. */
import { Effect, Option } from "effect"
import { PatientRepo } from "../persistence/PatientRepo.ts"
import { type PatientsGroup, patientView, type Handlers } from "./Api.ts"
import { NotFound } from "./Errors.ts"

export const make = Effect.gen(function*() {
  const patients = yield* PatientRepo
  return {
    create: ({ payload }) => Effect.map(patients.insert(payload), patientView),
    list: ({ urlParams }) => Effect.map(patients.list(urlParams), (rows) => rows.map(patientView)),
    get: ({ path }) =>
      patients.findById(path.patient_id).pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.fail(new NotFound({ detail: "Patient not found" })),
          onSome: (patient) => Effect.succeed(patientView(patient))
        }))
      )
  } satisfies Handlers<typeof PatientsGroup>
})
