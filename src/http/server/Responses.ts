/**
 * Writing answers on `node:http`: JSON bodies (FastAPI's `{"detail": ...}` for errors), and
 * reading request bodies up to a limit. A 503 always says when to come back (`Retry-After`).
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { ErrorDetail } from "../../domain/ValidationDetail.ts"

/** Seconds a client is asked to wait after a 503. */
export const RETRY_AFTER_SECONDS = 5

/**
 * `JSON.stringify` that never throws: a 422 echoes the caller's input, which may be nested
 * deeper than the stack allows. Then the echoed inputs are left out, and failing that, 500.
 */
const serialise = (status: number, body: unknown): { readonly status: number; readonly text: string } => {
  if (body === undefined) return { status, text: "" }
  try {
    return { status, text: JSON.stringify(body) }
  } catch {
    const detail = (body as { detail?: unknown }).detail
    if (Array.isArray(detail)) {
      try {
        return { status, text: JSON.stringify({ detail: detail.map(({ input: _input, ...rest }) => rest) }) }
      } catch {
        // fall through
      }
    }
    return { status: 500, text: JSON.stringify({ detail: "Internal Server Error" }) }
  }
}

/** `retryAfterSeconds`: when a 429 (or a 503, which always says) may be tried again. */
export const sendJson = (response: ServerResponse, status: number, body: unknown, retryAfterSeconds?: number): void => {
  if (response.headersSent) return
  const { status: sent, text } = serialise(status, body)
  status = sent
  const retryAfter = retryAfterSeconds ?? (status === 503 ? RETRY_AFTER_SECONDS : undefined)
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...(retryAfter !== undefined ? { "retry-after": String(retryAfter) } : {})
  })
  response.end(text)
}

export const sendDetail = (response: ServerResponse, status: number, detail: string | ReadonlyArray<ErrorDetail>) =>
  sendJson(response, status, { detail })

/**
 * Bodies are read as JSON whatever their declared type (`curl -d` sends form-urlencoded), as
 * FastAPI's clients are used to; only multipart is refused outright.
 */
export const isMultipart = (contentType: string | undefined): boolean =>
  contentType !== undefined && contentType.toLowerCase().startsWith("multipart/")

export const readBody = (request: IncomingMessage, limit: number, onDone: (body: Buffer | "too-large") => void) => {
  const chunks: Array<Buffer> = []
  let size = 0
  let finished = false
  request.on("data", (chunk: Buffer) => {
    if (finished) return
    size += chunk.length
    if (size > limit) {
      finished = true
      onDone("too-large")
      return
    }
    chunks.push(chunk)
  })
  request.on("end", () => {
    if (finished) return
    finished = true
    onDone(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks))
  })
  request.on("error", () => {
    finished = true
  })
}

export const queryRecord = (query: string): Record<string, string> => {
  const record: Record<string, string> = {}
  // As in FastAPI, a repeated scalar parameter takes its last value.
  for (const [key, value] of new URLSearchParams(query)) record[key] = value
  return record
}

