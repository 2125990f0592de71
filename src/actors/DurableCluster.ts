/**
 * The durable actor runtime: `@effect/cluster`'s Sharding with its messages and runners in
 * PostgreSQL (tables `vigil_cluster_*`), and the workflow engine on top of it. What must survive
 * a crash runs here: the `Appointment` actor's commands, the appointment workflows (their
 * activities' results, their durable sleeps) and the cluster-wide singletons.
 *
 * With NATS (`overNats`), every process is a runner of its own and runners talk over NATS
 * (`NatsRunners.ts`): each entity, workflow and singleton lives once in the cluster, on whichever
 * runner holds its shard, and the monitors, devices and ML services run here too (`Cluster.ts` is
 * this same layer then). A dead runner's shards move once it is found gone and its advisory locks
 * are free.
 *
 * Without NATS there is no transport: every process registers as the same runner; the shards
 * (and so every entity, workflow and singleton) belong to the one process holding their
 * PostgreSQL advisory locks, and the other processes' persisted messages reach it through the
 * message tables. When that process dies its connection closes, the locks are free, and another
 * process takes the shards over and resumes what was in flight. So messages sent here must be
 * persisted; a volatile one works only on the process that holds the shards (the workflows' own
 * calls, which run there).
 *
 * The cluster creates its tables when the layer is built; processes starting at once on an empty
 * database would race on that DDL, so it runs under an advisory lock (docs/cluster.md).
 */
import * as ClusterWorkflowEngine from "@effect/cluster/ClusterWorkflowEngine"
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Runners from "@effect/cluster/Runners"
import * as RunnerServer from "@effect/cluster/RunnerServer"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import { SqlClient } from "@effect/sql"
import type { WorkflowEngine } from "@effect/workflow/WorkflowEngine"
import { Config, Duration, Effect, Layer, Option } from "effect"
import { hostname } from "node:os"
import { Nats } from "../messaging/NatsBus.ts"
import { ActorConfig } from "./ActorConfig.ts"
import * as NatsRunners from "./NatsRunners.ts"

/** The cluster's tables are `vigil_cluster_messages`, `_replies`, `_runners`, `_locks`, `_migrations`. */
export const TABLE_PREFIX = "vigil_cluster"

/** Arbitrary, fixed (beside the migrator's 7_346_210_001): serialises the cluster's own DDL across processes. */
const DDL_LOCK = 7_346_210_004

/** Without NATS every process is this one runner (see the header). */
const RUNNER = RunnerAddress.make("vigil", 1)

/** This process as a runner of the cluster over NATS. */
export const RunnerConfig = Config.all({
  /** The runner's name in the cluster, with its port: the host's name by default. */
  host: Config.string("CLUSTER_RUNNER_HOST").pipe(Config.withDefault(hostname())),
  /**
   * Not a socket's port (runners talk over NATS), only what tells runners apart: drawn at random
   * for each start by default, so that processes on one host (or restarts) never share an address.
   */
  port: Config.option(Config.integer("CLUSTER_RUNNER_PORT")),
  /** How often the cluster asks every runner whether it is alive. */
  healthCheckInterval: Config.duration("CLUSTER_HEALTH_CHECK_INTERVAL").pipe(Config.withDefault(Duration.seconds(2))),
  /** A runner whose heartbeat is older than this is gone, whatever the health check says. */
  expiration: Config.duration("CLUSTER_RUNNER_EXPIRATION").pipe(Config.withDefault(Duration.seconds(12)))
})

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

const durableSettings = Effect.all([ActorConfig, DurableClusterConfig]).pipe(
  Effect.orDie,
  Effect.map(([actors, durable]) => ({
    entityMessagePollInterval: durable.pollInterval,
    entityReplyPollInterval: durable.pollInterval,
    // Its entities keep nothing in memory (the Appointment actor reads its row per command, a
    // workflow is done once it has run or suspended): one per booking would otherwise stay for
    // ACTOR_MAX_IDLE_TIME (5 minutes), thousands of them under load, for the collector to trace.
    // The monitors, devices and ML services, which do keep state, set their own idle time.
    entityMaxIdleTime: Duration.min(actors.maxIdleTime, Duration.seconds(15)),
    entityTerminationTimeout: actors.terminationTimeout,
    simulateRemoteSerialization: false
  }))
)

type ClusterServices = Sharding.Sharding | MessageStorage.MessageStorage | WorkflowEngine

/** One process alone (no NATS): the runner every process is, the shards with whoever holds their locks. */
const singleRunner: Layer.Layer<ClusterServices, never, SqlClient.SqlClient> = Layer.unwrapEffect(Effect.map(durableSettings, (settings) =>
  ClusterWorkflowEngine.layer.pipe(
    Layer.provideMerge(Sharding.layer),
    Layer.provideMerge(Runners.layerNoop),
    Layer.provideMerge(storage),
    Layer.provide(RunnerHealth.layerNoop),
    Layer.provide(ShardingConfig.layer({ ...settings, runnerAddress: Option.some(RUNNER) }))
  )
)).pipe(
  // Built apart (layers are memoised by identity, and `Cluster.ts` builds the same `Sharding.layer`
  // and `Runners.layerNoop` for the in-memory runtime: shared, both runtimes would be that one).
  // Provide it once: each use of a fresh layer builds another cluster.
  Layer.fresh
)

/**
 * Every process a runner of one cluster over NATS (`NatsRunners.ts`): each entity, workflow and
 * singleton lives once in the cluster, wherever its shard is, and is reached from any process.
 * The in-process runtime of `Cluster.ts` is this same layer then (one Sharding per process).
 */
export const overNats: Layer.Layer<ClusterServices, never, SqlClient.SqlClient | Nats> = Layer.unwrapEffect(
  Effect.map(Effect.all([durableSettings, Effect.orDie(RunnerConfig)]), ([settings, runner]) =>
    Layer.merge(ClusterWorkflowEngine.layer, NatsRunners.layerFailureDetector).pipe(
      Layer.provideMerge(RunnerServer.layerWithClients),
      Layer.provide([NatsRunners.layerServerProtocol, NatsRunners.layerClientProtocol, NatsRunners.layerRunnerHealth]),
      Layer.provideMerge(storage),
      Layer.provide(ShardingConfig.layer({
        ...settings,
        runnerAddress: Option.some(RunnerAddress.make(runner.host, Option.getOrElse(runner.port, () => 1 + Math.floor(Math.random() * 2_147_483_646)))),
        // How soon a dead runner's shards move: the health check finds a runner that stopped
        // answering NATS in about a second; its heartbeat row expiring is the fallback (when it
        // held the health check itself, which is a singleton).
        runnerHealthCheckInterval: runner.healthCheckInterval,
        shardLockRefreshInterval: Duration.divide(runner.expiration, 4).pipe(Option.getOrElse(() => Duration.seconds(2))),
        shardLockExpiration: runner.expiration,
        refreshAssignmentsInterval: Duration.seconds(1)
      })),
      Layer.provide(NatsRunners.layer)
    ))
)

/**
 * Sharding and MessageStorage on PostgreSQL, with the workflow engine: over NATS when Vigil is
 * connected to NATS, one runner per database otherwise. Composed by hand rather than with
 * `SingleRunner.layer`, which reads `HOST`/`PORT` (Vigil's own variables) into its configuration.
 */
export const layer: Layer.Layer<ClusterServices, never, SqlClient.SqlClient | Nats> = Layer.unwrapEffect(
  Effect.map(Nats, (nats) => Option.isSome(nats) ? overNats : singleRunner)
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
