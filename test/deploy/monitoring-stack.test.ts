/**
 * The compose stack's Prometheus and Grafana (issue 17), kept correct by reading them (no Docker
 * engine here): the compose file mounts what exists, Prometheus scrapes Vigil's port and path,
 * Grafana's dashboard uses the provisioned data source, and every metric the dashboard and the
 * alerting rules name is one a running Vigil (with NATS) actually exposes at /metrics.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"
import { Effect, Layer } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { parse } from "yaml"
import { deleteStreams, requireNats, resolveNats, unique } from "../support/nats-server.ts"
import * as TestApp from "../support/test-app.ts"

const root = fileURLToPath(new URL("../../", import.meta.url))
const read = (path: string) => readFileSync(`${root}${path}`, "utf8")
const compose = parse(read("docker-compose.yml")) as any
const prometheus = parse(read("deploy/prometheus/prometheus.yml")) as any
const rules = parse(read("deploy/prometheus/rules.yml")) as any
const datasources = parse(read("deploy/grafana/provisioning/datasources/prometheus.yml")) as any
const providers = parse(read("deploy/grafana/provisioning/dashboards/vigil.yml")) as any
const dashboard = JSON.parse(read("deploy/grafana/dashboards/vigil.json"))

const dashboardExprs: Array<string> = dashboard.panels.flatMap((panel: any) => (panel.targets ?? []).map((t: any) => t.expr))
const ruleExprs: Array<string> = rules.groups.flatMap((group: any) => group.rules.map((rule: any) => rule.expr))
/**
 * Vigil's metric names in PromQL: those with its prefixes, once label matchers (`{...}`) and
 * grouping clauses (`by (...)`) are taken out (labels share the prefixes).
 */
const metricNames = (exprs: ReadonlyArray<string>) =>
  [...new Set(exprs.flatMap((expr) => {
    const names = expr.replace(/\{[^}]*\}/g, "").replace(/\b(?:by|without)\s*\([^)]*\)/g, "")
    return [...names.matchAll(/\b(?:vigil|http|rpc|process|nodejs|effect)_[a-z0-9_]+\b/g)].map((m) => m[0])
  }))]

/** One gRPC lookup, so that the gRPC histogram's series exist. */
const getPatientOverGrpc = (patientId: string) =>
  Effect.gen(function*() {
    const address = yield* TestApp.grpcAddress
    const proto = fileURLToPath(new URL("../../proto/registry.proto", import.meta.url))
    const Registry = (grpc.loadPackageDefinition(protoLoader.loadSync(proto, { keepCase: true })) as any).registry.Registry as grpc.ServiceClientConstructor
    const client = new Registry(address, grpc.credentials.createInsecure())
    yield* Effect.async<void>((resume) => {
      client.GetPatient({ patient_id: patientId }, { deadline: Date.now() + 5_000 }, () => resume(Effect.void))
    }).pipe(Effect.ensuring(Effect.sync(() => client.close())))
  })

const nats = await resolveNats()
const runNats = requireNats(nats, "the dashboard's metrics against a scrape")

describe("the monitoring stack", () => {
  it("mounts files that exist, and Prometheus scrapes Vigil's /metrics on its port", () => {
    for (const name of ["prometheus", "grafana", "lb"]) {
      const service = compose.services[name]
      expect(service, name).toBeDefined()
      for (const volume of service.volumes as Array<string>) {
        const [source] = volume.split(":")
        if (source!.startsWith("./")) expect(existsSync(`${root}${source!.slice(2)}`), volume).toBe(true)
      }
    }
    const [job] = prometheus.scrape_configs
    expect(job.metrics_path).toBe("/metrics")
    // Every replica of `--scale vigil=N`: each address of the service's name, on Vigil's port.
    expect(job.dns_sd_configs).toEqual([expect.objectContaining({ names: ["vigil"], type: "A", port: Number(compose.services.vigil.environment.PORT) })])
    // The rules file is where the mounted folder puts it.
    expect(prometheus.rule_files).toEqual(["/etc/prometheus/rules.yml"])
    expect(compose.services.prometheus.volumes).toContain("./deploy/prometheus:/etc/prometheus:ro")
  })

  it("provisions the data source the dashboard's panels name, and the dashboard from the mounted folder", () => {
    const [source] = datasources.datasources
    expect(source.url).toBe("http://prometheus:9090")
    const uids = new Set(dashboard.panels.filter((p: any) => p.type !== "row").map((p: any) => p.datasource.uid))
    expect([...uids]).toEqual([source.uid])
    expect(providers.providers[0].options.path).toBe("/var/lib/grafana/dashboards")
    expect(compose.services.grafana.volumes).toContain("./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro")
    expect(new Set(dashboard.panels.map((p: any) => p.id)).size).toBe(dashboard.panels.length)
    expect(dashboardExprs.length).toBeGreaterThan(20)
  })
})

describe.skipIf(!runNats)("the dashboard and the rules against a scrape", () => {
  if (!nats.available) return
  const scope = { subjectPrefix: unique("mon").toLowerCase(), streamPrefix: unique("MON").toUpperCase() }
  const teardown = Layer.scopedDiscard(Effect.addFinalizer(() => Effect.promise(() => deleteStreams(nats.url, scope.streamPrefix)).pipe(Effect.ignore)))
  const app = TestApp.layer({ NATS_URL: nats.url, NATS_SUBJECT_PREFIX: scope.subjectPrefix, NATS_STREAM_PREFIX: scope.streamPrefix })

  layer(Layer.merge(app, teardown), { timeout: 60_000, excludeTestServices: true })("Vigil with NATS", (it) => {
    it.effect("exposes every metric the dashboard and the alerting rules use", () =>
      Effect.gen(function*() {
        // Traffic first, so that every labelled series has appeared.
        const patient = (yield* TestApp.call("POST", "/patients", { full_name: "Dashboarded", age: 30, sex: "F" })).body
        const device = (yield* TestApp.call("POST", "/devices", { serial: unique("MON"), firmware: "v1", patient_id: patient.id })).body
        yield* TestApp.call("POST", `/api/v1/devices/${device.id}/readings`, { reading_id: crypto.randomUUID(), heart_rate: 180 })
        yield* getPatientOverGrpc(patient.id)
        const scrape = yield* TestApp.call("GET", "/metrics")
        expect(scrape.status).toBe(200)
        const exposed = new Set(
          (scrape.body as string).split("\n").filter((line) => line.startsWith("# TYPE ")).flatMap((line) => {
            const [, , name, type] = line.split(" ")
            return type === "histogram" ? [name!, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!]
          })
        )
        expect(metricNames(dashboardExprs).filter((name) => !exposed.has(name))).toEqual([])
        expect(metricNames(ruleExprs).filter((name) => !exposed.has(name))).toEqual([])
      }))
  })
})
