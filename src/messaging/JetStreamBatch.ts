/**
 * Publishes ordered batches to JetStream and collects the streams' acknowledgements on one reply
 * subscription. `js.publish` makes a request per message (an inbox entry, a timer and two `Error`
 * objects for their stacks); under load that was most of the outbox relay's CPU. Here a batch
 * costs one timer, and each message a header and a core publish whose reply subject says which
 * batch and message it was.
 *
 * What JetStream answers on the reply subject: `{"stream":..,"seq":..}` (stored, or
 * `"duplicate":true` when its `Nats-Msg-Id` was already stored: also a success), `{"error":{..}}`,
 * or an empty 503 status message when no stream takes the subject.
 */
import { createInbox, headers as natsHeaders, type Msg, type NatsConnection } from "@nats-io/nats-core"
import type { OutgoingMessage } from "./EventBus.ts"
import { CLOUDEVENTS_CONTENT_TYPE } from "../domain/Events.ts"

interface Pending {
  /** Per message: acknowledged (true), refused (false), no answer yet (undefined). */
  readonly acked: Array<boolean | undefined>
  remaining: number
  readonly done: () => void
}

/** The message of a reply: whether the stream stored the message it answers. */
const isStored = (msg: Msg): boolean => {
  if (msg.data.length === 0) return false // a status message (503: no stream for the subject)
  try {
    const ack = msg.json<{ readonly error?: unknown; readonly seq?: unknown }>()
    return ack.error === undefined && typeof ack.seq === "number"
  } catch {
    return false
  }
}

export interface JetStreamBatchPublisher {
  /**
   * Publishes `messages` in order (one connection: the streams store them in order) and waits
   * up to `timeoutMs` for their acknowledgements; answers how many, from the first, were stored.
   */
  readonly publishAll: (messages: ReadonlyArray<OutgoingMessage>, timeoutMs: number) => Promise<number>
  readonly close: () => void
}

export const makeBatchPublisher = (nc: NatsConnection): JetStreamBatchPublisher => {
  const inbox = createInbox()
  const batches = new Map<number, Pending>()
  let nextBatch = 0
  const subscription = nc.subscribe(`${inbox}.>`, {
    callback: (error, msg) => {
      if (error !== null) return
      // <inbox>.<batch>.<index>
      const last = msg.subject.lastIndexOf(".")
      const middle = msg.subject.lastIndexOf(".", last - 1)
      const pending = batches.get(Number(msg.subject.slice(middle + 1, last)))
      const index = Number(msg.subject.slice(last + 1))
      if (pending === undefined || !(index >= 0 && index < pending.acked.length) || pending.acked[index] !== undefined) return
      pending.acked[index] = isStored(msg)
      if (--pending.remaining === 0) pending.done()
    }
  })

  const publishAll = (messages: ReadonlyArray<OutgoingMessage>, timeoutMs: number) =>
    new Promise<number>((resolve) => {
      if (messages.length === 0) return resolve(0)
      const batch = nextBatch++
      const acked = new Array<boolean | undefined>(messages.length)
      let timer: ReturnType<typeof setTimeout> | undefined = undefined
      const done = () => {
        if (timer !== undefined) clearTimeout(timer)
        batches.delete(batch)
        const firstMissing = acked.findIndex((ok) => ok !== true)
        resolve(firstMissing === -1 ? messages.length : firstMissing)
      }
      batches.set(batch, { acked, remaining: messages.length, done })
      timer = setTimeout(done, timeoutMs)
      try {
        for (let i = 0; i < messages.length; i++) {
          const message = messages[i]!
          const h = natsHeaders()
          h.set("Nats-Msg-Id", message.id)
          h.set("Content-Type", CLOUDEVENTS_CONTENT_TYPE)
          if (message.traceparent !== undefined) h.set("traceparent", message.traceparent)
          nc.publish(message.subject, message.data, { reply: `${inbox}.${batch}.${i}`, headers: h })
        }
      } catch {
        // Closed or draining: what was sent may still be acknowledged before the time limit.
      }
    })

  return { publishAll, close: () => subscription.unsubscribe() }
}
