/**
 * The runtime of the monitors, devices and ML services (volatile messages: a reading's
 * durability is the database commit, or the JetStream acknowledgement, that precedes the message;
 * an actor rebuilds its state from Vigil's own tables on activation).
 *
 * With NATS it is the one cluster of every Vigil process (`DurableCluster.overNats`, runners over
 * NATS, runner and shard state in PostgreSQL), so each actor lives once however many processes
 * run. Without NATS there is no transport between processes: each process then runs its own
 * runner with memory storage, and two processes may each hold an actor for the same patient (the
 * database keeps the invariants: one active alert per patient and sign, readings by id).
 * See docs/cluster.md.
 *
 * Composed by hand rather than with `SingleRunner.layer`, which reads `HOST`/`PORT` (Vigil's own
 * variables) into its configuration.
 */
import * as MessageStorage from "@effect/cluster/MessageStorage"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Runners from "@effect/cluster/Runners"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as Sharding from "@effect/cluster/Sharding"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import type { SqlClient } from "@effect/sql"
import { Effect, Layer, Option } from "effect"
import { Nats } from "../messaging/NatsBus.ts"
import { ActorConfig } from "./ActorConfig.ts"
import * as DurableCluster from "./DurableCluster.ts"

/** One process's own runner, its message and runner storage in memory: Vigil without NATS. */
const inProcess = Layer.unwrapEffect(Effect.map(Effect.orDie(ActorConfig), (config) =>
  Sharding.layer.pipe(
    Layer.provideMerge(Runners.layerNoop),
    Layer.provideMerge(MessageStorage.layerMemory),
    Layer.provide([RunnerStorage.layerMemory, RunnerHealth.layerNoop]),
    Layer.provide(ShardingConfig.layer({
      // Local volatile calls need no encode/decode round trip.
      simulateRemoteSerialization: false,
      entityMaxIdleTime: config.maxIdleTime,
      entityTerminationTimeout: config.terminationTimeout
    }))
  )
))

/**
 * The runtime of the monitors, devices and ML services: with NATS, the one cluster of every
 * process (`DurableCluster.overNats`, the same layer value, so built once with the durable
 * entities); without, this process's own.
 */
export const layer: Layer.Layer<Sharding.Sharding | MessageStorage.MessageStorage, never, SqlClient.SqlClient | Nats> = Layer.unwrapEffect(
  Effect.map(Nats, (nats): Layer.Layer<Sharding.Sharding | MessageStorage.MessageStorage, never, SqlClient.SqlClient | Nats> =>
    Option.isSome(nats) ? DurableCluster.overNats : inProcess)
)
