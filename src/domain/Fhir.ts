/**
 * Vigil's records as FHIR R4 resources (read-only): `Patient`, `Device`, and one `Observation` per
 * vital sign of a stored reading, after the FHIR vital-signs profile (category `vital-signs`,
 * the profile's LOINC code and UCUM unit; blood pressure one panel with a systolic and a diastolic
 * component). Pure: the HTTP door (`src/http/FhirHttp.ts`) reads the rows and sends these.
 *
 * An Observation's id is its reading's id and the kind's suffix (`<reading id>.hr`): a reading
 * is one measurement set, FHIR has one Observation per vital sign.
 */
import type * as R4 from "fhir/r4.js"
import { Either, ParseResult, Schema } from "effect"
import type { Device } from "./Device.ts"
import { displayName, type Patient } from "./Patient.ts"
import type { StoredReading, VitalReading } from "./Vitals.ts"

export const FHIR_VERSION = "4.0.1"
export const LOINC = "http://loinc.org"
export const UCUM = "http://unitsofmeasure.org"
const CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
const PROFILE = "http://hl7.org/fhir/StructureDefinition/"
/** Identifier systems of Vigil's own identifiers. */
export const SUBJECT_NUMBER_SYSTEM = "urn:vigil:trial-subject"
export const DEVICE_SERIAL_SYSTEM = "urn:vigil:device-serial"

type Column = keyof Pick<VitalReading, "heart_rate" | "spo2" | "temperature" | "systolic_bp" | "diastolic_bp" | "respiratory_rate" | "weight_kg" | "height_cm">

interface Quantity {
  readonly unit: string
  readonly code: string
}

/** A single-valued vital sign: one reading column, one code, one unit. */
interface SimpleKind {
  readonly suffix: string
  readonly profile: string
  readonly code: string
  readonly display: string
  /** Further codings of the same observation (SpO2 by pulse oximetry, as US Core sends). */
  readonly alsoCoded?: ReadonlyArray<{ readonly code: string; readonly display: string }>
  readonly column: Column
  readonly quantity: Quantity
}

/** The blood-pressure panel: two columns as components. */
interface PanelKind {
  readonly suffix: "bp"
  readonly profile: string
  readonly code: string
  readonly display: string
  readonly components: ReadonlyArray<{ readonly code: string; readonly display: string; readonly column: Column }>
  readonly quantity: Quantity
}

export type ObservationKind = SimpleKind | PanelKind

const isPanel = (kind: ObservationKind): kind is PanelKind => "components" in kind

/** Every vital sign Vigil stores, as the FHIR vital-signs profile codes it. */
export const observationKinds: ReadonlyArray<ObservationKind> = [
  { suffix: "hr", profile: "heartrate", code: "8867-4", display: "Heart rate", column: "heart_rate", quantity: { unit: "beats/minute", code: "/min" } },
  {
    suffix: "spo2",
    profile: "oxygensat",
    code: "2708-6",
    display: "Oxygen saturation in Arterial blood",
    alsoCoded: [{ code: "59408-5", display: "Oxygen saturation in Arterial blood by Pulse oximetry" }],
    column: "spo2",
    quantity: { unit: "%", code: "%" }
  },
  { suffix: "temp", profile: "bodytemp", code: "8310-5", display: "Body temperature", column: "temperature", quantity: { unit: "Cel", code: "Cel" } },
  {
    suffix: "bp",
    profile: "bp",
    code: "85354-9",
    display: "Blood pressure panel with all children optional",
    components: [
      { code: "8480-6", display: "Systolic blood pressure", column: "systolic_bp" },
      { code: "8462-4", display: "Diastolic blood pressure", column: "diastolic_bp" }
    ],
    quantity: { unit: "mmHg", code: "mm[Hg]" }
  },
  { suffix: "rr", profile: "resprate", code: "9279-1", display: "Respiratory rate", column: "respiratory_rate", quantity: { unit: "breaths/minute", code: "/min" } },
  { suffix: "wt", profile: "bodyweight", code: "29463-7", display: "Body weight", column: "weight_kg", quantity: { unit: "kg", code: "kg" } },
  { suffix: "ht", profile: "bodyheight", code: "8302-2", display: "Body height", column: "height_cm", quantity: { unit: "cm", code: "cm" } }
]

/** The reading columns a kind reads. */
export const kindColumns = (kind: ObservationKind): ReadonlyArray<Column> =>
  isPanel(kind) ? kind.components.map((component) => component.column) : [kind.column]

const kindBySuffix = new Map(observationKinds.map((kind) => [kind.suffix, kind]))

/** The kinds a `code` token names: `8867-4` or `http://loinc.org|8867-4` (an SpO2's second code too). */
export const kindsOfCode = (token: string): ReadonlyArray<ObservationKind> => {
  const bar = token.indexOf("|")
  const system = bar === -1 ? undefined : token.slice(0, bar)
  const code = bar === -1 ? token : token.slice(bar + 1)
  if (system !== undefined && system !== "" && system !== LOINC) return []
  return observationKinds.filter((kind) => kind.code === code || (!isPanel(kind) && kind.alsoCoded?.some((c) => c.code === code)))
}

/** The kinds a reading holds a value of, in table order. */
export const kindsOf = (reading: VitalReading): ReadonlyArray<ObservationKind> =>
  observationKinds.filter((kind) => kindColumns(kind).some((column) => reading[column] !== null))

export const observationId = (readingId: string, kind: ObservationKind) => `${readingId}.${kind.suffix}`

/** `<reading id>.<suffix>` split, or `undefined` when it cannot name an Observation of Vigil's. */
export const parseObservationId = (id: string): { readonly readingId: string; readonly kind: ObservationKind } | undefined => {
  const dot = id.lastIndexOf(".")
  if (dot === -1) return undefined
  const kind = kindBySuffix.get(id.slice(dot + 1))
  const readingId = id.slice(0, dot)
  if (kind === undefined || !UUID.test(readingId)) return undefined
  return { readingId: readingId.toLowerCase(), kind }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export const isUuid = (id: string) => UUID.test(id)

const coding = (code: string, display: string): R4.Coding => ({ system: LOINC, code, display })

const quantity = (value: number, unit: Quantity): R4.Quantity => ({ value, unit: unit.unit, system: UCUM, code: unit.code })

const vitalSignsCategory: R4.CodeableConcept = {
  coding: [{ system: CATEGORY_SYSTEM, code: "vital-signs", display: "Vital Signs" }],
  text: "Vital Signs"
}

/** FHIR's "the value is not there" for a component that was not measured. */
const notMeasured: R4.CodeableConcept = {
  coding: [{ system: "http://terminology.hl7.org/CodeSystem/data-absent-reason", code: "not-performed", display: "Not Performed" }]
}

export const toObservation = (reading: StoredReading | VitalReading, kind: ObservationKind): R4.Observation => {
  const base: R4.Observation = {
    resourceType: "Observation",
    id: observationId(reading.id, kind),
    meta: { profile: [`${PROFILE}vitalsigns`, `${PROFILE}${kind.profile}`] },
    status: "final",
    category: [vitalSignsCategory],
    code: {
      coding: [coding(kind.code, kind.display), ...(isPanel(kind) ? [] : kind.alsoCoded ?? []).map((c) => coding(c.code, c.display))],
      text: kind.display
    },
    subject: { reference: `Patient/${reading.patient_id}` },
    effectiveDateTime: reading.measured_at.toISOString(),
    ...(reading.device_id === null ? {} : { device: { reference: `Device/${reading.device_id}` } })
  }
  if (!isPanel(kind)) return { ...base, valueQuantity: quantity(reading[kind.column]!, kind.quantity) }
  return {
    ...base,
    component: kind.components.map((component): R4.ObservationComponent => {
      const value = reading[component.column]
      return {
        code: { coding: [coding(component.code, component.display)], text: component.display },
        ...(value === null ? { dataAbsentReason: notMeasured } : { valueQuantity: quantity(value, kind.quantity) })
      }
    })
  }
}

const GENDER = { M: "male", F: "female", Other: "other" } as const

export const toPatient = (patient: Patient): R4.Patient => {
  const name = displayName(patient)
  const given = patient.first_name === null || patient.first_name === "" ? [] : [patient.first_name]
  const family = patient.last_name === null || patient.last_name === "" ? {} : { family: patient.last_name }
  return {
    resourceType: "Patient",
    id: patient.id,
    meta: { lastUpdated: patient.updated_at.toISOString() },
    ...(patient.subject_number === null ? {} : { identifier: [{ system: SUBJECT_NUMBER_SYSTEM, value: patient.subject_number }] }),
    active: true,
    ...(name === "" ? {} : { name: [{ text: name, ...family, ...(given.length > 0 ? { given } : {}) }] }),
    ...(patient.sex === null ? {} : { gender: GENDER[patient.sex] })
  }
}

export const toDevice = (device: Device): R4.Device => ({
  resourceType: "Device",
  id: device.id,
  meta: { lastUpdated: device.updated_at.toISOString() },
  identifier: [{ system: DEVICE_SERIAL_SYSTEM, value: device.serial }],
  status: "active",
  serialNumber: device.serial,
  deviceName: [{ name: device.serial, type: "user-friendly-name" }],
  version: [{ value: device.firmware }],
  ...(device.patient_id === null ? {} : { patient: { reference: `Patient/${device.patient_id}` } })
})

// ---------------------------------------------------------------------------------------------
// Search parameters

/** `[start, end)` of a FHIR date search value at its own precision (a day, a month, an instant). */
export interface DateRange {
  readonly start: Date
  readonly end: Date
}

/** Midnight UTC of a day (`Date.UTC` would read the years 0 to 99 as 1900 to 1999). */
const utcDay = (year: number, monthIndex: number, day: number) => {
  const date = new Date(0)
  date.setUTCFullYear(year, monthIndex, day)
  return date
}

const DATE_VALUE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/

/** A FHIR date/dateTime search value as the range it stands for (UTC when it has no zone). */
export const dateRange = (value: string): DateRange | undefined => {
  const m = DATE_VALUE.exec(value)
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s, frac, zone] = m
  const year = Number(y)
  const month = mo === undefined ? undefined : Number(mo)
  const day = d === undefined ? undefined : Number(d)
  if (month !== undefined && (month < 1 || month > 12)) return undefined
  if (day !== undefined && (day < 1 || day > utcDay(year, month!, 0).getUTCDate())) return undefined
  if (h === undefined) {
    const start = utcDay(year, (month ?? 1) - 1, day ?? 1)
    const end = day !== undefined ? utcDay(year, month! - 1, day + 1) : month !== undefined ? utcDay(year, month, 1) : utcDay(year + 1, 0, 1)
    return { start, end }
  }
  if (Number(h) > 23 || Number(mi) > 59 || (s !== undefined && Number(s) > 59)) return undefined
  const text = `${y}-${mo}-${d}T${h}:${mi}:${s ?? "00"}${frac === undefined ? "" : frac.slice(0, 4)}${zone ?? "Z"}`
  const start = new Date(text)
  if (Number.isNaN(start.getTime())) return undefined
  const stepMs = s === undefined ? 60_000 : frac === undefined ? 1_000 : 1
  return { start, end: new Date(start.getTime() + stepMs) }
}

/** One `date` parameter: a prefix and a value, as bounds on `effectiveDateTime`. */
export interface DateBound {
  /** Inclusive. */
  readonly from?: Date
  /** Exclusive. */
  readonly before?: Date
}

const DATE_PREFIXES = ["eq", "ge", "gt", "le", "lt"] as const

export const dateBound = (param: string): DateBound | string => {
  const prefix = DATE_PREFIXES.find((p) => param.startsWith(p))
  const range = dateRange(prefix === undefined ? param : param.slice(2))
  if (range === undefined) {
    return /^[a-z]{2}\d/.test(param) && prefix === undefined
      ? `the date prefix '${param.slice(0, 2)}' is not supported (eq, ge, gt, le, lt)`
      : `'${param}' is not a FHIR date or dateTime`
  }
  switch (prefix) {
    case "ge": return { from: range.start }
    case "gt": return { from: range.end }
    case "le": return { before: range.end }
    case "lt": return { before: range.start }
    default: return { from: range.start, before: range.end }
  }
}

/** Page sizes: 20 unless asked, at most 200 (HAPI's defaults). */
export const DEFAULT_COUNT = 20
export const MAX_COUNT = 200

/** A search parameter's problem, named for the OperationOutcome's `expression`. */
export class SearchParamInvalid extends Schema.TaggedError<SearchParamInvalid>()("SearchParamInvalid", {
  param: Schema.String,
  message: Schema.String
}) {}

const CountParam = Schema.NumberFromString.pipe(
  Schema.int({ message: () => "_count must be a whole number" }),
  Schema.between(0, MAX_COUNT, { message: () => `_count must lie between 0 and ${MAX_COUNT}` })
)

const decodeCount = Schema.decodeUnknownEither(CountParam)

/** The last value of a repeated scalar parameter. */
export const lastOf = (values: ReadonlyArray<string> | undefined) => values?.[values.length - 1]

/** `_count` (default 20, at most 200). */
export const countParam = (values: ReadonlyArray<string> | undefined): Either.Either<number, SearchParamInvalid> => {
  const value = lastOf(values)
  if (value === undefined) return Either.right(DEFAULT_COUNT)
  return Either.mapLeft(decodeCount(value), (error) =>
    new SearchParamInvalid({ param: "_count", message: ParseResult.TreeFormatter.formatErrorSync(error) }))
}

/**
 * A reference search value (`patient`, `device`): `<id>`, `Patient/<id>` or an absolute URL ending
 * so; the id must be a UUID (Vigil's ids), or nothing can match.
 */
export const referenceId = (param: string, value: string, type: "Patient" | "Device"): Either.Either<string, SearchParamInvalid> => {
  const match = new RegExp(`(?:^|/)${type}/([^/]+)$`).exec(value)
  const id = match === null ? value : match[1]!
  return isUuid(id)
    ? Either.right(id.toLowerCase())
    : Either.left(new SearchParamInvalid({ param, message: `'${value}' is not a ${type} reference (a ${type} id is a UUID)` }))
}
