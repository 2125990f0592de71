/**
 * Probing ML services' health URLs, as seed 001 does (`base_url` + `endpoints.health`, healthy on
 * HTTP 200 with JSON `status` `healthy` or `ok`), but many at once (at most
 * ML_REGISTRY_PROBE_CONCURRENCY in flight, each bounded by ML_REGISTRY_PROBE_TIMEOUT), only to the
 * hosts ML_REGISTRY_PROBE_HOSTS allows (when set), following no redirect (one could lead
 * elsewhere), and reading at most 64 KB of an answer. A probe never fails: what goes wrong is an
 * `unhealthy` result that says why.
 */
import { Clock, Duration, Effect } from "effect"
import { healthUrl, isHealthyAnswer, type RegisteredService } from "../domain/MlService.ts"
import type { ProbeResult } from "../persistence/MlServiceRepo.ts"
import { MlRegistryConfig } from "./MlRegistryConfig.ts"

const MAX_BODY = 64 * 1024

/** The answer's body, up to `MAX_BODY` bytes (a longer one is cut there, and then is no JSON). */
const readCapped = async (response: Response): Promise<string> => {
  if (response.body === null) return ""
  const reader = response.body.getReader()
  const chunks: Array<Uint8Array> = []
  let size = 0
  while (size < MAX_BODY) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    size += value.length
  }
  await reader.cancel().catch(() => undefined)
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, MAX_BODY))
}

/** Why a probe got no answer: a timeout, or the network's reason (`fetch failed` says nothing; its cause does). */
const failure = (error: unknown, timeoutMillis: number): string => {
  if (!(error instanceof Error)) return String(error)
  if (error.name === "TimeoutError") return `no answer within ${timeoutMillis} ms`
  const cause = error.cause as { readonly code?: unknown; readonly message?: unknown } | undefined
  if (typeof cause?.code === "string") return `${error.message}: ${cause.code}`
  return typeof cause?.message === "string" ? `${error.message}: ${cause.message}` : error.message
}

export class HealthProbes extends Effect.Service<HealthProbes>()("vigil/HealthProbes", {
  effect: Effect.gen(function*() {
    const config = yield* MlRegistryConfig
    const timeoutMillis = Duration.toMillis(config.probeTimeout)

    const allowed = (url: URL) =>
      config.probeHosts.length === 0 || config.probeHosts.includes(url.hostname.toLowerCase()) || config.probeHosts.includes(url.host.toLowerCase())

    const check = async (target: string): Promise<{ readonly healthy: boolean; readonly detail: string }> => {
      let url: URL
      try {
        url = new URL(target)
      } catch {
        return { healthy: false, detail: `not a URL: ${target}` }
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") return { healthy: false, detail: `not an http(s) URL: ${target}` }
      if (!allowed(url)) return { healthy: false, detail: `probes to ${url.host} are not allowed (ML_REGISTRY_PROBE_HOSTS)` }
      try {
        const response = await fetch(url, { redirect: "manual", signal: AbortSignal.timeout(timeoutMillis), headers: { accept: "application/json" } })
        const text = await readCapped(response)
        let body: unknown
        try {
          body = JSON.parse(text)
        } catch {
          body = undefined
        }
        const healthy = isHealthyAnswer(response.status, body)
        const status = typeof body === "object" && body !== null ? (body as { status?: unknown }).status : undefined
        return { healthy, detail: `HTTP ${response.status}${status === undefined ? "" : `, status ${JSON.stringify(status)}`}` }
      } catch (error) {
        return { healthy: false, detail: failure(error, timeoutMillis) }
      }
    }

    /** One service's probe, now. */
    const probe = Effect.fn("HealthProbes.probe")(function*(service: Pick<RegisteredService, "service_id" | "base_url" | "endpoints">) {
      const { detail, healthy } = yield* Effect.promise(() => check(healthUrl(service)))
      return {
        serviceId: service.service_id,
        status: healthy ? "healthy" : "unhealthy",
        detail,
        at: new Date(yield* Clock.currentTimeMillis)
      } satisfies ProbeResult
    })

    /** Every service's probe, at most ML_REGISTRY_PROBE_CONCURRENCY at once. */
    const probeAll = (services: ReadonlyArray<Pick<RegisteredService, "service_id" | "base_url" | "endpoints">>) =>
      Effect.forEach(services, probe, { concurrency: config.probeConcurrency })

    return { probe, probeAll } as const
  })
}) {}
