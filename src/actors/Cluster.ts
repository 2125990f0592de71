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
import { Config, Effect, Layer } from "effect"

export const ActorConfig = Config.all({
  /** How long an idle actor stays in memory before it is passivated (its state is in the database). */
  maxIdleTime: Config.duration("ACTOR_MAX_IDLE_TIME").pipe(Config.withDefault("5 minutes")),
  /** How long shutdown lets actors finish the messages they hold. */
  terminationTimeout: Config.duration("ACTOR_TERMINATION_TIMEOUT").pipe(Config.withDefault("10 seconds"))
})

export const layer = Layer.unwrapEffect(Effect.map(ActorConfig, (config) =>
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
