/**
 * The FHIR R4 read API (issue 17): Patient, Device and the vital-sign Observations of stored
 * readings, read and searched as a FHIR client would, every resource checked by Medplum's
 * validator against the profiles it claims, the codes and units checked against a table written
 * from the FHIR vital-signs profile (not from Vigil's code), errors as OperationOutcomes.
 * Who may read what is in access-policies.test.ts.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { failures } from "../support/fhir-validator.ts"
import * as TestApp from "../support/test-app.ts"

const { call } = TestApp

const FHIR_JSON = /^application\/fhir\+json/
const LOINC = "http://loinc.org"
const UCUM = "http://unitsofmeasure.org"

/**
 * The FHIR vital-signs profile's codes and units (hl7.org/fhir/R4/observation-vitalsigns.html),
 * by the observation id's suffix: profile, LOINC code, UCUM code, the value sent.
 */
const VITAL_SIGNS = {
  hr: { profile: "heartrate", code: "8867-4", unit: "/min", field: "heart_rate", value: 72 },
  spo2: { profile: "oxygensat", code: "2708-6", unit: "%", field: "spo2", value: 97 },
  temp: { profile: "bodytemp", code: "8310-5", unit: "Cel", field: "temperature", value: 36.8 },
  rr: { profile: "resprate", code: "9279-1", unit: "/min", field: "respiratory_rate", value: 16 }
} as const
const BP = { profile: "bp", code: "85354-9", systolic: "8480-6", diastolic: "8462-4", unit: "mm[Hg]" } as const
const MEASURED = {
  wt: { profile: "bodyweight", code: "29463-7", unit: "kg", value: 70.5 },
  ht: { profile: "bodyheight", code: "8302-2", unit: "cm", value: 172 }
} as const

const READINGS = 12
const MINUTE = 60_000

let serials = 0
const serial = () => `FHIR-${Date.now().toString(36)}-${serials++}`

const expectStatus = (response: TestApp.JsonResponse, status: number) => {
  expect(response.status, JSON.stringify(response.body)).toBe(status)
  return response.body
}

/** A FHIR answer: its status, `application/fhir+json`, and a body that conforms. */
const fhir = (path: string, status = 200, headers: Record<string, string> = {}) =>
  Effect.map(call("GET", `/fhir/R4${path}`, undefined, headers), (response) => {
    const body = expectStatus(response, status)
    expect(response.headers.get("content-type")).toMatch(FHIR_JSON)
    expect(failures(body)).toEqual({})
    return body
  })

/** The OperationOutcome of a refused FHIR call, with its one issue's code. */
const refused = (path: string, status: number, code: string, init: { method?: string; headers?: Record<string, string> } = {}) =>
  Effect.map(call(init.method ?? "GET", `/fhir/R4${path}`, undefined, init.headers ?? {}), (response) => {
    const body = expectStatus(response, status)
    expect(response.headers.get("content-type")).toMatch(FHIR_JSON)
    expect(body.resourceType).toBe("OperationOutcome")
    expect(body.issue[0]).toMatchObject({ severity: "error", code })
    expect(failures(body)).toEqual({})
    return body
  })

const iso = (ms: number) => new Date(ms).toISOString()
/** A `date` search value at second precision. */
const second = (ms: number) => iso(ms).replace(/\.\d{3}Z$/, "Z")

/** Every page of a search, following `next` links; the entries in the order they came. */
const walk = (path: string) =>
  Effect.gen(function*() {
    const base = `${yield* TestApp.baseUrl}/fhir/R4`
    const entries: Array<any> = []
    let next: string | undefined = `${base}${path}`
    let pages = 0
    while (next !== undefined) {
      expect(pages++, "a search that never ends").toBeLessThan(100)
      // Links are absolute, on the base the client used.
      expect(next.startsWith(`${base}/`), next).toBe(true)
      const bundle: any = yield* fhir(next.slice(base.length))
      expect(bundle).toMatchObject({ resourceType: "Bundle", type: "searchset" })
      expect(bundle.link.find((link: any) => link.relation === "self").url.startsWith(`${base}/`)).toBe(true)
      for (const entry of bundle.entry) {
        expect(entry.fullUrl).toBe(`${base}/${entry.resource.resourceType}/${entry.resource.id}`)
        expect(entry.search).toEqual({ mode: "match" })
      }
      entries.push(...bundle.entry.map((entry: any) => entry.resource))
      next = bundle.link.find((link: any) => link.relation === "next")?.url
    }
    return { resources: entries, pages }
  })

const ids = (resources: ReadonlyArray<{ id: string }>) => resources.map((resource) => resource.id)

layer(TestApp.layer(), { timeout: 120_000, excludeTestServices: true })("FHIR R4", (it) => {
  /**
   * One patient with a device and READINGS device readings a minute apart (each with every vital
   * sign), one reading with only a systolic pressure, and one measurement with weight and height.
   */
  const ward = Effect.gen(function*() {
    const patient = expectStatus(yield* call("POST", "/patients", { full_name: "Ada Lovelace", age: 36, sex: "F" }), 201)
    const device = expectStatus(yield* call("POST", "/devices", { serial: serial(), firmware: "v2.1.0", patient_id: patient.id }), 201)
    const start = Math.floor(Date.now() / MINUTE) * MINUTE - 2 * 60 * MINUTE
    const readings: Array<{ id: string; at: number }> = []
    for (let i = 0; i < READINGS; i++) {
      const id = randomUUID()
      const at = start + i * MINUTE
      expectStatus(
        yield* call("POST", `/api/v1/devices/${device.id}/readings`, {
          reading_id: id,
          measured_at: iso(at),
          heart_rate: VITAL_SIGNS.hr.value,
          spo2: VITAL_SIGNS.spo2.value,
          temperature: VITAL_SIGNS.temp.value,
          respiratory_rate: VITAL_SIGNS.rr.value,
          systolic_bp: 120 + i,
          diastolic_bp: 80
        }),
        201
      )
      readings.push({ id, at })
    }
    const systolicOnly = randomUUID()
    const systolicAt = start + READINGS * MINUTE
    expectStatus(
      yield* call("POST", `/api/v1/devices/${device.id}/readings`, { reading_id: systolicOnly, measured_at: iso(systolicAt), systolic_bp: 131 }),
      201
    )
    const measurement = expectStatus(
      yield* call("POST", `/api/v1/patient/${patient.id}/measurements`, {
        temperature_celsius: 37.1,
        blood_pressure_sys: 118,
        blood_pressure_dias: 76,
        body_weight: MEASURED.wt.value,
        height_cm: MEASURED.ht.value,
        stroke: false,
        diabetes: false
      }),
      201
    )
    return { patient, device, readings, systolicOnly, systolicAt, measurement, start }
  })

  it.effect("answers /metadata with a CapabilityStatement for FHIR 4.0.1 that names what it serves", () =>
    Effect.gen(function*() {
      const capabilities = yield* fhir("/metadata")
      expect(capabilities).toMatchObject({ resourceType: "CapabilityStatement", status: "active", kind: "instance", fhirVersion: "4.0.1" })
      const resources = capabilities.rest[0].resource
      expect(resources.map((resource: any) => resource.type)).toEqual(["Patient", "Device", "Observation"])
      for (const resource of resources) expect(resource.interaction.map((i: any) => i.code)).toEqual(["read", "search-type"])
      const observation = resources.find((resource: any) => resource.type === "Observation")
      expect(observation.searchParam.map((p: any) => p.name)).toEqual(expect.arrayContaining(["patient", "code", "date", "_count"]))
      expect(observation.supportedProfile).toEqual(expect.arrayContaining(
        [...Object.values(VITAL_SIGNS), BP, ...Object.values(MEASURED)].map((kind) => `http://hl7.org/fhir/StructureDefinition/${kind.profile}`)
      ))
    }))

  it.effect("the validator these tests trust refuses a wrong LOINC code, a missing category and a bad birthDate", () =>
    Effect.gen(function*() {
      const { readings } = yield* ward
      const good = (yield* fhir(`/Observation/${readings[0]!.id}.hr`)) as any
      expect(Object.keys(failures({ ...good, code: { coding: [{ system: LOINC, code: "8310-5" }] } }))).toContain(
        "http://hl7.org/fhir/StructureDefinition/heartrate"
      )
      expect(Object.keys(failures({ ...good, category: undefined }))).toContain("http://hl7.org/fhir/StructureDefinition/vitalsigns")
      expect(Object.keys(failures({ resourceType: "Patient", birthDate: "03/12/1990" }))).toEqual([""])
    }))

  it.effect("reads a Patient, a Device and each vital sign of a reading as its own Observation", () =>
    Effect.gen(function*() {
      const { device, patient, readings } = yield* ward
      const fhirPatient = yield* fhir(`/Patient/${patient.id}`)
      expect(fhirPatient).toMatchObject({ resourceType: "Patient", id: patient.id, active: true, gender: "female", name: [{ text: "Ada Lovelace" }] })
      expect(fhirPatient.meta.lastUpdated).toMatch(/Z$/)

      const fhirDevice = yield* fhir(`/Device/${device.id}`)
      expect(fhirDevice).toMatchObject({
        resourceType: "Device",
        id: device.id,
        status: "active",
        serialNumber: device.serial,
        identifier: [{ system: "urn:vigil:device-serial", value: device.serial }],
        deviceName: [{ name: device.serial, type: "user-friendly-name" }],
        version: [{ value: "v2.1.0" }],
        patient: { reference: `Patient/${patient.id}` }
      })

      const reading = readings[3]!
      for (const [suffix, sign] of Object.entries(VITAL_SIGNS)) {
        const observation = yield* fhir(`/Observation/${reading.id}.${suffix}`)
        expect(observation).toMatchObject({
          resourceType: "Observation",
          id: `${reading.id}.${suffix}`,
          status: "final",
          category: [{ coding: [{ system: "http://terminology.hl7.org/CodeSystem/observation-category", code: "vital-signs" }] }],
          subject: { reference: `Patient/${patient.id}` },
          device: { reference: `Device/${device.id}` },
          effectiveDateTime: iso(reading.at),
          valueQuantity: { value: sign.value, system: UCUM, code: sign.unit }
        })
        expect(observation.code.coding[0]).toMatchObject({ system: LOINC, code: sign.code })
        expect(observation.meta.profile).toEqual([
          "http://hl7.org/fhir/StructureDefinition/vitalsigns",
          `http://hl7.org/fhir/StructureDefinition/${sign.profile}`
        ])
      }
    }))

  it.effect("codes blood pressure as one panel with systolic and diastolic components, a side not measured as absent", () =>
    Effect.gen(function*() {
      const { readings, systolicOnly } = yield* ward
      const panel = yield* fhir(`/Observation/${readings[5]!.id}.bp`)
      expect(panel.code.coding).toEqual([expect.objectContaining({ system: LOINC, code: BP.code })])
      expect(panel.valueQuantity).toBeUndefined()
      expect(panel.component).toEqual([
        expect.objectContaining({
          code: expect.objectContaining({ coding: [expect.objectContaining({ system: LOINC, code: BP.systolic })] }),
          valueQuantity: expect.objectContaining({ value: 125, system: UCUM, code: BP.unit })
        }),
        expect.objectContaining({
          code: expect.objectContaining({ coding: [expect.objectContaining({ system: LOINC, code: BP.diastolic })] }),
          valueQuantity: expect.objectContaining({ value: 80, system: UCUM, code: BP.unit })
        })
      ])
      const half = yield* fhir(`/Observation/${systolicOnly}.bp`)
      expect(half.component[0].valueQuantity.value).toBe(131)
      expect(half.component[1].valueQuantity).toBeUndefined()
      expect(half.component[1].dataAbsentReason.coding[0]).toMatchObject({
        system: "http://terminology.hl7.org/CodeSystem/data-absent-reason",
        code: "not-performed"
      })
      // A reading holds only the signs it measured.
      yield* refused(`/Observation/${systolicOnly}.hr`, 404, "not-found")
    }))

  it.effect("codes a measurement's weight and height (and its temperature and pressure) by the profile's table", () =>
    Effect.gen(function*() {
      const { measurement, patient } = yield* ward
      for (const [suffix, sign] of Object.entries(MEASURED)) {
        const observation = yield* fhir(`/Observation/${measurement.id}.${suffix}`)
        expect(observation.code.coding[0]).toMatchObject({ system: LOINC, code: sign.code })
        expect(observation.valueQuantity).toEqual(expect.objectContaining({ value: sign.value, system: UCUM, code: sign.unit }))
        expect(observation.subject).toEqual({ reference: `Patient/${patient.id}` })
        expect(observation.device).toBeUndefined()
      }
      const search = yield* fhir(`/Observation?patient=${patient.id}&code=${LOINC}|${MEASURED.wt.code},${MEASURED.ht.code}`)
      expect(ids(search.entry.map((entry: any) => entry.resource)).sort()).toEqual([`${measurement.id}.ht`, `${measurement.id}.wt`])
      const temperature = yield* fhir(`/Observation/${measurement.id}.temp`)
      expect(temperature.valueQuantity).toEqual(expect.objectContaining({ value: 37.1, code: "Cel" }))
    }))

  it.effect("searches a patient's Observations in pages of _count, every one exactly once, by date or newest first", () =>
    Effect.gen(function*() {
      const { measurement, patient, readings, systolicOnly } = yield* ward
      const expected = [
        ...readings.flatMap(({ id }) => ["hr", "spo2", "temp", "bp", "rr"].map((suffix) => `${id}.${suffix}`)),
        `${systolicOnly}.bp`,
        ...["temp", "bp", "wt", "ht"].map((suffix) => `${measurement.id}.${suffix}`)
      ]
      const { pages, resources } = yield* walk(`/Observation?patient=${patient.id}&_count=7`)
      expect(pages).toBe(Math.ceil(expected.length / 7))
      expect(ids(resources)).toHaveLength(expected.length)
      expect(new Set(ids(resources))).toEqual(new Set(expected))
      const times = resources.map((resource: any) => Date.parse(resource.effectiveDateTime))
      expect(times).toEqual([...times].sort((a, b) => a - b))

      const newest = yield* walk(`/Observation?patient=Patient/${patient.id}&_sort=-date&_count=4`)
      expect(ids(newest.resources)).toHaveLength(expected.length)
      expect(new Set(ids(newest.resources))).toEqual(new Set(expected))
      const descending = newest.resources.map((resource: any) => Date.parse(resource.effectiveDateTime))
      expect(descending).toEqual([...descending].sort((a, b) => b - a))
      expect(newest.resources[0].id.startsWith(measurement.id)).toBe(true)

      // The latest heart rate, as clients ask for it.
      const latest = yield* fhir(`/Observation?subject=Patient/${patient.id}&code=${VITAL_SIGNS.hr.code}&_sort=-date&_count=1`)
      expect(ids(latest.entry.map((entry: any) => entry.resource))).toEqual([`${readings[READINGS - 1]!.id}.hr`])
      expect(latest.link.find((link: any) => link.relation === "next")).toBeDefined()
    }))

  it.effect("filters by code (with or without the LOINC system), by category and by a date range with ge and le", () =>
    Effect.gen(function*() {
      const { device, measurement, patient, readings, systolicOnly } = yield* ward
      const byCode = yield* walk(`/Observation?patient=${patient.id}&code=${VITAL_SIGNS.hr.code}`)
      expect(ids(byCode.resources)).toEqual(readings.map(({ id }) => `${id}.hr`))
      const bySystem = yield* walk(`/Observation?patient=${patient.id}&code=${encodeURIComponent(`${LOINC}|${BP.code}`)}`)
      expect(ids(bySystem.resources)).toEqual([...readings.map(({ id }) => `${id}.bp`), `${systolicOnly}.bp`, `${measurement.id}.bp`])
      // SpO2 is also coded 59408-5 (by pulse oximetry), and found by it.
      const oximetry = yield* walk(`/Observation?patient=${patient.id}&code=59408-5`)
      expect(ids(oximetry.resources)).toEqual(readings.map(({ id }) => `${id}.spo2`))
      const otherSystem = yield* fhir(`/Observation?patient=${patient.id}&code=${encodeURIComponent(`http://snomed.info/sct|${VITAL_SIGNS.hr.code}`)}`)
      expect(otherSystem.entry).toEqual([])
      const otherCategory = yield* fhir(`/Observation?patient=${patient.id}&category=laboratory`)
      expect(otherCategory.entry).toEqual([])
      const vitals = yield* walk(`/Observation?patient=${patient.id}&category=vital-signs&code=${VITAL_SIGNS.rr.code}`)
      expect(vitals.resources).toHaveLength(READINGS)

      const from = readings[3]!.at
      const to = readings[6]!.at
      const range = yield* walk(`/Observation?patient=${patient.id}&code=${VITAL_SIGNS.hr.code}&date=ge${second(from)}&date=le${second(to)}`)
      expect(ids(range.resources)).toEqual(readings.slice(3, 7).map(({ id }) => `${id}.hr`))
      const exclusive = yield* walk(`/Observation?patient=${patient.id}&code=${VITAL_SIGNS.hr.code}&date=gt${second(from)}&date=lt${second(to)}`)
      expect(ids(exclusive.resources)).toEqual(readings.slice(4, 6).map(({ id }) => `${id}.hr`))
      // A day-precision value covers that whole (UTC) day.
      const day = iso(readings[0]!.at).slice(0, 10)
      const sameDay = yield* walk(`/Observation?patient=${patient.id}&code=${VITAL_SIGNS.hr.code}&date=${day}`)
      expect(ids(sameDay.resources)).toEqual(readings.filter(({ at }) => iso(at).startsWith(day)).map(({ id }) => `${id}.hr`))
      const byDevice = yield* walk(`/Observation?patient=${patient.id}&device=Device/${device.id}&code=${BP.code}`)
      expect(ids(byDevice.resources)).toEqual([...readings.map(({ id }) => `${id}.bp`), `${systolicOnly}.bp`])
    }))

  it.effect("searches Patients by identifier and name, and Devices by patient", () =>
    Effect.gen(function*() {
      const { device, patient } = yield* ward
      const subject = `FHIR-${randomUUID().slice(0, 8)}`
      expectStatus(yield* call("POST", "/store-vitals", {
        records: [{ SubjectID: subject, VisitName: "Screening", TreatmentArm: "Active", SystolicBP: 125, DiastolicBP: 80, HeartRate: 72, Temperature: 36.8 }]
      }), 200)
      const bySubject = yield* fhir(`/Patient?identifier=${encodeURIComponent(`urn:vigil:trial-subject|${subject}`)}`)
      expect(bySubject.entry).toHaveLength(1)
      const trialPatient = bySubject.entry[0].resource
      expect(trialPatient.identifier).toEqual([{ system: "urn:vigil:trial-subject", value: subject }])
      const trialVitals = yield* fhir(`/Observation?patient=${trialPatient.id}`)
      expect(trialVitals.entry.map((entry: any) => entry.resource.id.split(".")[1])).toEqual(["hr", "temp", "bp"])
      expect(trialVitals.entry.every((entry: any) => entry.resource.device === undefined)).toBe(true)
      const bare = yield* fhir(`/Patient?identifier=${subject}`)
      expect(ids(bare.entry.map((entry: any) => entry.resource))).toEqual([trialPatient.id])
      const wrongSystem = yield* fhir(`/Patient?identifier=${encodeURIComponent(`urn:other|${subject}`)}`)
      expect(wrongSystem.entry).toEqual([])

      const byId = yield* fhir(`/Patient?_id=${patient.id}`)
      expect(ids(byId.entry.map((entry: any) => entry.resource))).toEqual([patient.id])
      const byName = yield* walk(`/Patient?name=ada&_count=50`)
      expect(ids(byName.resources)).toContain(patient.id)
      expect(byName.resources.every((resource: any) => /(^|\s)ada/i.test(resource.name[0].text))).toBe(true)

      const devices = yield* fhir(`/Device?patient=${patient.id}`)
      expect(ids(devices.entry.map((entry: any) => entry.resource))).toEqual([device.id])
      const bySerial = yield* fhir(`/Device?identifier=${device.serial}`)
      expect(ids(bySerial.entry.map((entry: any) => entry.resource))).toEqual([device.id])
    }))

  it.effect("pages Patients with next links that neither repeat nor skip", () =>
    Effect.gen(function*() {
      const created: Array<string> = []
      const family = `Pager${randomUUID().slice(0, 6)}`
      for (let i = 0; i < 7; i++) {
        created.push(expectStatus(yield* call("POST", "/patients", { full_name: `${family} Number${i}`, age: 40, sex: "M" }), 201).id)
      }
      const { pages, resources } = yield* walk(`/Patient?name=${family}&_count=3`)
      expect(pages).toBe(3)
      expect([...ids(resources)].sort()).toEqual([...created].sort())
    }))

  it.effect("ignores search parameters it does not know (leaving them out of self), and refuses them when strict", () =>
    Effect.gen(function*() {
      const { patient } = yield* ward
      const lenient = yield* fhir(`/Observation?patient=${patient.id}&_count=2&_elements=code&frobnicate=1`)
      const self = lenient.link.find((link: any) => link.relation === "self").url
      expect(self).toBe(`${yield* TestApp.baseUrl}/fhir/R4/Observation?patient=${patient.id}&_count=2`)
      expect(self).not.toContain("frobnicate")
      expect(self).not.toContain("_elements")
      const strict = yield* refused(`/Observation?patient=${patient.id}&frobnicate=1`, 400, "not-supported", {
        headers: { prefer: "handling=strict" }
      })
      expect(strict.issue[0].expression).toEqual(["frobnicate"])
      // Behind a TLS proxy the links say https, on the host the client asked for.
      const proxied = yield* fhir(`/Patient?_count=1`, 200, { "x-forwarded-proto": "https" })
      expect(proxied.link[0].url).toBe(`${(yield* TestApp.baseUrl).replace("http:", "https:")}/fhir/R4/Patient?_count=1`)
    }))

  it.effect("answers errors as OperationOutcomes: unknown ids 404, bad parameters 400 naming them, writes 405, XML 406", () =>
    Effect.gen(function*() {
      const { patient, readings } = yield* ward
      yield* refused(`/Patient/${randomUUID()}`, 404, "not-found")
      yield* refused(`/Patient/not-a-uuid`, 404, "not-found")
      yield* refused(`/Device/${randomUUID()}`, 404, "not-found")
      yield* refused(`/Observation/${randomUUID()}.hr`, 404, "not-found")
      yield* refused(`/Observation/${readings[0]!.id}.xyz`, 404, "not-found")
      yield* refused(`/Encounter/${randomUUID()}`, 404, "not-supported")
      yield* refused(`/Patient/${patient.id}/_history`, 404, "not-supported")

      const noPatient = yield* refused(`/Observation?code=${VITAL_SIGNS.hr.code}`, 400, "not-supported")
      expect(noPatient.issue[0].expression).toEqual(["patient"])
      for (const [query, param] of [
        [`patient=${patient.id}&_count=abc`, "_count"],
        [`patient=${patient.id}&_count=100000`, "_count"],
        [`patient=${patient.id}&_count=-1`, "_count"],
        [`patient=${patient.id}&date=yesterday`, "date"],
        [`patient=${patient.id}&date=ge2026-13-01`, "date"],
        [`patient=${patient.id}&date=sa2026-01-01`, "date"],
        [`patient=${patient.id}&_sort=code`, "_sort"],
        [`patient=${patient.id}&_cursor=bm90LWEtY3Vyc29y`, "_cursor"],
        [`patient=Patient/42`, "patient"],
        [`patient=${patient.id}&device=Device/x`, "device"]
      ] as const) {
        const body = yield* Effect.map(call("GET", `/fhir/R4/Observation?${query}`), (response) => expectStatus(response, 400))
        expect(body.resourceType).toBe("OperationOutcome")
        expect(body.issue[0].expression, query).toEqual([param])
        expect(body.issue[0].diagnostics.length).toBeGreaterThan(0)
      }
      yield* refused(`/Patient/${patient.id}?_count=1`, 400, "not-supported")
      // A value the database cannot compare is the client's mistake too.
      yield* refused(`/Patient?name=a%00b`, 400, "value")

      for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
        const response = yield* call(method, `/fhir/R4/Patient/${patient.id}`, { resourceType: "Patient" })
        expect(response.status).toBe(405)
        expect(response.headers.get("allow")).toBe("GET, HEAD")
        expect(response.body.resourceType).toBe("OperationOutcome")
      }
      yield* refused(`/Patient/${patient.id}`, 406, "not-supported", { headers: { accept: "application/fhir+xml" } })
      yield* refused(`/Patient/${patient.id}?_format=xml`, 406, "not-supported")
      // JSON asked for in any of FHIR's spellings is served.
      for (const accept of ["application/fhir+json", "application/json", "*/*", "application/fhir+xml;q=0.9, application/fhir+json"]) {
        yield* fhir(`/Patient/${patient.id}`, 200, { accept })
      }
      yield* fhir(`/Patient/${patient.id}?_format=json`)
    }))
})
