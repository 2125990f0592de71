/**
 * Raw routes' plumbing for fixed answers (documents, pages, scripts): where an installed package's
 * files are, a file read once on first use, and one way to send a text or file body.
 */
import { readFileSync } from "node:fs"
import type { ServerResponse } from "node:http"
import { createRequire } from "node:module"
import { dirname } from "node:path"

const require = createRequire(import.meta.url)

/** The folder of an installed package. */
export const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`))

/** Reads a file once, on first request, so start-up does not pay for pages nobody opens. */
export const lazyFile = (path: () => string) => {
  let content: Buffer | undefined
  return () => (content ??= readFileSync(path()))
}

export interface SendOptions {
  readonly status?: number | undefined
  /** Cacheable this long (public); otherwise `no-cache`. */
  readonly cacheSeconds?: number | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
}

export const sendText = (response: ServerResponse, contentType: string, body: string | Buffer, options: SendOptions = {}) => {
  if (response.headersSent) return
  const cacheSeconds = options.cacheSeconds ?? 0
  response.writeHead(options.status ?? 200, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
    "cache-control": cacheSeconds > 0 ? `public, max-age=${cacheSeconds}` : "no-cache",
    ...options.headers
  })
  response.end(body)
}
