/**
 * The relay's batch publisher on a real NATS server: which messages a batch reports as stored
 * (a prefix), duplicates by `Nats-Msg-Id`, subjects no stream takes, and that the stream holds
 * exactly what was acknowledged, in order.
 */
import { describe, expect, it } from "@effect/vitest"
import { jetstreamManager, RetentionPolicy } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { randomUUID } from "node:crypto"
import { makeBatchPublisher } from "../../src/messaging/JetStreamBatch.ts"
import { requireNats, resolveNats, unique } from "../support/nats-server.ts"

const nats = await resolveNats()
const runNats = requireNats(nats, "JetStream batch publisher")
const encoder = new TextEncoder()

describe.skipIf(!runNats)("JetStream batch publisher", () => {
  if (!nats.available) return

  const withStream = async (f: (args: { stream: string; subject: string; publisher: ReturnType<typeof makeBatchPublisher> }) => Promise<void>) => {
    const nc = await connect({ servers: nats.url })
    const jsm = await jetstreamManager(nc)
    const stream = unique("BATCH").toUpperCase()
    const subject = unique("batch").toLowerCase()
    await jsm.streams.add({ name: stream, subjects: [`${subject}.>`], retention: RetentionPolicy.Limits, duplicate_window: 60_000_000_000 })
    const publisher = makeBatchPublisher(nc)
    try {
      await f({ stream, subject, publisher })
    } finally {
      publisher.close()
      await jsm.streams.delete(stream).catch(() => undefined)
      await nc.close()
    }
  }
  const message = (subject: string, body: string, id: string = randomUUID()) => ({ subject, id, data: encoder.encode(body) })

  it("stores a batch in order and answers its length; a resent id counts as stored but is kept once", () =>
    withStream(async ({ stream, subject, publisher }) => {
      const batch = Array.from({ length: 300 }, (_, i) => message(`${subject}.e${i % 3}`, `m${i}`))
      expect(await publisher.publishAll(batch, 5_000)).toBe(300)
      // The first 100 again (a relay that crashed before stamping them), then 50 new ones.
      const again = [...batch.slice(0, 100), ...Array.from({ length: 50 }, (_, i) => message(`${subject}.e0`, `n${i}`))]
      expect(await publisher.publishAll(again, 5_000)).toBe(150)
      const nc = await connect({ servers: nats.url })
      try {
        const jsm = await jetstreamManager(nc)
        expect((await jsm.streams.info(stream)).state.messages).toBe(350)
        const bodies: Array<string> = []
        for (let seq = 1; seq <= 350; seq++) bodies.push(new TextDecoder().decode((await jsm.streams.getMessage(stream, { seq }))!.data))
        expect(bodies).toEqual([...batch.map((_, i) => `m${i}`), ...Array.from({ length: 50 }, (_, i) => `n${i}`)])
      } finally {
        await nc.close()
      }
    }), 30_000)

  it("answers the stored prefix when a message has no stream, and 0 for an empty batch", () =>
    withStream(async ({ subject, publisher }) => {
      const nowhere = unique("nostream").toLowerCase()
      const batch = [message(`${subject}.a`, "1"), message(`${subject}.a`, "2"), message(`${nowhere}.x`, "3"), message(`${subject}.a`, "4")]
      expect(await publisher.publishAll(batch, 5_000)).toBe(2)
      expect(await publisher.publishAll([message(`${nowhere}.x`, "5")], 5_000)).toBe(0)
      expect(await publisher.publishAll([], 5_000)).toBe(0)
    }), 30_000)

  it("answers what was acknowledged when the connection is closed under it", async () => {
    const nc = await connect({ servers: nats.url })
    const publisher = makeBatchPublisher(nc)
    await nc.close()
    const started = Date.now()
    expect(await publisher.publishAll([message(unique("closed").toLowerCase(), "x")], 500)).toBe(0)
    expect(Date.now() - started).toBeLessThan(2_000)
  }, 10_000)
})
