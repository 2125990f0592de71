/**
 * NATS subjects and JetStream streams. Subjects are written relative ("events.patient.created",
 * named in `domain/Events.ts`) and given the configured prefix (`NATS_SUBJECT_PREFIX`, default `vigil`) when published; stream
 * names take `NATS_STREAM_PREFIX` (default `VIGIL`). Tests use their own prefixes, so runs on one
 * NATS server never share a stream.
 */
import { Config } from "effect"

export const MessagingConfig = Config.all({
  subjectPrefix: Config.string("NATS_SUBJECT_PREFIX").pipe(
    Config.withDefault("vigil"),
    Config.validate({ message: "NATS_SUBJECT_PREFIX must be NATS tokens (letters, digits, _ and -) joined by dots", validation: (s) => /^[\w-]+(\.[\w-]+)*$/.test(s) })
  ),
  streamPrefix: Config.string("NATS_STREAM_PREFIX").pipe(
    Config.withDefault("VIGIL"),
    Config.validate({ message: "NATS_STREAM_PREFIX must be letters, digits and _", validation: (s) => /^\w+$/.test(s) })
  )
})
export type MessagingConfig = Config.Config.Success<typeof MessagingConfig>

export interface StreamSpec {
  readonly name: string
  readonly subjects: ReadonlyArray<string>
  readonly retention: "limits" | "workqueue"
  readonly maxAgeDays: number
}

export const streams = (config: MessagingConfig): ReadonlyArray<StreamSpec> => [
  { name: ingestStream(config), subjects: [`${config.subjectPrefix}.ingest.>`], retention: "workqueue", maxAgeDays: 7 },
  { name: `${config.streamPrefix}_EVENTS`, subjects: [`${config.subjectPrefix}.events.>`], retention: "limits", maxAgeDays: 30 },
  { name: `${config.streamPrefix}_AUDIT`, subjects: [`${config.subjectPrefix}.audit.>`], retention: "limits", maxAgeDays: 3650 },
  { name: deadLetterStream(config), subjects: [`${config.subjectPrefix}.deadletter.>`], retention: "limits", maxAgeDays: 30 }
]

export const ingestStream = (config: MessagingConfig) => `${config.streamPrefix}_INGEST`
export const deadLetterStream = (config: MessagingConfig) => `${config.streamPrefix}_DEADLETTER`
/** Devices publish their readings here: `vitals.<deviceId>` under `ingest`. */
export const ingestVitalsSubject = (config: MessagingConfig, deviceId: string) => `${config.subjectPrefix}.ingest.vitals.${deviceId}`
/** Where a message that can never be stored goes, with its reason in the `Vigil-Dead-Letter-Reason` header. */
export const deadLetterSubject = (config: MessagingConfig, originalSubject: string) =>
  `${config.subjectPrefix}.deadletter.${originalSubject.startsWith(`${config.subjectPrefix}.`) ? originalSubject.slice(config.subjectPrefix.length + 1) : originalSubject}`

/** NATS subject matching: `*` is one token, `>` one or more trailing tokens. */
export const matches = (pattern: string, subject: string): boolean => {
  const p = pattern.split(".")
  const s = subject.split(".")
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i
    if (i >= s.length) return false
    if (p[i] !== "*" && p[i] !== s[i]) return false
  }
  return p.length === s.length
}
