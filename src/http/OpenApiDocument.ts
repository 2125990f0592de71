/**
 * The OpenAPI documents' one correction of what `HttpApi` derives: validation errors are FastAPI's
 * 422 with the `detail` list (what Vigil answers), not `HttpApiDecodeError`'s 400.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { ValidationErrorBody } from "../domain/ValidationDetail.ts"

/**
 * `HttpApi.make` declares a 400 `HttpApiDecodeError` for every route; Vigil answers invalid input
 * with FastAPI's 422 instead, so the document says that.
 */
export const documentValidationErrors = (spec: Record<string, any>): Record<string, any> => {
  for (const pathItem of Object.values(spec.paths ?? {}) as Array<Record<string, any>>) {
    for (const operation of Object.values(pathItem)) {
      const responses = operation?.responses
      if (!responses) continue
      delete responses["400"]
      if (operation.parameters?.length || operation.requestBody) {
        responses["422"] = {
          description: "Validation Error",
          content: { "application/json": { schema: { $ref: "#/components/schemas/HTTPValidationError" } } }
        }
      }
    }
  }
  const schemas = (spec.components ??= {}).schemas ??= {}
  delete schemas.HttpApiDecodeError
  delete schemas.Issue
  delete schemas.PropertyKey
  schemas.HTTPValidationError = OpenApi.fromApi(ValidationDocApi).components.schemas.HTTPValidationError
  return spec
}

/** Used only to render the 422 body's JSON schema. */
class ValidationDocApi extends HttpApi.make("validation").add(
  HttpApiGroup.make("validation").add(HttpApiEndpoint.get("validation", "/").addSuccess(ValidationErrorBody))
) {}

