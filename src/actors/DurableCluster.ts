/**
 * The durable actor runtime: `@effect/cluster`'s Sharding with its messages and runners in
 * PostgreSQL (tables `vigil_cluster_*`), and the workflow engine on top of it. What must survive
 * a crash runs here: the `Appointment` actor's commands, the appointment workflows (their
 * activities' results, their durable sleeps) and the cluster-wide singletons.
 *
 * Why beside the in-memory runtime of `Cluster.ts` rather than instead of it: the monitors' and
 * devices' messages are volatile and need a transport between processes to live once in the
 * cluster, which Vigil does not have yet (DESIGN.md section 11, "Runners over NATS"). Here every
 * process registers as the same runner; the shards (and so every entity, workflow and singleton)
 * belong to the one process holding their PostgreSQL advisory locks, and the other processes'
 * persisted messages reach it through the message tables. When that process dies its connection
 * closes, the locks are free, and another process takes the shards over and resumes what was in
 * flight. So messages sent here must be persisted; a volatile one works only on the process that
 * holds the shards (the workflows' own calls, which run there).
 *
 * The cluster creates its tables when the layer is built; processes starting at once on an empty
 * database would race on that DDL, so it runs under an advisory lock (docs/cluster.md).
 */
import * as ClusterWorkflowEngine from "@effect/cluster/ClusterWorkflowEngine"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Runners from "@effect/cluster/Runners"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import { SqlClient } from "@effect/sql"
import type { WorkflowEngine } from "@effect/workflow/WorkflowEngine"
import { Config, Duration, Effect, Layer, Option } from "effect"
import { ActorConfig } from "./Cluster.ts"

/** The cluster's tables are `vigil_cluster_messages`, `_replies`, `_runners`, `_locks`, `_migrations`. */
export const TABLE_PREFIX = "vigil_cluster"

/** Arbitrary, fixed (beside the migrator's 7_346_210_001): serialises the cluster's own DDL across processes. */
const DDL_LOCK = 7_346_210_004

/** Every process is this one runner until runners have a transport (see the header). */
const RUNNER = RunnerAddress.make("vigil", 1)

export const DurableClusterConfig = Config.all({
  /**
   * How often the shard holder looks for messages written by other processes, and for durable
   * sleeps that are due: the precision of a reminder, and the delay of a command sent from
   * another process.
   */
  pollInterval: Config.duration("CLUSTER_POLL_INTERVAL").pipe(Config.withDefault("500 millis"))
})

/** Builds `layer` holding a session advisory lock on a connection of its own, so its DDL runs in one process at a time. */
const withDdlLock = <A, E, R>(layer: Layer.Layer<A, E, R>) =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const layerScope = yield* Effect.scope
    const context = yield* Effect.scoped(Effect.gen(function*() {
      const connection = yield* sql.reserve
      yield* connection.executeRaw(`SELECT pg_advisory_lock(${DDL_LOCK})`, [])
      yield* Effect.addFinalizer(() => Effect.ignore(connection.executeRaw(`SELECT pg_advisory_unlock(${DDL_LOCK})`, [])))
      return yield* Layer.buildWithScope(layer, layerScope)
    }))
    return Layer.succeedContext(context)
  }))

const storage = withDdlLock(Layer.merge(
  SqlMessageStorage.layerWith({ prefix: TABLE_PREFIX }),
  SqlRunnerStorage.layerWith({ prefix: TABLE_PREFIX })
)).pipe(Layer.orDie)

/**
 * Sharding and MessageStorage on PostgreSQL, with the workflow engine. Composed by hand rather
 * than with `SingleRunner.layer`, which reads `HOST`/`PORT` (Vigil's own variables) into its
 * configuration.
 */
export const layer: Layer.Layer<
  Sharding.Sharding | MessageStorage.MessageStorage | WorkflowEngine,
  never,
  SqlClient.SqlClient
> = Layer.unwrapEffect(Effect.map(Effect.all([ActorConfig, DurableClusterConfig]).pipe(Effect.orDie), ([actors, durable]) =>
  ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(Sharding.layer),
    Layer.provideMerge(Runners.layerNoop),
    Layer.provideMerge(storage),
    Layer.provide(RunnerHealth.layerNoop),
    Layer.provide(ShardingConfig.layer({
      runnerAddress: Option.some(RUNNER),
      entityMessagePollInterval: durable.pollInterval,
      entityReplyPollInterval: durable.pollInterval,
      // Its entities keep nothing in memory (the Appointment actor reads its row per command, a
      // workflow is done once it has run or suspended): one per booking would otherwise stay for
      // ACTOR_MAX_IDLE_TIME (5 minutes), thousands of them under load, for the collector to trace.
      entityMaxIdleTime: Duration.min(actors.maxIdleTime, Duration.seconds(15)),
      entityTerminationTimeout: actors.terminationTimeout,
      simulateRemoteSerialization: false
    }))
  )
)).pipe(
  // Built apart (layers are memoised by identity, and `Cluster.ts` builds the same `Sharding.layer`
  // and `Runners.layerNoop` for the in-memory runtime: shared, both runtimes would be that one).
  // Provide it once: each use of a fresh layer builds another cluster.
  Layer.fresh
)

/**
 * Runs effects on the durable cluster from a fiber that is not one of its own (a door's request,
 * which carries the in-memory cluster's Sharding). The workflow engine resolves the Sharding of
 * its entity clients from the caller's context, and caches the client it made: a workflow started
 * from outside with the wrong Sharding in context would go to the wrong cluster, and so would
 * every start after it. Take this where the durable cluster is provided; use it for every
 * workflow call made from outside.
 */
export const runIn = Effect.map(
  Effect.context<Sharding.Sharding | MessageStorage.MessageStorage | WorkflowEngine>(),
  (context) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, Sharding.Sharding | MessageStorage.MessageStorage | WorkflowEngine>> =>
    Effect.provide(effect, context)
)
