/**
 * DESIGN.md section 3: dependencies point inwards. A module imports only from its own layer or
 * below; `domain/` imports nothing of Vigil's outside itself. Checked on every import of `src/`.
 */
import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const SRC = fileURLToPath(new URL("../src", import.meta.url))

/** Outermost first: 1 composition, 2 doors, 3 application services, 4 actors, 5 infrastructure, 6 domain. */
const LAYERS: Record<string, number> = {
  "": 1,
  sdk: 1,
  http: 2,
  grpc: 2,
  ingest: 2,
  services: 3,
  actors: 4,
  persistence: 5,
  messaging: 5,
  observability: 5,
  domain: 6
}

const files = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []
  )

/** The top folder under `src/` ("" for the composition files at its root). */
const area = (file: string) => {
  const parts = relative(SRC, file).split("/")
  return parts.length === 1 ? "" : parts[0]!
}

const imports = (file: string) =>
  [...readFileSync(file, "utf8").matchAll(/^(?:import|export)\b[^'"]*?from\s+["'](\.[^"']+)["']/gm)].map((m) => resolve(dirname(file), m[1]!))

describe("architecture", () => {
  it("every folder of src/ is placed in a layer", () => {
    const areas = new Set(files(SRC).map(area))
    expect([...areas].filter((a) => !(a in LAYERS))).toEqual([])
  })

  it("no module imports from a layer above its own", () => {
    const violations = files(SRC).flatMap((file) =>
      imports(file)
        .filter((target) => target.startsWith(SRC))
        .filter((target) => LAYERS[area(target)]! < LAYERS[area(file)]!)
        .map((target) => `${relative(SRC, file)} -> ${relative(SRC, target)}`)
    )
    expect(violations).toEqual([])
  })

  it("no module of src/ is longer than 400 lines (two concepts, usually)", () => {
    const long = files(SRC).filter((file) => readFileSync(file, "utf8").split("\n").length > 400).map((file) => relative(SRC, file))
    expect(long).toEqual([])
  })
})
