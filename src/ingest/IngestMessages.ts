/**
 * A device's reading as a NATS message (`<prefix>.ingest.vitals.<deviceId>`, JSON body): read
 * and checked with the same `DeviceReading` schema as HTTP. A refusal names the field, as an HTTP
 * 422 would, and becomes the dead letter's reason.
 */
import type { JsMsg } from "@nats-io/jetstream"
import { Either, Schema } from "effect"
import { DeviceId } from "../domain/Device.ts"
import { fromParseIssue } from "../domain/ValidationDetail.ts"
import { DeviceReading } from "../domain/Vitals.ts"
import type { DeviceSubmission } from "../services/VitalsIngest.ts"

const utf8 = new TextDecoder()
const decodeDeviceId = Schema.decodeUnknownEither(DeviceId)
const decodeReading = Schema.decodeUnknownEither(DeviceReading, { errors: "all", onExcessProperty: "ignore" })

export type Decoded =
  | { readonly _tag: "Valid"; readonly msg: JsMsg; readonly submission: DeviceSubmission }
  | { readonly _tag: "Invalid"; readonly msg: JsMsg; readonly reason: string }

export const decode = (msg: JsMsg): Decoded => {
  const deviceToken = msg.subject.slice(msg.subject.lastIndexOf(".") + 1)
  const deviceId = decodeDeviceId(deviceToken)
  if (Either.isLeft(deviceId)) return { _tag: "Invalid", msg, reason: `subject: the last token '${deviceToken}' is not a device id (UUID)` }
  let json: unknown
  try {
    json = JSON.parse(utf8.decode(msg.data))
  } catch (error) {
    return { _tag: "Invalid", msg, reason: `body: not JSON (${error instanceof Error ? error.message : String(error)})` }
  }
  const reading = decodeReading(json)
  if (Either.isLeft(reading)) {
    const problems = fromParseIssue("body", reading.left.issue).map((detail) => `${detail.loc.join(".")}: ${detail.msg}`)
    return { _tag: "Invalid", msg, reason: problems.join("; ") }
  }
  return { _tag: "Valid", msg, submission: { deviceId: deviceId.right, reading: reading.right } }
}
