/**
 * Vigil's composition: the database (migrated), messaging, the outbox relay, monitoring, care
 * coordination, and the doors (HTTP, gRPC, NATS ingest). The
 * demo data is seeded on the first start of an embedded database, or whenever
 * `SEED_DEMO_DATA=true` (it is idempotent).
 */
import { Config, Effect, Layer } from "effect"
import * as RegistryGrpc from "./grpc/RegistryGrpc.ts"
import * as HttpServer from "./http/HttpServer.ts"
import { Database } from "./persistence/Database.ts"
import * as DatabaseLayer from "./persistence/Database.ts"
import * as DemoData from "./persistence/DemoData.ts"
import { EventBus } from "./messaging/EventBus.ts"
import * as IngestConsumer from "./ingest/IngestConsumer.ts"
import * as Messaging from "./messaging/Messaging.ts"
import { OutboxSignal } from "./persistence/OutboxSignal.ts"
import * as OutboxRelay from "./messaging/OutboxRelay.ts"
import * as DurableCluster from "./actors/DurableCluster.ts"
import * as Care from "./Care.ts"
import * as MlRegistryServer from "./http/MlRegistryServer.ts"
import * as MlRegistryLayers from "./MlRegistryLayers.ts"
import * as Monitoring from "./Monitoring.ts"
import * as Tracing from "./observability/Tracing.ts"

const SeedConfig = Config.literal("true", "false", "auto")("SEED_DEMO_DATA").pipe(Config.withDefault("auto" as const))

const DemoDataSeeding = Layer.effectDiscard(Effect.gen(function*() {
  const database = yield* Database
  const setting = yield* SeedConfig
  if (setting === "false" || (setting === "auto" && !database.created)) return
  const added = yield* DemoData.seed()
  yield* Effect.logInfo("demo data seeded").pipe(Effect.annotateLogs(added))
}))

const Announce = Layer.scopedDiscard(Effect.gen(function*() {
  const database = yield* Database
  const http = yield* HttpServer.HttpServer
  const grpc = yield* RegistryGrpc.RegistryGrpcServer
  const mlRegistry = yield* MlRegistryServer.MlRegistryServer
  const bus = yield* EventBus
  yield* Effect.logInfo("vigil started").pipe(Effect.annotateLogs({
    mode: database.mode,
    database: database.location,
    migrationsApplied: database.migrationsApplied,
    http: `http://localhost:${http.port}`,
    docs: `http://localhost:${http.port}/docs`,
    redoc: `http://localhost:${http.port}/redoc`,
    fhir: `http://localhost:${http.port}/fhir/R4/metadata`,
    dashboard: `http://localhost:${http.port}/dashboard`,
    metrics: `http://localhost:${http.port}/metrics`,
    asyncapi: `http://localhost:${http.port}/asyncapi.json`,
    grpc: `localhost:${grpc.port}`,
    mlRegistry: `http://localhost:${mlRegistry.port}`,
    messaging: bus.kind === "nats"
      ? `NATS JetStream (subjects ${bus.subjectPrefix}.>)`
      : "in-process (no NATS_URL: events reach subscribers in this process only)"
  }))
  // Runs first on shutdown, before the doors and the database close.
  yield* Effect.addFinalizer(() => Effect.logInfo("vigil stopping: draining HTTP and gRPC, then closing the database"))
}))

/** The running service, given a database layer (real, embedded, or a test's). */
export const make = <E, R>(database: Layer.Layer<Database | DatabaseLayer.DatabaseServices, E, R>) => {
  // Released in reverse: the doors close (finishing in-flight requests) before the actors stop.
  // The durable cluster is built once (a fresh layer: see DurableCluster.ts), for all that runs on it.
  const durable = Layer.merge(Care.layer, MlRegistryLayers.sweeps).pipe(Layer.provide(DurableCluster.layer))
  const doors = Layer.mergeAll(HttpServer.layer, MlRegistryServer.layer, RegistryGrpc.layer, IngestConsumer.layer).pipe(
    Layer.provide(Layer.mergeAll(Monitoring.layer, durable, MlRegistryLayers.layer))
  )
  return Announce.pipe(
    Layer.provideMerge(doors),
    Layer.provideMerge(OutboxRelay.layer),
    Layer.provideMerge(Messaging.layer),
    Layer.provideMerge(DemoDataSeeding),
    // One signal for the whole process: writers on either cluster wake the one relay.
    Layer.provideMerge(OutboxSignal.Default),
    Layer.provideMerge(database),
    // Traces, when OTEL_EXPORTER_OTLP_ENDPOINT is set: the tracer of everything built above.
    Layer.provide(Tracing.layer)
  )
}

export const layer = make(DatabaseLayer.layer)
