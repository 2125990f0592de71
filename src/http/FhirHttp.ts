/**
 * The FHIR R4 read API under `/fhir/R4` (`application/fhir+json`): `Patient`, `Device` and the
 * vital-sign `Observation`s of stored readings, read by id and searched into `searchset` Bundles
 * with keyset `next` links; `/fhir/R4/metadata` is the CapabilityStatement. Every error is an
 * `OperationOutcome`. Unknown search parameters are ignored and left out of the `self` link,
 * unless the client sends `Prefer: handling=strict`.
 *
 * Access is that of the same data on the REST API: staff read everything; a patient user reads
 * their own record and observations (their Patient search is their own record); a device reads
 * its own Device. Reads of one patient's data are recorded in the access audit.
 */
import type * as R4 from "fhir/r4.js"
import { Cause, Effect, Either, Exit, Option, Runtime, Schema } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import type { Caller } from "../domain/Access.ts"
import { DeviceId } from "../domain/Device.ts"
import {
  countParam,
  dateBound,
  DEVICE_SERIAL_SYSTEM,
  isUuid,
  kindColumns,
  kindsOf,
  kindsOfCode,
  lastOf,
  type ObservationKind,
  observationKinds,
  parseObservationId,
  referenceId,
  SearchParamInvalid,
  SUBJECT_NUMBER_SYSTEM,
  toDevice,
  toObservation,
  toPatient
} from "../domain/Fhir.ts"
import { PatientId } from "../domain/Patient.ts"
import type { StoredReading } from "../domain/Vitals.ts"
import { DeviceRepo } from "../persistence/DeviceRepo.ts"
import { FhirReads, type Keyset } from "../persistence/FhirReads.ts"
import { PatientRepo } from "../persistence/PatientRepo.ts"
import { AccessControl } from "../services/AccessControl.ts"
import { allow, publicRoute, STAFF } from "./Access.ts"
import {
  acceptsJson,
  BASE,
  capabilities,
  CONTROL_PARAMS,
  cursorParam,
  encodeCursor,
  identifierValues,
  isResourceType,
  origin,
  type ResourceType,
  SEARCH_PARAMS,
  tokens,
  type Where
} from "./FhirProtocol.ts"
import type { RawRoute } from "./Handlers.ts"

const CONTENT_TYPE = "application/fhir+json; charset=utf-8"

/** An answer that is an OperationOutcome. */
class FhirFailure extends Schema.TaggedError<FhirFailure>()("FhirFailure", {
  status: Schema.Number,
  code: Schema.String,
  diagnostics: Schema.String,
  expression: Schema.optional(Schema.String)
}) {}

const outcome = (failure: Pick<FhirFailure, "code" | "diagnostics" | "expression">): R4.OperationOutcome => ({
  resourceType: "OperationOutcome",
  issue: [{
    severity: "error",
    code: failure.code as R4.OperationOutcomeIssue["code"],
    diagnostics: failure.diagnostics,
    ...(failure.expression === undefined ? {} : { expression: [failure.expression] })
  }]
})

const send = (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  if (response.headersSent) return
  const text = JSON.stringify(body)
  response.writeHead(status, { "content-type": CONTENT_TYPE, "content-length": Buffer.byteLength(text), ...headers })
  response.end(text)
}

const fail = (status: number, code: string, diagnostics: string, expression?: string) =>
  Effect.fail(new FhirFailure({ status, code, diagnostics, ...(expression === undefined ? {} : { expression }) }))

const invalid = (error: SearchParamInvalid) => fail(400, "value", error.message, error.param)
const notFound = (type: string, id: string) => fail(404, "not-found", `${type}/${id} is not known`)
const forbidden = fail(403, "forbidden", "Not enough permissions")

const isStaff = (caller: Caller) => caller.kind === "open" || caller.kind === "system" || (caller.kind === "user" && caller.principal in STAFF)
const ownPatientId = (caller: Caller) => (caller.kind === "user" ? caller.user.registry_patient_id : null)
const mayReadPatient = (caller: Caller, patientId: string) => isStaff(caller) || ownPatientId(caller) === patientId

export const make = Effect.gen(function*() {
  const patients = yield* PatientRepo
  const devices = yield* DeviceRepo
  const reads = yield* FhirReads
  const control = yield* AccessControl
  const runFork = Runtime.runFork(yield* Effect.runtime<never>())

  const audited = (caller: Caller, patientId: string, route: string) => {
    if (caller.kind === "open" || caller.kind === "system") return
    control.record(caller, { entityType: "patient", entityId: patientId }, route, "http")
  }

  /** A searchset Bundle of `resources`, with `self` (the parameters applied) and `next` links. */
  const bundle = (type: ResourceType, where: Where, resources: ReadonlyArray<R4.Resource>, next: string | undefined): R4.Bundle => {
    const link = (params: URLSearchParams) => `${where.base}/${type}${params.size === 0 ? "" : `?${params.toString()}`}`
    const nextParams = new URLSearchParams(where.applied)
    if (next !== undefined) nextParams.set("_cursor", next)
    return {
      resourceType: "Bundle",
      type: "searchset",
      link: [{ relation: "self", url: link(where.applied) }, ...(next === undefined ? [] : [{ relation: "next", url: link(nextParams) }])],
      entry: resources.map((resource) => ({ fullUrl: `${where.base}/${resource.resourceType}/${resource.id}`, resource, search: { mode: "match" } }))
    }
  }

  const readPatient = (caller: Caller, id: string) =>
    Effect.gen(function*() {
      if (!isUuid(id)) return yield* notFound("Patient", id)
      if (!mayReadPatient(caller, id.toLowerCase())) return yield* forbidden
      const patient = yield* patients.findById(PatientId.make(id.toLowerCase()))
      if (Option.isNone(patient)) return yield* notFound("Patient", id)
      audited(caller, patient.value.id, `${BASE}/Patient/{id}`)
      return toPatient(patient.value) as R4.Resource
    })

  const readDevice = (caller: Caller, id: string) =>
    Effect.gen(function*() {
      if (!isUuid(id)) return yield* notFound("Device", id)
      const deviceId = id.toLowerCase()
      if (!isStaff(caller) && !(caller.kind === "device" && caller.deviceId === deviceId)) return yield* forbidden
      const device = yield* devices.findById(DeviceId.make(deviceId))
      if (Option.isNone(device)) return yield* notFound("Device", id)
      return toDevice(device.value) as R4.Resource
    })

  const readObservation = (caller: Caller, id: string) =>
    Effect.gen(function*() {
      const parsed = parseObservationId(id)
      if (parsed === undefined) return yield* notFound("Observation", id)
      const reading = yield* reads.reading(parsed.readingId)
      if (reading === undefined || !kindColumns(parsed.kind).some((column) => reading[column] !== null)) return yield* notFound("Observation", id)
      if (!mayReadPatient(caller, reading.patient_id)) return yield* forbidden
      audited(caller, reading.patient_id, `${BASE}/Observation/{id}`)
      return toObservation(reading, parsed.kind) as R4.Resource
    })

  type Params = Map<string, Array<string>>

  const searchPatients = (caller: Caller, params: Params, where: Where) =>
    Effect.gen(function*() {
      const count = yield* Either.match(countParam(params.get("_count")), { onLeft: invalid, onRight: Effect.succeed })
      const start = yield* Either.match(cursorParam(params.get("_cursor")), { onLeft: invalid, onRight: Effect.succeed })
      let ids: ReadonlyArray<string> | undefined = params.has("_id")
        ? tokens(params.get("_id")!).map((set) => set.filter(isUuid).map((id) => id.toLowerCase())).reduce((a, b) => a.filter((v) => b.includes(v)))
        : undefined
      if (!isStaff(caller)) {
        // A patient's search is their own record: the same data their Patient read returns.
        const own = ownPatientId(caller)
        if (own === null) return yield* forbidden
        ids = ids === undefined ? [own] : ids.filter((id) => id === own)
      }
      const subjectNumbers = params.has("identifier")
        ? yield* Either.match(identifierValues(params.get("identifier")!, SUBJECT_NUMBER_SYSTEM), { onLeft: invalid, onRight: Effect.succeed })
        : undefined
      const name = lastOf(params.get("name"))
      const rows = count === 0 ? [] : yield* reads.patients({ ids, subjectNumbers, name, start, limit: count + 1 })
      const page = rows.slice(0, count)
      for (const patient of page) audited(caller, patient.id, `${BASE}/Patient`)
      const after = rows[count]
      return bundle("Patient", where, page.map(toPatient), after === undefined ? undefined : encodeCursor({ at: after.created_at, id: after.id }))
    })

  const searchDevices = (caller: Caller, params: Params, where: Where) =>
    Effect.gen(function*() {
      if (!isStaff(caller)) return yield* forbidden
      const count = yield* Either.match(countParam(params.get("_count")), { onLeft: invalid, onRight: Effect.succeed })
      const start = yield* Either.match(cursorParam(params.get("_cursor")), { onLeft: invalid, onRight: Effect.succeed })
      const patient = lastOf(params.get("patient"))
      const patientId = patient === undefined
        ? undefined
        : yield* Either.match(referenceId("patient", patient, "Patient"), { onLeft: invalid, onRight: Effect.succeed })
      const ids = params.has("_id")
        ? tokens(params.get("_id")!).map((set) => set.filter(isUuid).map((id) => id.toLowerCase())).reduce((a, b) => a.filter((v) => b.includes(v)))
        : undefined
      const serials = params.has("identifier")
        ? yield* Either.match(identifierValues(params.get("identifier")!, DEVICE_SERIAL_SYSTEM), { onLeft: invalid, onRight: Effect.succeed })
        : undefined
      const rows = count === 0 ? [] : yield* reads.devices({ ids, patientId, serials, start, limit: count + 1 })
      const after = rows[count]
      return bundle("Device", where, rows.slice(0, count).map(toDevice), after === undefined ? undefined : encodeCursor({ at: after.created_at, id: after.id }))
    })

  const searchObservations = (caller: Caller, params: Params, where: Where) =>
    Effect.gen(function*() {
      const count = yield* Either.match(countParam(params.get("_count")), { onLeft: invalid, onRight: Effect.succeed })
      const start = yield* Either.match(cursorParam(params.get("_cursor")), { onLeft: invalid, onRight: Effect.succeed })
      const reference = lastOf(params.get("patient")) ?? lastOf(params.get("subject"))
      if (reference === undefined) {
        return yield* fail(400, "not-supported", "An Observation search needs patient (or subject): a search across patients is not offered", "patient")
      }
      const patientId = yield* Either.match(referenceId(params.has("patient") ? "patient" : "subject", reference, "Patient"), {
        onLeft: invalid,
        onRight: Effect.succeed
      })
      if (!mayReadPatient(caller, patientId)) return yield* forbidden
      const device = lastOf(params.get("device"))
      const deviceId = device === undefined
        ? undefined
        : yield* Either.match(referenceId("device", device, "Device"), { onLeft: invalid, onRight: Effect.succeed })
      // Every category this server has is vital-signs: another one matches nothing.
      const categoryMatches = (params.get("category") ?? []).every((value) =>
        value.split(",").some((token) => ["vital-signs", "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs", "|vital-signs"].includes(token.trim()))
      )
      let kinds: ReadonlyArray<ObservationKind> = observationKinds
      for (const alternatives of tokens(params.get("code") ?? [])) {
        const named = new Set(alternatives.flatMap(kindsOfCode))
        kinds = kinds.filter((kind) => named.has(kind))
      }
      const from: Array<Date> = []
      const before: Array<Date> = []
      for (const value of params.get("date") ?? []) {
        const bound = dateBound(value)
        if (typeof bound === "string") return yield* fail(400, "value", bound, "date")
        if (bound.from !== undefined) from.push(bound.from)
        if (bound.before !== undefined) before.push(bound.before)
      }
      const sort = lastOf(params.get("_sort"))
      if (sort !== undefined && sort !== "date" && sort !== "-date") {
        return yield* fail(400, "not-supported", `_sort '${sort}' is not supported (date or -date)`, "_sort")
      }
      const startKind = start?.kind === undefined ? undefined : observationKinds.findIndex((kind) => kind.suffix === start.kind)
      if (startKind === -1) return yield* invalid(new SearchParamInvalid({ param: "_cursor", message: "_cursor is not one this server gave out" }))
      audited(caller, patientId, `${BASE}/Observation`)
      if (count === 0 || kinds.length === 0 || !categoryMatches) return bundle("Observation", where, [], undefined)
      // Each reading holds one Observation or more: count + 1 readings are enough for count + 1 Observations.
      const rows = yield* reads.readings({
        patientId,
        deviceId,
        columns: kinds.length === observationKinds.length ? undefined : kinds.flatMap(kindColumns),
        from,
        before,
        descending: sort === "-date",
        start: start as Keyset | undefined,
        limit: count + 1
      })
      const found: Array<{ readonly reading: StoredReading; readonly kind: ObservationKind }> = []
      for (const reading of rows) {
        for (const kind of kindsOf(reading)) {
          if (!kinds.includes(kind)) continue
          if (start !== undefined && startKind !== undefined && reading.id === start.id && observationKinds.indexOf(kind) < startKind) continue
          found.push({ reading, kind })
        }
        if (found.length > count) break
      }
      const page = found.slice(0, count)
      const after = found[count]
      return bundle("Observation", where,
        page.map(({ kind, reading }) => toObservation(reading, kind)),
        after === undefined ? undefined : encodeCursor({ at: after.reading.measured_at, id: after.reading.id, kind: after.kind.suffix })
      )
    })

  const answer = (caller: Caller, request: IncomingMessage, url: URL, segments: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const [type, id, ...rest] = segments
      if (type === undefined || !isResourceType(type)) {
        return yield* fail(404, "not-supported", `Resource type '${type ?? ""}' is not served here (Patient, Device, Observation)`)
      }
      if (rest.length > 0 || id === "") return yield* fail(404, "not-supported", `${url.pathname} is not an interaction this server offers`)
      if (id !== undefined) {
        if (url.search !== "" && [...url.searchParams.keys()].some((key) => !CONTROL_PARAMS.has(key))) {
          return yield* fail(400, "not-supported", "A read takes no parameters")
        }
        return type === "Patient" ? yield* readPatient(caller, id) : type === "Device" ? yield* readDevice(caller, id) : yield* readObservation(caller, id)
      }
      const known = new Set<string>(SEARCH_PARAMS[type])
      const strict = /handling\s*=\s*strict/i.test(String(request.headers["prefer"] ?? ""))
      const params: Params = new Map()
      const applied = new URLSearchParams()
      for (const [key, value] of url.searchParams) {
        if (CONTROL_PARAMS.has(key)) continue
        if (!known.has(key)) {
          if (strict) return yield* fail(400, "not-supported", `Search parameter '${key}' is not supported for ${type}`, key)
          continue
        }
        params.set(key, [...(params.get(key) ?? []), value])
        if (key !== "_cursor") applied.append(key, value)
      }
      const where: Where = { applied, base: `${origin(request)}${BASE}` }
      return type === "Patient"
        ? yield* searchPatients(caller, params, where)
        : type === "Device"
        ? yield* searchDevices(caller, params, where)
        : yield* searchObservations(caller, params, where)
    })

  const refuse = (response: ServerResponse, status: 401 | 403 | 503, detail: string) =>
    send(response, status, outcome({ code: status === 401 ? "login" : status === 403 ? "forbidden" : "transient", diagnostics: detail }),
      status === 503 ? { "retry-after": "1" } : {})

  const handle = (request: IncomingMessage, response: ServerResponse, caller: Caller) => {
    request.resume()
    if (request.method !== "GET" && request.method !== "HEAD") {
      return send(response, 405, outcome({ code: "not-supported", diagnostics: "This FHIR server is read-only (GET)" }), { allow: "GET, HEAD" })
    }
    const url = new URL(request.url ?? "/", "http://localhost")
    if (!acceptsJson(request.headers.accept, url.searchParams.get("_format") ?? undefined)) {
      return send(response, 406, outcome({ code: "not-supported", diagnostics: "Only JSON is served (application/fhir+json)" }))
    }
    let segments: Array<string>
    try {
      segments = url.pathname.slice(BASE.length).split("/").filter((_, i) => i > 0).map(decodeURIComponent)
    } catch {
      return send(response, 404, outcome({ code: "not-found", diagnostics: "Not a valid path" }))
    }
    if (segments.length === 1 && segments[0] === "metadata") return send(response, 200, capabilities)
    const fiber = runFork(answer(caller, request, url, segments))
    response.on("close", () => {
      if (!response.writableFinished) fiber.unsafeInterruptAsFork(fiber.id())
    })
    fiber.addObserver((exit) => {
      if (Exit.isSuccess(exit)) return send(response, 200, exit.value)
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure)) {
        const error = failure.value
        if (error._tag === "FhirFailure") return send(response, error.status, outcome(error))
        if (error._tag === "Unavailable") return refuse(response, 503, `Service unavailable: ${error.reason}; retry later`)
        // A search value the database cannot compare (a NUL character, say): the same query fails again.
        if (error._tag === "DataRefused") return send(response, 400, outcome({ code: "value", diagnostics: `A search value was refused: ${error.reason}` }))
      }
      if (Cause.isInterruptedOnly(exit.cause)) return send(response, 503, outcome({ code: "transient", diagnostics: "Service is shutting down" }))
      runFork(Effect.logError("FHIR request failed", exit.cause).pipe(Effect.annotateLogs({ path: url.pathname })))
      send(response, 500, outcome({ code: "exception", diagnostics: "Internal Server Error" }))
    })
  }

  const metadata: RawRoute = { method: "GET", path: `${BASE}/metadata`, policy: publicRoute, handle: (request, response, caller) => handle(request, response, caller) }
  const api: RawRoute = {
    method: "GET",
    path: BASE,
    prefix: true,
    policy: allow({ ...STAFF, patient: true, device: true }),
    refuse,
    template: (path) => {
      const [type, id] = path.slice(BASE.length + 1).split("/")
      if (type === undefined || !isResourceType(type)) return BASE
      return id === undefined ? `${BASE}/${type}` : `${BASE}/${type}/{id}`
    },
    handle
  }
  return [metadata, api] as const
})
