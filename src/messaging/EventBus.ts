/**
 * Where Vigil's events go: NATS JetStream when `NATS_URL` is set, an in-process bus otherwise.
 * Both offer the same two operations: publish an ordered batch (each message with its id, for
 * de-duplication) and subscribe to a subject pattern.
 */
import { Context, type Effect, type Stream } from "effect"

export interface BusMessage {
  /** Full subject, prefix included. */
  readonly subject: string
  readonly data: Uint8Array
}

export interface OutgoingMessage extends BusMessage {
  /** The event id: JetStream's `Nats-Msg-Id`. */
  readonly id: string
  /** W3C trace context of the publication (the `traceparent` header), when traced. */
  readonly traceparent?: string | undefined
}

export type MessagingStatus = "connected" | "reconnecting" | "disconnected" | "in-process"

export interface EventBusShape {
  readonly kind: "nats" | "in-process"
  readonly subjectPrefix: string
  readonly status: () => MessagingStatus
  /**
   * Publishes in order and waits for every acknowledgement; answers how many messages, from the
   * first, were acknowledged (the rest must be retried). Never fails.
   */
  readonly publishAll: (messages: ReadonlyArray<OutgoingMessage>) => Effect.Effect<number>
  /** Messages published from now on whose subject matches `pattern` (NATS wildcards). */
  readonly subscribe: (pattern: string) => Stream.Stream<BusMessage>
}

export class EventBus extends Context.Tag("vigil/EventBus")<EventBus, EventBusShape>() {}
