/**
 * `/asyncapi.json`: Vigil's NATS subjects as an AsyncAPI 3.0 document, built from the running
 * configuration (its subject and stream prefixes) and from the same `Schema`s the code decodes and
 * the REST API answers with: device readings Vigil receives, and the CloudEvents it publishes
 * (domain events per entity, `vitals.recorded`, the audit trail), and the dead letters.
 *
 * Events are CloudEvents 1.0 in structured mode: the whole envelope is the payload, with the
 * headers `Content-Type: application/cloudevents+json` (the CloudEvents NATS binding) and
 * `Nats-Msg-Id` (the event's id: JetStream drops a republished event as a duplicate). JetStream's
 * settings, which the NATS binding of AsyncAPI has no field for, are in `x-jetstream`.
 */
import { Duration, Effect, JSONSchema, Schema, SchemaAST as AST } from "effect"
import { CLOUDEVENTS_CONTENT_TYPE, CloudEvent } from "../domain/Events.ts"
import { DeviceReading, VitalReadingResponse } from "../domain/Vitals.ts"
import { AlertResponse } from "../domain/Alert.ts"
import { Device } from "../domain/Device.ts"
import { Patient } from "../domain/Patient.ts"
import { ThresholdProfile } from "../domain/ThresholdProfile.ts"
import { CONSUMER, IngestConfig } from "../ingest/IngestConsumer.ts"
import { deadLetterStream, ingestStream, MessagingConfig, streams } from "../messaging/Subjects.ts"
import { publicRoute } from "./Access.ts"
import type { RawRoute } from "./Handlers.ts"
import { sendText } from "./StaticFiles.ts"
import { AuditEntry } from "./Api.ts"

export const ASYNCAPI_VERSION = "3.0.0"

/** An entity's JSON form as its events carry it (`ChangeLog.snapshot`): its fields, dates as ISO text. */
const IsoTime = Schema.String.annotations({ jsonSchema: { type: "string", format: "date-time" } })
const isDate = (ast: AST.AST) => ast === Schema.DateFromSelf.ast
const asJson = (fields: Schema.Struct.Fields, identifier: string) =>
  Schema.Struct(Object.fromEntries(Object.entries(fields).map(([name, field]) => {
    const ast = (field as Schema.Schema.Any).ast
    if (isDate(ast)) return [name, IsoTime]
    if (AST.isUnion(ast) && ast.types.some(isDate)) return [name, Schema.NullOr(IsoTime)]
    return [name, field]
  }))).annotations({ identifier })

/** Records without a schema of their own (built by the repositories' record functions): described, not typed. */
const untyped = (what: string) => Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({ description: what })

/**
 * Each entity's domain events (`events.<entity>.<action>`) carry the entity after the change (or
 * before it, when it is gone). Typed where the event is the domain record itself; the care and ML
 * registry records are each repository's own view, described by the REST API's answer of them.
 */
export const entityEvents = {
  patient: { schema: asJson(Patient.fields, "PatientRecord"), actions: ["created", "deleted"] },
  device: { schema: asJson(Device.fields, "DeviceRecord"), actions: ["created", "updated", "linked", "unlinked", "online", "offline"] },
  threshold: { schema: asJson(ThresholdProfile.fields, "ThresholdProfileRecord"), actions: ["created", "updated"] },
  alert: { schema: AlertResponse, actions: ["raised", "updated", "acknowledged", "resolved", "escalated"] },
  measurement: { schema: VitalReadingResponse, actions: ["deleted"] },
  user: { schema: untyped("The user as GET /api/v1/users/{id} answers it (never a password)"), actions: ["created", "updated"] },
  doctor_profile: { schema: untyped("The doctor's profile as the scheduling API answers it"), actions: ["created", "updated"] },
  doctor_schedule: { schema: untyped("The schedule as the scheduling API answers it"), actions: ["created", "updated", "deleted"] },
  patient_profile: { schema: untyped("The patient's profile as the scheduling API answers it"), actions: ["created", "updated"] },
  appointment: { schema: untyped("The appointment as GET /api/v1/appointments/{id} answers it (at creation with its task record)"), actions: ["created", "confirmed", "updated", "reminder_due"] },
  task: { schema: untyped("The background task record as GET /api/v1/tasks answers it"), actions: ["created", "updated"] },
  lab_result: { schema: untyped("The lab result as GET /api/v1/lab-results answers it"), actions: ["created"] },
  service: { schema: untyped("The ML service as GET /api/v1/services/{id} answers it"), actions: ["registered", "health_changed", "deregistered"] }
} as const

const VitalsRecorded = Schema.Struct({ patient_id: Schema.UUID, readings: Schema.Array(VitalReadingResponse) }).annotations({
  identifier: "VitalsRecorded",
  description: "The readings of one patient stored by one write, in store order"
})

/** A CloudEvent whose `data` is `data`. */
const cloudEventOf = (name: string, data: Schema.Schema.Any) =>
  Schema.Struct({ ...CloudEvent.fields, data }).annotations({ identifier: `${name}Event` })

const eventHeaders = {
  type: "object",
  required: ["Content-Type", "Nats-Msg-Id"],
  properties: {
    "Content-Type": { type: "string", const: CLOUDEVENTS_CONTENT_TYPE, description: "CloudEvents structured mode (the CloudEvents NATS binding)" },
    "Nats-Msg-Id": { type: "string", format: "uuid", description: "The event's id; JetStream de-duplicates on it" }
  }
}

/**
 * Effect marks its keyword schemas (`unknown`, `any`, `object`) with `$id: "/schemas/..."`; the
 * same `$id` at several places makes a document ambiguous to JSON Schema validators: dropped.
 */
const withoutKeywordIds = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(withoutKeywordIds)
  if (value === null || typeof value !== "object") return value
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key, v]) => !(key === "$id" && typeof v === "string" && v.startsWith("/schemas/")))
      .map(([key, v]) => [key, withoutKeywordIds(v)])
  )
}

export interface IngestSettings {
  readonly maxDeliver: number
  readonly ackWaitSeconds: number
}

export const document = (config: MessagingConfig, ingest: IngestSettings, serverHost = "localhost:4222") => {
  const schemas: Record<string, JSONSchema.JsonSchema7> = {}
  const toJson = (schema: Schema.Schema.Any) =>
    withoutKeywordIds(JSONSchema.fromAST(schema.ast, { definitions: schemas, definitionPath: "#/components/schemas/", additionalPropertiesStrategy: "allow" }))
  const prefix = config.subjectPrefix
  const stream = (name: string) => {
    const spec = streams(config).find((s) => s.name === name)!
    return { stream: spec.name, retention: spec.retention, maxAgeDays: spec.maxAgeDays, duplicateWindowSeconds: 120 }
  }
  const eventsStream = stream(`${config.streamPrefix}_EVENTS`)
  const auditStream = stream(`${config.streamPrefix}_AUDIT`)

  const messages: Record<string, unknown> = {}
  const channels: Record<string, unknown> = {}
  const operations: Record<string, unknown> = {}
  const eventMessage = (name: string, data: Schema.Schema.Any, summary: string) => {
    messages[name] = {
      name,
      title: name,
      summary,
      contentType: CLOUDEVENTS_CONTENT_TYPE,
      headers: eventHeaders,
      payload: toJson(cloudEventOf(name, data))
    }
    return { $ref: `#/components/messages/${name}` }
  }

  channels.readings = {
    address: `${prefix}.ingest.vitals.{deviceId}`,
    title: "Device readings in",
    description: "A device publishes each reading here (JetStream). Vigil stores it exactly once by reading_id, in order per device, and evaluates it; a message it cannot store is dead-lettered.",
    parameters: { deviceId: { description: "The registered device's id (a UUID)" } },
    messages: {
      deviceReading: {
        name: "DeviceReading",
        title: "A device's reading",
        contentType: "application/json",
        payload: toJson(DeviceReading)
      }
    },
    "x-jetstream": {
      ...stream(ingestStream(config)),
      consumer: { durable: CONSUMER, ackPolicy: "explicit", maxDeliver: ingest.maxDeliver + 1, ackWaitSeconds: ingest.ackWaitSeconds }
    }
  }
  operations.receiveReadings = {
    action: "receive",
    channel: { $ref: "#/channels/readings" },
    summary: "Vigil consumes device readings",
    messages: [{ $ref: "#/channels/readings/messages/deviceReading" }]
  }

  /** A channel of CloudEvents Vigil publishes, its one message, and the operation that sends it. */
  const eventChannel = (key: string, operation: string, channel: {
    readonly address: string
    readonly title: string
    readonly description?: string
    readonly parameters?: Record<string, unknown>
    readonly message: readonly [name: string, data: Schema.Schema.Any, summary: string]
    readonly jetstream: unknown
  }) => {
    const [name, data, summary] = channel.message
    channels[key] = {
      address: channel.address,
      title: channel.title,
      ...(channel.description === undefined ? {} : { description: channel.description }),
      ...(channel.parameters === undefined ? {} : { parameters: channel.parameters }),
      messages: { [name]: eventMessage(name, data, summary) },
      "x-jetstream": channel.jetstream
    }
    operations[operation] = { action: "send", channel: { $ref: `#/channels/${key}` }, messages: [{ $ref: `#/channels/${key}/messages/${name}` }] }
  }

  for (const [entity, { actions, schema }] of Object.entries(entityEvents)) {
    const name = entity.split("_").map((part) => part[0]!.toUpperCase() + part.slice(1)).join("")
    const words = entity.replace("_", " ")
    eventChannel(`${entity}Events`, `send${name}Events`, {
      address: `${prefix}.events.${entity}.{action}`,
      title: `${name} events`,
      parameters: { action: { examples: [...actions], description: `What happened to the ${words} (the audit action)` } },
      message: [name, schema, `A ${words} changed; data is the ${words} after the change (before it, when it is gone)`],
      jetstream: eventsStream
    })
  }

  eventChannel("vitalsRecorded", "sendVitalsRecorded", {
    address: `${prefix}.events.vitals.recorded`,
    title: "Readings stored",
    description: "One event per patient per write: the readings a batch (or a single reading) stored for that patient.",
    message: ["VitalsRecorded", VitalsRecorded, "Readings of one patient were stored"],
    jetstream: eventsStream
  })

  eventChannel("audit", "sendAudit", {
    address: `${prefix}.audit.{entityType}.{action}`,
    title: "The audit trail",
    description: "Every audited change, with the hash chain's prev_hash and hash (`GET /api/v1/audit/verify` checks it).",
    parameters: {
      entityType: { enum: Object.keys(entityEvents), description: "The kind of entity changed" },
      action: { description: "What happened (created, updated, raised, ...)" }
    },
    message: ["AuditEntry", AuditEntry, "An audited change"],
    jetstream: auditStream
  })

  channels.deadLetters = {
    address: `${prefix}.deadletter.ingest.vitals.{deviceId}`,
    title: "Readings that could not be stored",
    description: "The original message, unchanged, with why in its headers.",
    parameters: { deviceId: { description: "The device id of the original subject" } },
    messages: {
      deadLetter: {
        name: "DeadLetter",
        title: "A dead-lettered reading",
        headers: {
          type: "object",
          required: ["Vigil-Dead-Letter-Reason", "Vigil-Dead-Letter-Subject", "Vigil-Dead-Letter-Deliveries"],
          properties: {
            "Vigil-Dead-Letter-Reason": { type: "string", description: "Why it was not stored (the field refused, the device unknown, the last error)" },
            "Vigil-Dead-Letter-Subject": { type: "string", description: "The subject it was published on" },
            "Vigil-Dead-Letter-Deliveries": { type: "string", description: "How many times it was delivered" }
          }
        },
        payload: { description: "The original message's bytes, as published" }
      }
    },
    "x-jetstream": stream(deadLetterStream(config))
  }
  operations.sendDeadLetters = {
    action: "send",
    channel: { $ref: "#/channels/deadLetters" },
    messages: [{ $ref: "#/channels/deadLetters/messages/deadLetter" }]
  }

  return {
    asyncapi: ASYNCAPI_VERSION,
    info: {
      title: "Vigil messaging",
      version: "0.1.0",
      description: "The NATS subjects Vigil consumes and publishes. Subjects carry the configured prefix (NATS_SUBJECT_PREFIX) and streams theirs (NATS_STREAM_PREFIX)."
    },
    defaultContentType: CLOUDEVENTS_CONTENT_TYPE,
    servers: { nats: { host: serverHost, protocol: "nats", description: "The NATS server of NATS_URL, with JetStream" } },
    channels,
    operations,
    components: { messages, schemas: withoutKeywordIds(schemas) }
  }
}

/** `GET /asyncapi.json`, built once from the configuration. */
export const route = Effect.gen(function*() {
  const messaging = yield* MessagingConfig
  const ingest = yield* IngestConfig
  const text = JSON.stringify(document(messaging, { maxDeliver: ingest.maxDeliver, ackWaitSeconds: Duration.toSeconds(ingest.ackWait) }))
  const asyncApi: RawRoute = {
    method: "GET",
    path: "/asyncapi.json",
    policy: publicRoute,
    handle: (request, response) => {
      request.resume()
      sendText(response, "application/json", text)
    }
  }
  return asyncApi
})
