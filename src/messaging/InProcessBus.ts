/** The event bus without NATS: subscribers in this process only (start-up says so). */
import { Effect, Layer, Option, PubSub, Stream } from "effect"
import { Nats } from "./NatsBus.ts"
import { type BusMessage, EventBus } from "./EventBus.ts"
import { MessagingConfig, matches } from "./Subjects.ts"

export const make = Effect.gen(function*() {
  const config = yield* MessagingConfig
  const hub = yield* Effect.acquireRelease(PubSub.unbounded<BusMessage>(), PubSub.shutdown)
  return EventBus.of({
    kind: "in-process",
    subjectPrefix: config.subjectPrefix,
    status: () => "in-process",
    publishAll: (messages) =>
      PubSub.publishAll(hub, messages.map(({ subject, data }) => ({ subject, data }))).pipe(Effect.as(messages.length)),
    subscribe: (pattern) => Stream.fromPubSub(hub).pipe(Stream.filter((message) => matches(pattern, message.subject)))
  })
})

export const layer = Layer.merge(Layer.scoped(EventBus, make), Layer.succeed(Nats, Option.none()))
