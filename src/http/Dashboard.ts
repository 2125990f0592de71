/**
 * `/dashboard`: the live ward page, served by Vigil itself and offline (no build step; uPlot from
 * the installed package for the sparklines). The page and its files are public and hold no data:
 * the page reads `GET /api/v1/ward` and the event stream with the signed-in user's token, so it
 * shows what that user may see.
 */
import type { ServerResponse } from "node:http"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { publicRoute } from "./Access.ts"
import type { RawRoute } from "./Handlers.ts"
import { lazyFile, packageDir, sendText } from "./StaticFiles.ts"

const HERE = dirname(fileURLToPath(import.meta.url))
const UPLOT = join(packageDir("uplot"), "dist")

/** Only this origin's scripts, styles (uPlot sets inline sizes), data and event stream. */
const CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

const file = (path: string, contentType: string, cacheSeconds: number) => {
  const content = lazyFile(() => path)
  return (response: ServerResponse) =>
    sendText(response, contentType, content(), { cacheSeconds, headers: { "content-security-policy": CSP, "x-content-type-options": "nosniff" } })
}

const DAY = 86_400

export const routes = (): ReadonlyArray<RawRoute> => {
  const served: ReadonlyArray<readonly [string, ReturnType<typeof file>]> = [
    ["/dashboard", file(join(HERE, "dashboard", "index.html"), "text/html; charset=utf-8", 0)],
    ["/dashboard/dashboard.js", file(join(HERE, "dashboard", "dashboard.js"), "text/javascript; charset=utf-8", 0)],
    ["/dashboard/dashboard.css", file(join(HERE, "dashboard", "dashboard.css"), "text/css; charset=utf-8", 0)],
    ["/dashboard/uPlot.iife.min.js", file(join(UPLOT, "uPlot.iife.min.js"), "text/javascript; charset=utf-8", DAY)],
    ["/dashboard/uPlot.min.css", file(join(UPLOT, "uPlot.min.css"), "text/css; charset=utf-8", DAY)]
  ]
  return served.map(([path, send]): RawRoute => ({
    method: "GET",
    path,
    policy: publicRoute,
    handle: (request, response) => {
      request.resume()
      send(response)
    }
  }))
}
