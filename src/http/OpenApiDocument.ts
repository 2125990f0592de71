/**
 * The OpenAPI documents' corrections of what `HttpApi` derives: validation errors are FastAPI's
 * 422 with the `detail` list (what Vigil answers), not `HttpApiDecodeError`'s 400; and the
 * document is valid OpenAPI 3.1 (a test checks it with a validator).
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
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
  // The 422 body's schema, with the schemas it refers to (its `ValidationErrorDetail` items).
  Object.assign(schemas, OpenApi.fromApi(ValidationDocApi).components.schemas)
  dropSharedIds(spec)
  return spec
}

/**
 * Effect renders `Schema.Unknown` (and its kin) as `{"$id": "/schemas/unknown"}` wherever it
 * appears, but a `$id` names one schema in the whole document: repeated, the document is invalid.
 * Without it, the schema is the same (any value).
 */
const dropSharedIds = (node: unknown): void => {
  if (Array.isArray(node)) return node.forEach(dropSharedIds)
  if (typeof node !== "object" || node === null) return
  const record = node as Record<string, unknown>
  if (typeof record.$id === "string" && record.$id.startsWith("/schemas/")) delete record.$id
  Object.values(record).forEach(dropSharedIds)
}

/**
 * Declares the bearer scheme (`components.securitySchemes.bearer`, a JWT) on every operation
 * whose policy is not public, with its 401 and 403 answers, so generated clients send the token.
 */
export const documentSecurity = (
  spec: Record<string, any>,
  api: HttpApi.HttpApi.Any,
  policies: Record<string, Record<string, { readonly public: boolean; readonly denied: string }>>
): Record<string, any> => {
  const { groups } = api as unknown as HttpApi.HttpApi.AnyWithProps
  const detail = { "application/json": { schema: { type: "object", required: ["detail"], properties: { detail: { type: "string" } } } } }
  let secured = false
  for (const group of Object.values(groups) as Array<HttpApiGroup.HttpApiGroup.AnyWithProps>) {
    for (const endpoint of Object.values(group.endpoints) as Array<HttpApiEndpoint.HttpApiEndpoint.AnyWithProps>) {
      const policy = policies[group.identifier]?.[endpoint.name]
      if (policy === undefined || policy.public) continue
      const path = endpoint.path.replace(/:(\w+)/g, "{$1}")
      const operation = spec.paths?.[path]?.[endpoint.method.toLowerCase()]
      if (operation === undefined) continue
      secured = true
      operation.security = [{ bearer: [] }]
      operation.responses ??= {}
      operation.responses["401"] ??= { description: "No token, or one that names nobody (seed 004 v2's messages)", content: detail }
      operation.responses["403"] ??= { description: `The caller may not do this ("${policy.denied}")`, content: detail }
    }
  }
  if (secured) {
    ;((spec.components ??= {}).securitySchemes ??= {}).bearer = {
      type: "http",
      scheme: "bearer",
      bearerFormat: "JWT",
      description: "A token from POST /api/v1/auth/login (users) or POST /api/v1/auth/machine-tokens (devices, ML services)"
    }
  }
  return spec
}

/** Used only to render the 422 body's JSON schema. */
class ValidationDocApi extends HttpApi.make("validation").add(
  HttpApiGroup.make("validation").add(HttpApiEndpoint.get("validation", "/").addSuccess(ValidationErrorBody))
) {}

