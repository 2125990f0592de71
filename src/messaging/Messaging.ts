/** Chooses the event bus: NATS JetStream when `NATS_URL` is set, in-process otherwise. */
import { Effect, Layer, Option } from "effect"
import * as InProcessBus from "./InProcessBus.ts"
import * as NatsBus from "./NatsBus.ts"

export const layer = Layer.unwrapEffect(
  Effect.map(NatsBus.NatsUrl, (url) => (Option.isSome(url) ? NatsBus.layer(url.value) : InProcessBus.layer))
)
