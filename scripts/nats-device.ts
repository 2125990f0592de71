/**
 * Prints the nats-server user entry of one device (for `deploy/nats/devices.conf`) and the
 * password its client connects with: the device may publish only its own readings
 * (`<prefix>.ingest.vitals.<id>`) and receive only its own JetStream acknowledgements (inbox
 * prefix `_INBOX_<id>`). Usage: `npm run nats:device -- <device id> [subject prefix]`.
 */
import { Schema } from "effect"
import { randomBytes } from "node:crypto"
import { DeviceId } from "../src/domain/Device.ts"

export const deviceUser = (deviceId: string, password: string, subjectPrefix = "vigil") =>
  [
    "{",
    `  user: "device-${deviceId}"`,
    `  password: "${password}"`,
    "  permissions: {",
    `    publish: { allow: ["${subjectPrefix}.ingest.vitals.${deviceId}"] }`,
    `    subscribe: { allow: ["_INBOX_${deviceId}.>"] }`,
    "  }",
    "}"
  ].join("\n")

if (import.meta.url === `file://${process.argv[1]}`) {
  const [id, prefix] = process.argv.slice(2)
  if (id === undefined || !Schema.is(DeviceId)(id)) {
    console.error("usage: npm run nats:device -- <device id (a UUID)> [subject prefix]")
    process.exit(2)
  }
  const password = randomBytes(24).toString("base64url")
  console.log(deviceUser(id, password, prefix))
  console.error(`\n# the device connects as user "device-${id}" with password ${password} and inboxPrefix "_INBOX_${id}"`)
}
