/**
 * The OpenAPI documents Vigil serves (`/openapi.json` on its port and on the ML registry's) are
 * valid OpenAPI 3.1, checked by a maintained validator (@seriousme/openapi-schema-validator): the
 * schema of the specification, and every `$ref` resolved, so generated clients can use them.
 */
import { Validator } from "@seriousme/openapi-schema-validator"
import { describe, expect, it } from "vitest"
import { VigilApi } from "../../src/http/Api.ts"
import { openApiDocument } from "../../src/http/Docs.ts"
import { MlRegistryApi } from "../../src/http/MlRegistryApi.ts"

describe("the OpenAPI documents", () => {
  for (const [name, api] of [["Vigil's", VigilApi], ["the ML registry's", MlRegistryApi]] as const) {
    it(`${name} is valid OpenAPI 3.1, every reference resolved`, async () => {
      const document = openApiDocument(api)
      expect(document.openapi).toBe("3.1.0")
      const result = await new Validator().validate(structuredClone(document) as unknown as Record<string, unknown>)
      expect(result.errors ?? []).toEqual([])
      expect(result.valid).toBe(true)
    })
  }

  it("declares FastAPI's 422 body with the schema of its entries", () => {
    const schemas = openApiDocument(VigilApi).components.schemas as Record<string, unknown>
    expect(Object.keys(schemas)).toEqual(expect.arrayContaining(["HTTPValidationError", "ValidationErrorDetail"]))
    expect(JSON.stringify(openApiDocument(VigilApi))).not.toContain("/schemas/unknown")
  })
})

describe("the bearer scheme in the OpenAPI documents", () => {
  // Open without a token: the rules (seed 004 v2's and issue 14's), written here, not read from Policies.ts.
  const OPEN = new Set(["get /health", "get /ready", "get /", "post /api/v1/auth/login", "get /.well-known/jwks.json"])
  for (const [name, api] of [["Vigil's", VigilApi], ["the ML registry's", MlRegistryApi]] as const) {
    it(`${name} declares it on every operation that needs a token, with its 401 and 403, and on no other`, () => {
      const document = openApiDocument(api) as unknown as {
        paths: Record<string, Record<string, { security?: Array<Record<string, unknown>>; responses: Record<string, unknown> }>>
        components: { securitySchemes?: Record<string, unknown> }
      }
      expect(document.components.securitySchemes?.bearer).toEqual(expect.objectContaining({ type: "http", scheme: "bearer", bearerFormat: "JWT" }))
      for (const [path, item] of Object.entries(document.paths)) {
        for (const [method, operation] of Object.entries(item)) {
          const label = `${method} ${path}`
          if (OPEN.has(label)) {
            expect(operation.security ?? [], label).toEqual([])
          } else {
            expect(operation.security, label).toEqual([{ bearer: [] }])
            expect(Object.keys(operation.responses), label).toEqual(expect.arrayContaining(["401", "403"]))
          }
        }
      }
    })
  }
})
