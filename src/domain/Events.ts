/**
 * The envelope of every event Vigil publishes, CloudEvents 1.0 in JSON (DESIGN.md section 6), and
 * the subject names of domain events (audit events: `audit.<entityType>.<action>`). Here, at the
 * bottom, because the outbox writer (persistence, in SQL: SqlJson.cloudEvent) builds them and the
 * relay and the subscribers (messaging) read them.
 * `id` is also the JetStream `Nats-Msg-Id`, so a republished event is dropped as a duplicate.
 * Subjects are relative ("events.patient.created"); the messaging layer adds the configured prefix.
 */
import { Schema } from "effect"

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

/** The `Content-Type` header of a published event: CloudEvents structured mode (the CloudEvents NATS binding). */
export const CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"

/** `events.<aggregate>.<event>`: the domain event of a change. */
export const eventSubject = (aggregate: string, event: string) => `events.${aggregate}.${event}`
