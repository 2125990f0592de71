/**
 * Handlers of seed 004's groups (`CareApi.ts`): users, appointments, lab results, task records
 * and the root. Domain failures become the seed's answers here, each with its `detail` message.
 */
import { Effect, Option, Schema } from "effect"
import { type Appointment, AppointmentId, appointmentFields, type BackgroundTask, type LabResult, TaskId } from "../domain/Appointment.ts"
import type { UserNotFound, WrongRole } from "../domain/CareErrors.ts"
import type { DoctorSchedule } from "../domain/Scheduling.ts"
import { UserId, userView } from "../domain/User.ts"
import { type AppointmentParties, AppointmentRepo } from "../persistence/AppointmentRepo.ts"
import { LabResultRepo } from "../persistence/LabResultRepo.ts"
import { UserRepo } from "../persistence/UserRepo.ts"
import { Accounts } from "../services/Accounts.ts"
import { AppointmentBooking } from "../services/AppointmentBooking.ts"
import type { Handlers } from "./Api.ts"
import type { AppointmentsGroup, CareRootGroup, LabResultsGroup, TasksGroup, UsersGroup } from "./CareApi.ts"
import { BadRequest, Conflict, InvalidField, NotFound } from "./Errors.ts"

/** A path's integer as the id of a record, if it can be one (ids run from 1 to 2^31 - 1). */
export const idOf = <A extends number>(schema: Schema.Schema<A, number>) => {
  const decode = Schema.decodeUnknownOption(schema)
  return (n: number) => decode(n)
}
const userId = idOf(UserId)
const appointmentId = idOf(AppointmentId)
const taskId = idOf(TaskId)

export const scheduleResponse = (schedule: DoctorSchedule) => ({
  id: schedule.id,
  doctor_id: schedule.doctor_id,
  start_time: schedule.start_time,
  end_time: schedule.end_time,
  max_patients: schedule.max_patients,
  is_active: schedule.is_active,
  booked: schedule.booked,
  created_at: schedule.created_at,
  updated_at: schedule.updated_at
})

export const appointmentResponse = ({ appointment, doctor, patient, schedule }: AppointmentParties) => ({
  ...appointmentFields(appointment),
  patient: patient === null ? null : userView(patient),
  doctor: doctor === null ? null : userView(doctor),
  schedule: schedule === null ? null : scheduleResponse(schedule)
})

const taskResponse = (task: BackgroundTask) => ({
  task_name: task.task_name,
  status: task.status,
  appointment_id: task.appointment_id,
  external_reference: task.external_reference,
  error_message: task.error_message,
  created_at: task.created_at,
  updated_at: task.updated_at,
  id: task.id
})

const labResultResponse = (result: LabResult) => ({
  patient_id: result.patient_id,
  test_name: result.test_name,
  result_data: result.result_data,
  recorded_at: result.recorded_at,
  created_at: result.created_at,
  id: result.id
})

// The seed's messages.
const userMissing = (error: UserNotFound) =>
  new NotFound({ detail: error.role === "patient" ? "Patient not found" : error.role === "doctor" ? "Doctor not found" : "User not found" })
export const wrongRole = (error: WrongRole) =>
  new InvalidField({
    field: error.field,
    message: error.userId === undefined
      ? `only a ${error.expected} user may have a ${error.field}, not a ${error.actual}`
      : `user ${error.userId} is a ${error.actual}, not a ${error.expected}`,
    input: error.userId ?? null
  })
const appointmentMissing = () => new NotFound({ detail: "Appointment not found" })

export const make = Effect.gen(function*() {
  const users = yield* UserRepo
  const accounts = yield* Accounts
  const appointments = yield* AppointmentRepo
  const booking = yield* AppointmentBooking
  const labResults = yield* LabResultRepo

  const linkErrors = {
    RegistryPatientTaken: () => Effect.fail(new Conflict({ detail: "This registry patient is already linked to another user" })),
    PatientNotFound: () => Effect.fail(new NotFound({ detail: "Registry patient not found" })),
    WrongRole: (error: WrongRole) => Effect.fail(wrongRole(error))
  }

  const withParties = (rows: ReadonlyArray<Appointment>) => Effect.map(appointments.withParties(rows), (all) => all.map(appointmentResponse))

  const users_ = {
    create: ({ payload }) =>
      accounts.create(payload).pipe(
        Effect.map(userView),
        Effect.catchTags({ ...linkErrors, EmailTaken: () => Effect.fail(new BadRequest({ detail: "Email already registered" })) })
      ),
    get: ({ path }) =>
      Effect.gen(function*() {
        const found = yield* Option.match(userId(path.user_id), { onNone: () => Effect.succeedNone, onSome: users.findById })
        return yield* Option.match(found, { onNone: () => Effect.fail(new NotFound({ detail: "User not found" })), onSome: (u) => Effect.succeed(userView(u)) })
      }),
    update: ({ path, payload }) =>
      Option.match(userId(path.user_id), {
        onNone: () => Effect.fail(new NotFound({ detail: "User not found" })),
        onSome: (id) =>
          accounts.update(id, payload).pipe(
            Effect.map(userView),
            Effect.catchTags({ ...linkErrors, UserNotFound: (error: UserNotFound) => Effect.fail(userMissing(error)) })
          )
      })
  } satisfies Handlers<typeof UsersGroup>

  const appointments_ = {
    create: ({ payload }) =>
      booking.book(payload).pipe(
        Effect.map(appointmentResponse),
        Effect.catchTags({
          BookingRefused: (error) => Effect.fail(new BadRequest({ detail: error.reason })),
          UserNotFound: (error) => Effect.fail(userMissing(error)),
          WrongRole: (error) => Effect.fail(wrongRole(error))
        })
      ),
    get: ({ path }) =>
      Effect.gen(function*() {
        const found = yield* Option.match(appointmentId(path.appointment_id), { onNone: () => Effect.succeedNone, onSome: appointments.findById })
        if (Option.isNone(found)) return yield* appointmentMissing()
        return (yield* withParties([found.value]))[0]!
      }),
    update: ({ path, payload }) =>
      Option.match(appointmentId(path.appointment_id), {
        onNone: () => Effect.fail(appointmentMissing()),
        onSome: (id) =>
          booking.update(id, payload).pipe(
            Effect.map(appointmentResponse),
            Effect.catchTags({
              AppointmentNotFound: () => Effect.fail(appointmentMissing()),
              StatusChangeRefused: (error) => Effect.fail(new Conflict({ detail: error.message })),
              AppointmentClosed: (error) => Effect.fail(new Conflict({ detail: `A ${error.status} appointment cannot be moved to another time` })),
              BookingRefused: (error) => Effect.fail(new BadRequest({ detail: error.reason }))
            })
          )
      }),
    listByPatient: ({ path, urlParams }) =>
      Option.match(userId(path.patient_id), {
        onNone: () => Effect.succeed([]),
        onSome: (id) => Effect.flatMap(appointments.listBy("patient_id", id, urlParams), withParties)
      }),
    listByDoctor: ({ path, urlParams }) =>
      Option.match(userId(path.doctor_id), {
        onNone: () => Effect.succeed([]),
        onSome: (id) => Effect.flatMap(appointments.listBy("doctor_id", id, urlParams), withParties)
      })
  } satisfies Handlers<typeof AppointmentsGroup>

  const labResults_ = {
    create: ({ payload }) =>
      labResults.insert(payload).pipe(
        Effect.map(labResultResponse),
        Effect.catchTags({ UserNotFound: (error) => Effect.fail(userMissing(error)), WrongRole: (error) => Effect.fail(wrongRole(error)) })
      ),
    listByPatient: ({ path, urlParams }) =>
      Option.match(userId(path.patient_id), {
        onNone: () => Effect.succeed([]),
        onSome: (id) => Effect.map(labResults.listByPatient(id, urlParams), (rows) => rows.map(labResultResponse))
      })
  } satisfies Handlers<typeof LabResultsGroup>

  const tasks = {
    get: ({ path }) =>
      Effect.gen(function*() {
        const found = yield* Option.match(taskId(path.task_id), { onNone: () => Effect.succeedNone, onSome: appointments.task })
        return yield* Option.match(found, { onNone: () => Effect.fail(new NotFound({ detail: "Task not found" })), onSome: (t) => Effect.succeed(taskResponse(t)) })
      }),
    listByAppointment: ({ path, urlParams }) =>
      Option.match(appointmentId(path.appointment_id), {
        onNone: () => Effect.succeed([]),
        onSome: (id) => Effect.map(appointments.tasksOf(id, urlParams), (rows) => rows.map(taskResponse))
      })
  } satisfies Handlers<typeof TasksGroup>

  const careRoot = {
    root: () => Effect.succeed({ status: "ok" as const, service: "Health Seeker Backend" })
  } satisfies Handlers<typeof CareRootGroup>

  return { users: users_, appointments: appointments_, labResults: labResults_, tasks, careRoot }
})
