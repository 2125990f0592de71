/** Property tests of the registry's input rules: accepted exactly when the seed's rules hold. */
import { describe, expect, it } from "@effect/vitest"
import { Either, ParseResult, Schema } from "effect"
import fc from "fast-check"
import { DeviceCreate } from "../../src/domain/Device.ts"
import { PatientCreate, PatientId } from "../../src/domain/Patient.ts"
import { ThresholdProfileCreate } from "../../src/domain/ThresholdProfile.ts"
import { Timestamp } from "../../src/domain/Validation.ts"
import { fromParseIssue } from "../../src/domain/ValidationDetail.ts"

const decode = <A, I>(schema: Schema.Schema<A, I>) => ParseResult.decodeUnknownEither(schema, { errors: "all" })
const patientId = "550e8400-e29b-41d4-a716-446655440000"

describe("PatientCreate", () => {
  const decodePatient = decode(PatientCreate)
  it("accepts exactly names of 1-255 characters, integer ages 0-150 and sex M, F or Other", () => {
    fc.assert(fc.property(
      fc.string({ maxLength: 300 }),
      fc.oneof(fc.integer({ min: -50, max: 250 }), fc.double({ min: -10, max: 200, noNaN: true })),
      fc.constantFrom("M", "F", "Other", "m", "", "X", "Male"),
      (full_name, age, sex) => {
        const valid = full_name.length >= 1 && full_name.length <= 255 && Number.isInteger(age) && age >= 0 &&
          age <= 150 && ["M", "F", "Other"].includes(sex)
        expect(Either.isRight(decodePatient({ full_name, age, sex }))).toBe(valid)
      }
    ))
  })

  it("names every failing field in the 422 details", () => {
    const result = decodePatient({ full_name: "", age: 151, sex: "?" })
    if (Either.isRight(result)) throw new Error("expected a failure")
    expect(fromParseIssue("body", result.left).map((d) => d.loc)).toEqual([
      ["body", "full_name"],
      ["body", "age"],
      ["body", "sex"]
    ])
  })
})

describe("ThresholdProfileCreate", () => {
  const decodeProfile = decode(ThresholdProfileCreate)
  const value = fc.double({ min: -20, max: 250, noNaN: true })
  it("accepts exactly non-negative values, SpO2 within 0-100, and maxima above minima", () => {
    fc.assert(fc.property(value, value, value, value, value, (hr_min, hr_max, spo2_min, temp_min, temp_max) => {
      const valid = hr_min >= 0 && hr_max >= 0 && temp_min >= 0 && temp_max >= 0 && spo2_min >= 0 && spo2_min <= 100 &&
        hr_max > hr_min && temp_max > temp_min
      const decoded = decodeProfile({ patient_id: patientId, hr_min, hr_max, spo2_min, temp_min, temp_max })
      expect(Either.isRight(decoded)).toBe(valid)
    }))
  })

  it("refuses non-finite numbers", () => {
    for (const bad of [Infinity, -Infinity, NaN]) {
      expect(Either.isLeft(decodeProfile({ patient_id: patientId, hr_min: 1, hr_max: bad, spo2_min: 90, temp_min: 1, temp_max: 2 })))
        .toBe(true)
    }
  })
})

describe("DeviceCreate", () => {
  it("defaults patient_id to null and keeps an explicit link", () => {
    expect(Schema.decodeUnknownSync(DeviceCreate)({ serial: "S", firmware: "F" }).patient_id).toBeNull()
    expect(Schema.decodeUnknownSync(DeviceCreate)({ serial: "S", firmware: "F", patient_id: patientId }).patient_id).toBe(patientId)
  })
})

describe("ids", () => {
  it("accept any spelling of a UUID and canonicalise it; refuse anything else", () => {
    fc.assert(fc.property(fc.uuid(), fc.boolean(), fc.boolean(), (uuid, upper, compact) => {
      let spelled = upper ? uuid.toUpperCase() : uuid
      if (compact) spelled = spelled.replace(/-/g, "")
      expect(Schema.decodeUnknownSync(PatientId)(spelled)).toBe(uuid.toLowerCase())
    }))
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (s) => {
      fc.pre(!/^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(s))
      expect(Either.isLeft(Schema.decodeUnknownEither(PatientId)(s))).toBe(true)
    }))
  })
})

describe("Timestamp", () => {
  const decodeTimestamp = decode(Timestamp)
  const read = (text: string) => Either.map(decodeTimestamp(text), (date) => date.toISOString())

  it("reads an offset, no offset as UTC (never the server's zone) and a date alone as its midnight UTC", () => {
    expect(read("2026-01-31T12:00:00Z")).toEqual(Either.right("2026-01-31T12:00:00.000Z"))
    expect(read("2026-01-31T12:00:00+02:00")).toEqual(Either.right("2026-01-31T10:00:00.000Z"))
    expect(read("2026-01-31T12:00:00-0500")).toEqual(Either.right("2026-01-31T17:00:00.000Z"))
    expect(read("2026-01-31T12:00:00")).toEqual(Either.right("2026-01-31T12:00:00.000Z"))
    expect(read("2026-01-31 12:00")).toEqual(Either.right("2026-01-31T12:00:00.000Z"))
    expect(read("2026-01-31")).toEqual(Either.right("2026-01-31T00:00:00.000Z"))
  })

  it("accepts exactly the dates that exist, years 0001-9999, answering 422's datetime_parsing otherwise", () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 25 }),
      (year, month, day, hour) => {
        const text = `${String(year).padStart(4, "0")}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}T${String(hour).padStart(2, "0")}:00:00Z`
        const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
        const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0
        const valid = year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= days && hour <= 23
        const result = decodeTimestamp(text)
        expect(Either.isRight(result), text).toBe(valid)
        if (Either.isLeft(result)) expect(fromParseIssue("query", result.left)[0]!.type).toBe("datetime_parsing")
      }
    ))
    for (const text of ["yesterday", "2026-01-31T12", "2026-01-31T12:00:00+25:00", "31/01/2026", ""]) expect(Either.isLeft(decodeTimestamp(text)), text).toBe(true)
  })
})
