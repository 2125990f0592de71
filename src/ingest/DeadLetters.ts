/**
 * Where an ingest message that can never be stored goes: `<prefix>.deadletter.<its subject>` on
 * the `<PREFIX>_DEADLETTER` stream, with its body unchanged and headers saying why
 * (`Vigil-Dead-Letter-Reason`), what it was (`Vigil-Original-Subject`) and how often it had been
 * delivered (`Vigil-Delivery-Count`). Then it is acknowledged: it is never retried for ever. A
 * dead letter's `Nats-Msg-Id` is the original's stream sequence, so one dead-lettered twice (two
 * processes, or an advisory after a crash) is stored once. If the dead letter cannot be published,
 * the message is kept (negatively acknowledged) and comes back.
 */
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream"
import { headers as natsHeaders } from "@nats-io/nats-core"
import { Cause, Effect } from "effect"
import { deadLetterSubject, type MessagingConfig } from "../messaging/Subjects.ts"
import { countDeadLettered } from "../observability/Metrics.ts"

export const REASON_HEADER = "Vigil-Dead-Letter-Reason"
export const SUBJECT_HEADER = "Vigil-Original-Subject"
export const DELIVERIES_HEADER = "Vigil-Delivery-Count"

export interface DeadLetter {
  readonly subject: string
  readonly data: Uint8Array
  readonly streamSequence: number
  readonly deliveries: number
  readonly reason: string
}

export const makeDeadLetters = (js: JetStreamClient, messaging: MessagingConfig) => {
  /** Publishes the dead letter; fails when JetStream did not store it. */
  const publish = (letter: DeadLetter) =>
    Effect.tryPromise(() => {
      const h = natsHeaders()
      h.set(REASON_HEADER, letter.reason.slice(0, 4000))
      h.set(SUBJECT_HEADER, letter.subject)
      h.set(DELIVERIES_HEADER, String(letter.deliveries))
      return js.publish(deadLetterSubject(messaging, letter.subject), letter.data, {
        headers: h,
        msgID: `deadletter-${letter.streamSequence}`
      })
    }).pipe(
      Effect.tap(() =>
        Effect.logWarning("ingest message dead-lettered").pipe(
          Effect.annotateLogs({ subject: letter.subject, reason: letter.reason, deliveries: letter.deliveries }),
          Effect.zipRight(Effect.sync(countDeadLettered))
        )
      )
    )

  /** Dead-letters a message in hand, then acknowledges it; keeps it (nak) when that fails. */
  const deadLetter = (msg: JsMsg, reason: string) =>
    publish({ subject: msg.subject, data: msg.data, streamSequence: msg.info.streamSequence, deliveries: msg.info.deliveryCount, reason }).pipe(
      Effect.matchEffect({
        onSuccess: () => Effect.sync(() => msg.ack()),
        // Not dead-lettered yet: keep it, try again later.
        onFailure: () => Effect.sync(() => msg.nak(5_000))
      })
    )

  return { publish, deadLetter } as const
}

/** The error a failure carries, with the errors it wraps (a database's own message and SQLSTATE), for a dead letter's reason. */
export const describeCause = (cause: Cause.Cause<unknown>): string => {
  const parts: Array<string> = []
  let error: unknown = [...Cause.failures(cause), ...Cause.defects(cause)][0]
  for (let depth = 0; depth < 4 && typeof error === "object" && error !== null; depth++) {
    const { code, message } = error as { readonly code?: unknown; readonly message?: unknown }
    if (typeof message === "string" && message.length > 0) parts.push(typeof code === "string" ? `${message} (${code})` : message)
    error = (error as { readonly cause?: unknown }).cause
  }
  return parts.length > 0 ? parts.join(": ") : Cause.pretty(cause).split("\n")[0] ?? "unknown error"
}
