/**
 * FHIR search values as Vigil reads them (R4 search, section 3.1.1.4.7 for dates): a date value
 * stands for the range of its precision, and the prefixes compare against that range; `_count`
 * and references are refused with the parameter named.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { countParam, dateBound, dateRange, observationKinds, parseObservationId, referenceId } from "../../src/domain/Fhir.ts"

const at = (iso: string) => new Date(iso)

describe("FHIR date search values", () => {
  it("reads each precision as its whole range, UTC when no zone is given", () => {
    expect(dateRange("2026")).toEqual({ start: at("2026-01-01T00:00:00Z"), end: at("2027-01-01T00:00:00Z") })
    expect(dateRange("2026-02")).toEqual({ start: at("2026-02-01T00:00:00Z"), end: at("2026-03-01T00:00:00Z") })
    expect(dateRange("2026-12")).toEqual({ start: at("2026-12-01T00:00:00Z"), end: at("2027-01-01T00:00:00Z") })
    expect(dateRange("2024-02-29")).toEqual({ start: at("2024-02-29T00:00:00Z"), end: at("2024-03-01T00:00:00Z") })
    expect(dateRange("2026-12-03T10:15")).toEqual({ start: at("2026-12-03T10:15:00Z"), end: at("2026-12-03T10:16:00Z") })
    expect(dateRange("2026-12-03T10:15:30Z")).toEqual({ start: at("2026-12-03T10:15:30Z"), end: at("2026-12-03T10:15:31Z") })
    expect(dateRange("2026-12-03T10:15:30.250+02:00")).toEqual({ start: at("2026-12-03T08:15:30.250Z"), end: at("2026-12-03T08:15:30.251Z") })
  })

  it("keeps years before 100 as written (not 19xx)", () => {
    expect(dateRange("0050")!.start.getUTCFullYear()).toBe(50)
    expect(dateRange("0099-12-31")!.end.toISOString()).toBe("0100-01-01T00:00:00.000Z")
  })

  it("refuses what is not a date: a 13th month, a 30th of February, a 25th hour, words", () => {
    for (const value of ["2026-13", "2026-02-30", "2025-02-29", "2026-12-03T25:00", "2026-12-03T10:60", "yesterday", "2026-1-3", ""]) {
      expect(dateRange(value), value).toBeUndefined()
    }
  })

  it("turns the prefixes into bounds on the range: ge from its start, gt from its end, le before its end, lt before its start", () => {
    const day = { start: at("2026-12-03T00:00:00Z"), end: at("2026-12-04T00:00:00Z") }
    expect(dateBound("2026-12-03")).toEqual({ from: day.start, before: day.end })
    expect(dateBound("eq2026-12-03")).toEqual({ from: day.start, before: day.end })
    expect(dateBound("ge2026-12-03")).toEqual({ from: day.start })
    expect(dateBound("gt2026-12-03")).toEqual({ from: day.end })
    expect(dateBound("le2026-12-03")).toEqual({ before: day.end })
    expect(dateBound("lt2026-12-03")).toEqual({ before: day.start })
  })

  it("says why a date parameter is refused", () => {
    expect(dateBound("sa2026-12-03")).toMatch(/prefix 'sa' is not supported/)
    expect(dateBound("ge2026-13-01")).toMatch(/not a FHIR date/)
  })
})

describe("FHIR _count, references and observation ids", () => {
  it("reads _count as a whole number from 0 to 200, 20 when absent, the last of repeated ones", () => {
    expect(countParam(undefined)).toEqual(Either.right(20))
    expect(countParam(["0"])).toEqual(Either.right(0))
    expect(countParam(["5", "200"])).toEqual(Either.right(200))
    for (const value of ["201", "-1", "1.5", "ten", ""]) {
      const result = countParam([value])
      expect(Either.isLeft(result), value).toBe(true)
      if (Either.isLeft(result)) expect(result.left.param).toBe("_count")
    }
  })

  it("reads a reference as an id, Type/id or a URL ending so, and refuses ids that are not UUIDs", () => {
    const id = "3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
    for (const value of [id, `Patient/${id}`, `https://ehr.example/fhir/R4/Patient/${id}`, id.toUpperCase()]) {
      expect(referenceId("patient", value, "Patient"), value).toEqual(Either.right(id))
    }
    for (const value of ["42", `Device/${id}x`, `Patient/${id}/_history/1`]) {
      expect(Either.isLeft(referenceId("patient", value, "Patient")), value).toBe(true)
    }
  })

  it("names every kind's Observation <reading id>.<suffix> and reads it back", () => {
    const readingId = "3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
    for (const kind of observationKinds) {
      expect(parseObservationId(`${readingId}.${kind.suffix}`)).toEqual({ readingId, kind })
    }
    for (const id of [readingId, `${readingId}.`, `${readingId}.pulse`, `not-a-uuid.hr`, `.hr`]) {
      expect(parseObservationId(id), id).toBeUndefined()
    }
  })
})
