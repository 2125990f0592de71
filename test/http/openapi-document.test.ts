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
