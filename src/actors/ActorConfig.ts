/** How long actors live: shared by the in-process runtime (`Cluster.ts`) and the durable one (`DurableCluster.ts`). */
import { Config } from "effect"

export const ActorConfig = Config.all({
  /** How long an idle actor stays in memory before it is passivated (its state is in the database). */
  maxIdleTime: Config.duration("ACTOR_MAX_IDLE_TIME").pipe(Config.withDefault("5 minutes")),
  /** How long shutdown lets actors finish the messages they hold. */
  terminationTimeout: Config.duration("ACTOR_TERMINATION_TIMEOUT").pipe(Config.withDefault("10 seconds"))
})
