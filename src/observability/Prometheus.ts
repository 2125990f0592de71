/**
 * The Prometheus text format (version 0.0.4) of Effect's metric registry, plus families computed
 * at scrape time (the process's own figures, gauges read from the database or NATS). Counters
 * keep their `_total` names; histograms give cumulative `_bucket{le}` lines, `_sum` and `_count`;
 * label values are escaped as the format says.
 */
import { Effect, Metric, type MetricPair, MetricState, Option } from "effect"
import { constants, monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks"

export interface Sample {
  readonly labels?: Readonly<Record<string, string>> | undefined
  readonly value: number
}

/** A metric computed at scrape time. */
export interface Family {
  readonly name: string
  readonly help: string
  readonly type: "gauge" | "counter"
  readonly samples: ReadonlyArray<Sample>
}

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, "\\\"")
const escapeHelp = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")
const metricName = (name: string) => name.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/^([0-9])/, "_$1")
const labelName = (name: string) => name.replace(/[^a-zA-Z0-9_]/g, "_").replace(/^([0-9])/, "_$1")

const formatValue = (value: number | bigint) => {
  if (typeof value === "bigint") return value.toString()
  if (Number.isNaN(value)) return "NaN"
  if (value === Infinity) return "+Inf"
  if (value === -Infinity) return "-Inf"
  return String(value)
}

const labelText = (labels: ReadonlyArray<readonly [string, string]>) =>
  labels.length === 0 ? "" : `{${labels.map(([k, v]) => `${labelName(k)}="${escapeLabel(v)}"`).join(",")}}`

interface Lines {
  help: string
  type: string
  readonly lines: Array<string>
}

/** The exposition of the registry's metrics and `families`, one block per metric name. */
export const render = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>, families: ReadonlyArray<Family>): string => {
  const blocks = new Map<string, Lines>()
  const block = (name: string, type: string, help: string) => {
    let found = blocks.get(name)
    if (found === undefined) {
      found = { help, type, lines: [] }
      blocks.set(name, found)
    }
    if (found.help === "" && help !== "") found.help = help
    return found
  }
  for (const pair of pairs) {
    const name = metricName(pair.metricKey.name)
    const help = Option.getOrElse(pair.metricKey.description, () => "")
    const labels = pair.metricKey.tags.map((tag) => [tag.key, tag.value] as const)
    const state = pair.metricState
    if (MetricState.isCounterState(state)) {
      block(name, "counter", help).lines.push(`${name}${labelText(labels)} ${formatValue(state.count)}`)
    } else if (MetricState.isGaugeState(state)) {
      block(name, "gauge", help).lines.push(`${name}${labelText(labels)} ${formatValue(state.value)}`)
    } else if (MetricState.isHistogramState(state)) {
      const lines = block(name, "histogram", help).lines
      let infinite = false
      for (const [boundary, count] of state.buckets) {
        if (boundary === Infinity) infinite = true
        lines.push(`${name}_bucket${labelText([...labels, ["le", formatValue(boundary)]])} ${count}`)
      }
      if (!infinite) lines.push(`${name}_bucket${labelText([...labels, ["le", "+Inf"]])} ${state.count}`)
      lines.push(`${name}_sum${labelText(labels)} ${formatValue(state.sum)}`, `${name}_count${labelText(labels)} ${state.count}`)
    } else if (MetricState.isSummaryState(state)) {
      const lines = block(name, "summary", help).lines
      for (const [quantile, value] of state.quantiles) {
        if (Option.isSome(value)) lines.push(`${name}${labelText([...labels, ["quantile", String(quantile)]])} ${formatValue(value.value)}`)
      }
      lines.push(`${name}_sum${labelText(labels)} ${formatValue(state.sum)}`, `${name}_count${labelText(labels)} ${state.count}`)
    } else if (MetricState.isFrequencyState(state)) {
      for (const [word, count] of state.occurrences) {
        block(`${name}_total`, "counter", help).lines.push(`${name}_total${labelText([...labels, ["value", word]])} ${count}`)
      }
    }
  }
  for (const family of families) {
    const name = metricName(family.name)
    const lines = block(name, family.type, family.help).lines
    for (const sample of family.samples) lines.push(`${name}${labelText(Object.entries(sample.labels ?? {}))} ${formatValue(sample.value)}`)
  }
  let text = ""
  for (const [name, { help, lines, type }] of blocks) {
    if (lines.length === 0) continue
    if (help !== "") text += `# HELP ${name} ${escapeHelp(help)}\n`
    text += `# TYPE ${name} ${type}\n${lines.join("\n")}\n`
  }
  return text
}

/** The registry now. */
export const snapshot = Metric.snapshot

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb"
}

/**
 * The process's own figures (CPU, memory, event-loop delay, garbage collection), as families.
 * Watches the event loop and the collector while the scope is open; each scrape reports the
 * event-loop delay since the previous one.
 */
export const processFigures = Effect.gen(function*() {
  const delay = monitorEventLoopDelay({ resolution: 10 })
  const gcSeconds = new Map<string, number>()
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = GC_KINDS[(entry as unknown as { detail?: { kind?: number } }).detail?.kind ?? -1] ?? "other"
      gcSeconds.set(kind, (gcSeconds.get(kind) ?? 0) + entry.duration / 1000)
    }
  })
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      delay.enable()
      gc.observe({ entryTypes: ["gc"] })
    }),
    () => Effect.sync(() => {
      delay.disable()
      gc.disconnect()
    })
  )
  const started = Date.now() / 1000 - process.uptime()
  return (): ReadonlyArray<Family> => {
    const cpu = process.cpuUsage()
    const memory = process.memoryUsage()
    const seconds = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0)
    const families: Array<Family> = [
      { name: "process_cpu_user_seconds_total", help: "User CPU time spent", type: "counter", samples: [{ value: cpu.user / 1e6 }] },
      { name: "process_cpu_system_seconds_total", help: "System CPU time spent", type: "counter", samples: [{ value: cpu.system / 1e6 }] },
      { name: "process_cpu_seconds_total", help: "User and system CPU time spent", type: "counter", samples: [{ value: (cpu.user + cpu.system) / 1e6 }] },
      { name: "process_resident_memory_bytes", help: "Resident memory size", type: "gauge", samples: [{ value: memory.rss }] },
      { name: "process_start_time_seconds", help: "Start time of the process since the Unix epoch", type: "gauge", samples: [{ value: Math.round(started) }] },
      { name: "nodejs_heap_size_used_bytes", help: "V8 heap in use", type: "gauge", samples: [{ value: memory.heapUsed }] },
      { name: "nodejs_heap_size_total_bytes", help: "V8 heap reserved", type: "gauge", samples: [{ value: memory.heapTotal }] },
      { name: "nodejs_external_memory_bytes", help: "Memory of C++ objects bound to JavaScript", type: "gauge", samples: [{ value: memory.external }] },
      {
        name: "nodejs_eventloop_delay_seconds",
        help: "Event-loop delay since the previous scrape",
        type: "gauge",
        samples: [
          { labels: { quantile: "0.5" }, value: seconds(delay.percentile(50)) },
          { labels: { quantile: "0.99" }, value: seconds(delay.percentile(99)) },
          { labels: { quantile: "1" }, value: seconds(delay.max) }
        ]
      },
      {
        name: "nodejs_gc_duration_seconds_total",
        help: "Time spent in garbage collection, by kind",
        type: "counter",
        samples: [...gcSeconds].map(([kind, value]) => ({ labels: { kind }, value }))
      }
    ]
    delay.reset()
    return families
  }
})
