/**
 * The actor runtime: `@effect/cluster`'s Sharding in this process, one runner, its message and
 * runner storage in memory.
 *
 * Why memory and not SQL storage: Vigil's actors take only volatile messages (a reading's
 * durability is the database commit, or the JetStream acknowledgement, that precedes the message;
 * an actor rebuilds its state from Vigil's own tables on activation), so SQL storage would
 * persist nothing Vigil needs. And without a transport between runners (DESIGN.md section 11,
 * not built yet), a second Vigil process on the same cluster tables hangs, which would end the
 * multi-process deployments the outbox relay supports. See docs/cluster.md.
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
