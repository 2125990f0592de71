/**
 * The API's documentation, served from the process with no network access: the OpenAPI document
 * derived from `VigilApi`, Swagger UI at `/docs` and ReDoc at `/redoc`, their scripts read from
 * the `swagger-ui-dist` and `redoc` packages.
 */
import type * as HttpApi from "@effect/platform/HttpApi"
import * as OpenApi from "@effect/platform/OpenApi"
import { join } from "node:path"
import { VigilApi } from "./Api.ts"
import { publicRoute } from "./Access.ts"
import type { RawRoute } from "./Handlers.ts"
import { documentSecurity } from "./OpenApiDocument.ts"
import { mlRegistryPolicies, policies as vigilPolicies } from "./Policies.ts"
import { MlRegistryApi } from "./MlRegistryApi.ts"
import { lazyFile, packageDir, sendText } from "./StaticFiles.ts"

const swaggerHtml = (title: string) => `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <title>${title} — Swagger UI</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css" />
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true })</script>
</body>
</html>`

const redocHtml = (title: string) => `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <title>${title} — ReDoc</title>
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <style>body { margin: 0; padding: 0; }</style>
</head>
<body>
  <redoc spec-url="/openapi.json"></redoc>
  <script src="/redoc/redoc.standalone.js"></script>
</body>
</html>`

/** The document of `api` (Vigil's or the ML registry's), with its routes' security. */
export const openApiDocument = (api: HttpApi.HttpApi.Any = VigilApi): OpenApi.OpenAPISpec =>
  documentSecurity(
    OpenApi.fromApi(api as typeof VigilApi),
    api,
    (api === (MlRegistryApi as HttpApi.HttpApi.Any) ? mlRegistryPolicies : vigilPolicies) as never
  ) as OpenApi.OpenAPISpec

/** `api`'s documentation pages (Vigil's by default; the ML registry's on its own port). */
export const routes = (api: HttpApi.HttpApi.Any = VigilApi, title = "Vigil API"): ReadonlyArray<RawRoute> => {
  const spec = JSON.stringify(openApiDocument(api))
  const swaggerBundle = lazyFile(() => join(packageDir("swagger-ui-dist"), "swagger-ui-bundle.js"))
  const swaggerCss = lazyFile(() => join(packageDir("swagger-ui-dist"), "swagger-ui.css"))
  const redocBundle = lazyFile(() => join(packageDir("redoc"), "bundles", "redoc.standalone.js"))
  const day = 86_400
  return [
    { method: "GET", path: "/openapi.json", policy: publicRoute, handle: (_, res) => sendText(res, "application/json", spec) },
    { method: "GET", path: "/docs", policy: publicRoute, handle: (_, res) => sendText(res, "text/html; charset=utf-8", swaggerHtml(title)) },
    { method: "GET", path: "/docs/swagger-ui-bundle.js", policy: publicRoute, handle: (_, res) => sendText(res, "text/javascript", swaggerBundle(), { cacheSeconds: day }) },
    { method: "GET", path: "/docs/swagger-ui.css", policy: publicRoute, handle: (_, res) => sendText(res, "text/css", swaggerCss(), { cacheSeconds: day }) },
    { method: "GET", path: "/redoc", policy: publicRoute, handle: (_, res) => sendText(res, "text/html; charset=utf-8", redocHtml(title)) },
    { method: "GET", path: "/redoc/redoc.standalone.js", policy: publicRoute, handle: (_, res) => sendText(res, "text/javascript", redocBundle(), { cacheSeconds: day }) }
  ]
}
