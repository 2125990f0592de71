/** The small part of autocannon's programmatic API the benchmarks use (the package ships no types). */
declare module "autocannon" {
  namespace autocannon {
    interface Options {
      readonly url: string
      readonly connections?: number
      readonly pipelining?: number
      /** Seconds. */
      readonly duration?: number
      /** Seconds before a request counts as a timeout. */
      readonly timeout?: number
      readonly maxOverallRequests?: number
      readonly method?: string
      readonly headers?: Record<string, string>
      /** Requests per second over all connections; unbounded when absent. */
      readonly overallRate?: number
      /** Requests cycled through; `setupRequest` may rewrite each one before it is sent. */
      readonly requests?: ReadonlyArray<Request>
    }

    interface Request {
      readonly method?: string
      readonly path?: string
      readonly setupRequest?: (request: Request & { path: string }) => Request & { path: string }
    }

    interface Histogram {
      readonly average: number
      readonly mean: number
      readonly stddev: number
      readonly min: number
      readonly max: number
      readonly total: number
      readonly p50: number
      readonly p90: number
      readonly p99: number
    }

    interface Result {
      readonly duration: number
      readonly errors: number
      readonly timeouts: number
      readonly non2xx: number
      readonly resets: number
      readonly "2xx": number
      readonly latency: Histogram
      readonly requests: Histogram & { readonly sent: number }
      readonly statusCodeStats: Record<string, { readonly count: number }>
    }

    interface Instance {
      stop(): void
    }
  }

  function autocannon(
    options: autocannon.Options,
    callback: (error: Error | null, result: autocannon.Result) => void
  ): autocannon.Instance

  export default autocannon
}
