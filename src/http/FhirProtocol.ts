/**
 * What the FHIR door reads from a request (accepted media types, search parameters, paging
 * cursors, token values, the base URL of its links) and what it says about itself (the
 * CapabilityStatement of `/fhir/R4/metadata`).
 */
import type * as R4 from "fhir/r4.js"
import { Either, Schema } from "effect"
import type { IncomingMessage } from "node:http"
import {
  DEVICE_SERIAL_SYSTEM,
  FHIR_VERSION,
  isUuid,
  lastOf,
  MAX_COUNT,
  observationKinds,
  SearchParamInvalid,
  SUBJECT_NUMBER_SYSTEM
} from "../domain/Fhir.ts"

export const BASE = "/fhir/R4"

/** The media types a FHIR JSON client may ask for; XML and the rest get 406. */
const JSON_TYPES = ["application/fhir+json", "application/json", "json", "application/*", "*/*", "application/json+fhir"]
export const acceptsJson = (accept: string | undefined, format: string | undefined) => {
  if (format !== undefined) return JSON_TYPES.includes(format.split(";")[0]!.trim().toLowerCase())
  if (accept === undefined || accept.trim() === "") return true
  return accept.split(",").some((part) => JSON_TYPES.includes(part.split(";")[0]!.trim().toLowerCase()))
}

/** Which parameters a search understands; the rest are ignored (or refused when strict). */
export const SEARCH_PARAMS = {
  Patient: ["_id", "identifier", "name", "_count", "_cursor"],
  Device: ["_id", "patient", "identifier", "_count", "_cursor"],
  Observation: ["patient", "subject", "code", "category", "date", "device", "_sort", "_count", "_cursor"]
} as const
export type ResourceType = keyof typeof SEARCH_PARAMS
export const isResourceType = (type: string): type is ResourceType => type in SEARCH_PARAMS
/** Parameters any search may carry that change nothing in the result. */
export const CONTROL_PARAMS = new Set(["_format", "access_token"])

/** The `_cursor` of a `next` link: where the next page starts (and, for Observations, at which kind). */
const Cursor = Schema.parseJson(Schema.Struct({ at: Schema.DateFromString, id: Schema.String, kind: Schema.optional(Schema.String) }))
const decodeCursor = Schema.decodeUnknownEither(Cursor)
export const encodeCursor = (cursor: { readonly at: Date; readonly id: string; readonly kind?: string }) =>
  Buffer.from(JSON.stringify({ at: cursor.at.toISOString(), id: cursor.id, ...(cursor.kind === undefined ? {} : { kind: cursor.kind }) })).toString("base64url")

export const cursorParam = (values: ReadonlyArray<string> | undefined): Either.Either<{ at: Date; id: string; kind?: string | undefined } | undefined, SearchParamInvalid> => {
  const value = lastOf(values)
  if (value === undefined) return Either.right(undefined)
  const decoded = decodeCursor(Buffer.from(value, "base64url").toString("utf8"))
  return Either.isRight(decoded) && isUuid(decoded.right.id)
    ? Either.right(decoded.right)
    : Either.left(new SearchParamInvalid({ param: "_cursor", message: "_cursor is not one this server gave out" }))
}

/** A token parameter's values (comma-separated alternatives, repeated parameters all applied). */
export const tokens = (values: ReadonlyArray<string>) => values.map((value) => value.split(",").map((token) => token.trim()).filter((t) => t !== ""))

/** An identifier token's values of `system` (`system|value` or a bare value). */
export const identifierValues = (values: ReadonlyArray<string>, system: string): Either.Either<ReadonlyArray<string>, SearchParamInvalid> => {
  const sets = tokens(values).map((alternatives) =>
    alternatives.flatMap((token) => {
      const bar = token.indexOf("|")
      if (bar === -1) return [token]
      return token.slice(0, bar) === system || token.slice(0, bar) === "" ? [token.slice(bar + 1)] : []
    })
  )
  if (sets.some((set) => set.length === 0)) return Either.right([])
  // Repeated parameters are ANDed: a value must be in every set.
  return Either.right(sets.reduce((a, b) => a.filter((v) => b.includes(v))))
}

/** What a search's links are made of: the parameters it applied and the server's FHIR base URL. */
export interface Where {
  readonly applied: URLSearchParams
  readonly base: string
}

/**
 * The scheme and host a client reached this server by, for the absolute URLs of Bundle links
 * (FHIR's `fullUrl` is absolute): `X-Forwarded-Proto` behind a TLS proxy, the `Host` header when
 * it is a host name, else localhost.
 */
export const origin = (request: IncomingMessage) => {
  const forwarded = String(request.headers["x-forwarded-proto"] ?? "").split(",")[0]!.trim().toLowerCase()
  const scheme = forwarded === "https" || forwarded === "http" ? forwarded : "http"
  const host = request.headers.host
  return `${scheme}://${host !== undefined && /^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host) ? host : "localhost"}`
}

export const capabilities: R4.CapabilityStatement = {
  resourceType: "CapabilityStatement",
  status: "active",
  date: "2026-12-02",
  kind: "instance",
  software: { name: "Vigil" },
  implementation: { description: "Vigil: patient monitoring and care coordination (read-only FHIR R4)", url: BASE },
  fhirVersion: FHIR_VERSION,
  format: ["json"],
  rest: [{
    mode: "server",
    security: { description: "OAuth2 bearer tokens from /api/v1/auth when VIGIL_AUTH=required; the access rules of the REST API" },
    resource: [
      {
        type: "Patient",
        profile: "http://hl7.org/fhir/StructureDefinition/Patient",
        interaction: [{ code: "read" }, { code: "search-type" }],
        searchParam: [
          { name: "_id", type: "token" },
          { name: "identifier", type: "token", documentation: `Trial subject numbers (${SUBJECT_NUMBER_SYSTEM})` },
          { name: "name", type: "string" },
          { name: "_count", type: "number", documentation: `At most ${MAX_COUNT}` }
        ]
      },
      {
        type: "Device",
        profile: "http://hl7.org/fhir/StructureDefinition/Device",
        interaction: [{ code: "read" }, { code: "search-type" }],
        searchParam: [
          { name: "_id", type: "token" },
          { name: "patient", type: "reference" },
          { name: "identifier", type: "token", documentation: `Serial numbers (${DEVICE_SERIAL_SYSTEM})` },
          { name: "_count", type: "number" }
        ]
      },
      {
        type: "Observation",
        profile: "http://hl7.org/fhir/StructureDefinition/vitalsigns",
        supportedProfile: [...new Set(observationKinds.map((kind) => `http://hl7.org/fhir/StructureDefinition/${kind.profile}`))],
        interaction: [{ code: "read" }, { code: "search-type" }],
        searchParam: [
          { name: "patient", type: "reference", documentation: "Required (or subject)" },
          { name: "subject", type: "reference" },
          { name: "code", type: "token", documentation: "LOINC codes of the vital-signs profile" },
          { name: "category", type: "token" },
          { name: "date", type: "date", documentation: "Prefixes eq, ge, gt, le, lt; repeat for a range" },
          { name: "device", type: "reference" },
          { name: "_sort", type: "string", documentation: "date (default) or -date" },
          { name: "_count", type: "number" }
        ]
      }
    ]
  }]
}
