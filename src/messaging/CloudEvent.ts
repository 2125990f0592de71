/**
 * The envelope of every event Vigil publishes: CloudEvents 1.0 in JSON (DESIGN.md section 6).
 * `id` is also the JetStream `Nats-Msg-Id`, so a republished event is dropped as a duplicate.
 */
import { Schema } from "effect"
import { randomUUID } from "node:crypto"

export const CloudEvent = Schema.Struct({
  specversion: Schema.Literal("1.0"),
  id: Schema.UUID,
  source: Schema.String,
  type: Schema.String,
  time: Schema.String,
  subject: Schema.String,
  datacontenttype: Schema.Literal("application/json"),
  data: Schema.Unknown
}).annotations({ identifier: "CloudEvent" })
export type CloudEvent = typeof CloudEvent.Type

export const SOURCE = "vigil"

export const make = (options: { readonly type: string; readonly subject: string; readonly data: unknown; readonly time?: Date }): CloudEvent => ({
  specversion: "1.0",
  id: randomUUID(),
  source: SOURCE,
  type: options.type,
  time: (options.time ?? new Date()).toISOString(),
  subject: options.subject,
  datacontenttype: "application/json",
  data: options.data
})
