/**
 * Runners over NATS: the transport between Vigil processes for `@effect/cluster`, in place of its
 * socket transport (DESIGN.md section 11).
 *
 * Each runner listens on one subject, `_CLUSTER.<prefix>.runner.<address>`; a caller (one per
 * runner it talks to) publishes its RPC frames there with its own inbox as the reply subject, and
 * the runner publishes its answers to that inbox. Frames are the cluster's RPC messages encoded
 * with msgpack, several to a NATS message when they come together. NATS core neither
 * acknowledges nor pushes back, so liveness is checked separately: each caller sends a keep-alive
 * *request* every `keepAlive` (a runner that is gone answers at once with "no responders", one
 * that hangs times out), and fails its requests in flight when one fails, which makes the cluster
 * send them again to wherever their shard is now; a runner forgets a caller that has not been
 * heard from for three keep-alives (and with it that caller's requests). The same request is the
 * runner health check (`RunnerHealth`), which is what lets the cluster reassign a dead runner's
 * shards in seconds instead of after its heartbeat row expires.
 *
 * A frame above the server's `max_payload` (1 MB by default) is not sent: its request fails at
 * once with a defect that says so, instead of vanishing (core NATS would drop it).
 */
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Runners from "@effect/cluster/Runners"
import * as RunnerStorage from "@effect/cluster/RunnerStorage"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import { RpcClientError } from "@effect/rpc/RpcClientError"
import * as RpcClient from "@effect/rpc/RpcClient"
import type { FromClientEncoded, FromServerEncoded } from "@effect/rpc/RpcMessage"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import * as RpcServer from "@effect/rpc/RpcServer"
import { createInbox, headers as natsHeaders, type Msg, type NatsConnection, RequestError } from "@nats-io/nats-core"
import { Nats } from "../messaging/NatsBus.ts"
import { Config, Context, Duration, Effect, Equal, Layer, Mailbox, Option, Schedule } from "effect"

export const NatsRunnersConfig = Config.all({
  /** How often a caller checks that a runner it talks to is alive (and the runner that the caller is). */
  keepAlive: Config.duration("CLUSTER_KEEP_ALIVE").pipe(Config.withDefault(Duration.seconds(1))),
  /** How long a keep-alive (or health check) waits for its answer. */
  requestTimeout: Config.duration("CLUSTER_REQUEST_TIMEOUT").pipe(Config.withDefault(Duration.seconds(2)))
})
export type NatsRunnersConfig = Config.Config.Success<typeof NatsRunnersConfig>

/** The connection and subject prefix the transport runs on. */
export class RunnerNats extends Context.Tag("vigil/RunnerNats")<RunnerNats, {
  readonly nc: NatsConnection
  readonly subjectPrefix: string
  readonly config: NatsRunnersConfig
}>() {}

/** The transport's NATS, from Vigil's connection. */
export const layer: Layer.Layer<RunnerNats, never, Nats> = Layer.effect(
  RunnerNats,
  Effect.gen(function*() {
    const nats = yield* Nats
    if (Option.isNone(nats)) return yield* Effect.dieMessage("runners over NATS need NATS_URL")
    const config = yield* Effect.orDie(NatsRunnersConfig)
    return { nc: nats.value.nc, subjectPrefix: nats.value.config.subjectPrefix, config }
  })
)

/**
 * A runner's subject: outside Vigil's own `<prefix>.>` (a subscriber to all of Vigil's events must
 * not get the cluster's frames), and the address as one token (a host may hold dots).
 */
export const runnerSubject = (subjectPrefix: string, address: RunnerAddress.RunnerAddress) =>
  `_CLUSTER.${subjectPrefix}.runner.${address.host.replace(/[^\w-]/g, "_")}_${address.port}`

const CALLER = "Vigil-Cluster-Caller"
const KEEP_ALIVE = "Vigil-Cluster-Keep-Alive"
const GOODBYE = "Vigil-Cluster-Goodbye"

const serialization = RpcSerialization.msgPack

const maxPayload = (nc: NatsConnection) => nc.info?.max_payload ?? 1024 * 1024

const tooLarge = (what: string, bytes: number, limit: number) =>
  `${what} of ${bytes} bytes is above NATS's max_payload of ${limit} bytes: not sent`

const dieExit = (requestId: string, message: string): FromServerEncoded => ({
  _tag: "Exit",
  requestId,
  exit: { _tag: "Failure", cause: { _tag: "Die", defect: message } }
})

const keepAliveHeaders = (caller: string) => {
  const h = natsHeaders()
  h.set(KEEP_ALIVE, "1")
  h.set(CALLER, caller)
  return h
}

/** One keep-alive request to a runner: fails when it is gone ("no responders") or does not answer in time. */
const ping = (nc: NatsConnection, subject: string, caller: string, timeout: Duration.Duration) =>
  Effect.tryPromise({
    try: () => nc.request(subject, new Uint8Array(0), { timeout: Duration.toMillis(timeout), headers: keepAliveHeaders(caller) }),
    catch: (cause) => cause
  }).pipe(Effect.asVoid)

/**
 * The caller's side: for each runner address, an inbox of its own, frames published to the
 * runner's subject, and the keep-alive that fails the requests in flight when the runner is gone.
 */
export const layerClientProtocol: Layer.Layer<Runners.RpcClientProtocol, never, RunnerNats> = Layer.effect(
  Runners.RpcClientProtocol,
  Effect.map(RunnerNats, ({ config, nc, subjectPrefix }) => (address: RunnerAddress.RunnerAddress) =>
    RpcClient.Protocol.make(Effect.fnUntraced(function*(writeResponse) {
      const subject = runnerSubject(subjectPrefix, address)
      const inbox = createInbox(`_INBOX.${subjectPrefix}.cluster`)
      const parser = serialization.unsafeMake()
      const limit = maxPayload(nc)
      let currentError: RpcClientError | undefined

      // Answers, in the order they were published: one fiber at a time, queued by the callback.
      const answers = yield* Mailbox.make<Uint8Array>()
      yield* Effect.acquireRelease(
        Effect.sync(() => nc.subscribe(inbox, { callback: (_error, msg) => { answers.unsafeOffer(msg.data) } })),
        (sub) => Effect.sync(() => sub.unsubscribe())
      )
      yield* answers.take.pipe(
        Effect.flatMap((data) => {
          let responses: ReadonlyArray<FromServerEncoded>
          try {
            responses = parser.decode(data) as ReadonlyArray<FromServerEncoded>
          } catch (cause) {
            return writeResponse({ _tag: "ClientProtocolError", error: new RpcClientError({ reason: "Protocol", message: "Error decoding a runner's answer", cause }) })
          }
          return Effect.forEach(responses, writeResponse, { discard: true })
        }),
        Effect.forever,
        Effect.interruptible,
        Effect.forkScoped
      )

      // The keep-alive: the first one before the first frame, so a caller to a runner that is
      // gone fails at once rather than publishing into nothing.
      const keepAlive = ping(nc, subject, inbox, config.requestTimeout).pipe(
        Effect.matchEffect({
          onSuccess: () => Effect.sync(() => { currentError = undefined }),
          onFailure: (cause) => {
            const error = new RpcClientError({ reason: "Protocol", message: `runner ${address.host}:${address.port} is not answering on NATS`, cause })
            const first = currentError === undefined
            currentError = error
            return first ? writeResponse({ _tag: "ClientProtocolError", error }) : Effect.void
          }
        })
      )
      yield* keepAlive
      yield* keepAlive.pipe(Effect.delay(config.keepAlive), Effect.forever, Effect.interruptible, Effect.forkScoped)

      yield* Effect.addFinalizer(() => Effect.sync(() => {
        if (nc.isClosed()) return
        const h = natsHeaders()
        h.set(GOODBYE, "1")
        h.set(CALLER, inbox)
        nc.publish(subject, new Uint8Array(0), { headers: h })
      }))

      return {
        send(request: FromClientEncoded) {
          if (currentError) return Effect.fail(currentError)
          const encoded = parser.encode(request)
          if (encoded === undefined) return Effect.void
          const bytes = typeof encoded === "string" ? new TextEncoder().encode(encoded) : encoded
          if (bytes.length > limit) {
            if (request._tag !== "Request") return Effect.void
            return writeResponse(dieExit(request.id, tooLarge(`the request ${request.tag}`, bytes.length, limit)))
          }
          return Effect.try({
            try: () => nc.publish(subject, bytes, { reply: inbox }),
            catch: (cause) => new RpcClientError({ reason: "Protocol", message: "cannot publish to NATS", cause })
          })
        },
        supportsAck: true,
        supportsTransferables: false
      }
    }))
  )
)

/**
 * The runner's side: frames from every caller on the runner's subject, each caller known by its
 * inbox; answers published to that inbox.
 */
export const layerServerProtocol: Layer.Layer<RpcServer.Protocol, never, RunnerNats | ShardingConfig.ShardingConfig> = Layer.scoped(
  RpcServer.Protocol,
  Effect.gen(function*() {
    const { config, nc, subjectPrefix } = yield* RunnerNats
    const sharding = yield* ShardingConfig.ShardingConfig
    const address = Option.orElse(sharding.runnerListenAddress, () => sharding.runnerAddress)
    if (Option.isNone(address)) return yield* Effect.dieMessage("NatsRunners: this runner has no address")
    const subject = runnerSubject(subjectPrefix, address.value)
    const limit = maxPayload(nc)
    const disconnects = yield* Mailbox.make<number>()

    interface Caller {
      readonly id: number
      readonly inbox: string
      readonly parser: RpcSerialization.Parser
      lastSeen: number
    }
    const callers = new Map<string, Caller>()
    const byId = new Map<number, Caller>()
    const clientIds = new Set<number>()
    let nextId = 0
    const callerOf = (inbox: string) => {
      let caller = callers.get(inbox)
      if (caller === undefined) {
        caller = { id: nextId++, inbox, parser: serialization.unsafeMake(), lastSeen: Date.now() }
        callers.set(inbox, caller)
        byId.set(caller.id, caller)
        clientIds.add(caller.id)
      }
      return caller
    }
    const forget = (caller: Caller) => {
      callers.delete(caller.inbox)
      byId.delete(caller.id)
      clientIds.delete(caller.id)
      disconnects.unsafeOffer(caller.id)
    }

    return yield* RpcServer.Protocol.make((writeRequest) => Effect.gen(function*() {
      const incoming = yield* Mailbox.make<Msg>()
      yield* Effect.acquireRelease(
        Effect.sync(() => nc.subscribe(subject, {
          callback: (_error, msg) => {
            const caller = msg.headers?.get(CALLER) || msg.reply
            if (msg.headers?.has(KEEP_ALIVE)) {
              // Answered at once, ahead of the frames queued: it says the runner is there.
              const known = caller ? callers.get(caller) : undefined
              if (known) known.lastSeen = Date.now()
              msg.respond(new Uint8Array(0))
              return
            }
            incoming.unsafeOffer(msg)
          }
        })),
        (sub) => Effect.sync(() => sub.unsubscribe())
      )
      yield* incoming.take.pipe(
        Effect.flatMap((msg) => {
          const inbox = msg.headers?.get(CALLER) || msg.reply
          if (!inbox) return Effect.void
          if (msg.headers?.has(GOODBYE)) {
            const known = callers.get(inbox)
            return Effect.sync(() => known && forget(known))
          }
          const caller = callerOf(inbox)
          caller.lastSeen = Date.now()
          let requests: ReadonlyArray<FromClientEncoded>
          try {
            requests = caller.parser.decode(msg.data) as ReadonlyArray<FromClientEncoded>
          } catch (cause) {
            return send(caller.id, { _tag: "Defect", defect: `undecodable frame: ${String(cause)}` })
          }
          return Effect.forEach(requests, (request) => writeRequest(caller.id, request), { discard: true })
        }),
        Effect.forever,
        Effect.interruptible,
        Effect.forkScoped
      )
      // A caller silent for three keep-alives is gone: its requests are interrupted.
      const silence = Duration.toMillis(config.keepAlive) * 3 + Duration.toMillis(config.requestTimeout)
      yield* Effect.sync(() => {
        const now = Date.now()
        for (const caller of callers.values()) if (now - caller.lastSeen > silence) forget(caller)
      }).pipe(Effect.repeat(Schedule.spaced(config.keepAlive)), Effect.interruptible, Effect.forkScoped)

      function send(clientId: number, response: FromServerEncoded): Effect.Effect<void> {
        return Effect.sync(() => {
          const caller = byId.get(clientId)
          if (caller === undefined || nc.isClosed()) return
          let bytes = toBytes(caller.parser.encode(response))
          if (bytes === undefined) return
          if (bytes.length > limit) {
            if (response._tag !== "Exit" && response._tag !== "Chunk") return
            bytes = toBytes(caller.parser.encode(dieExit(response.requestId, tooLarge("the answer", bytes.length, limit))))!
          }
          nc.publish(caller.inbox, bytes)
        })
      }

      return {
        disconnects,
        send,
        end: () => Effect.void,
        clientIds: Effect.sync(() => clientIds),
        initialMessage: Effect.succeedNone,
        supportsAck: true,
        supportsTransferables: false,
        supportsSpanPropagation: true
      }
    }))
  })
)

const toBytes = (encoded: string | Uint8Array | undefined) =>
  encoded === undefined ? undefined : typeof encoded === "string" ? new TextEncoder().encode(encoded) : encoded

/**
 * Runner health over the same keep-alive request: a runner is alive when it answers one of three
 * tries. A runner that is gone answers none at once ("no responders"), so it is found dead in
 * about a second; one that is only slow has three request timeouts to answer.
 */
export const layerRunnerHealth: Layer.Layer<RunnerHealth.RunnerHealth, never, RunnerNats> = Layer.effect(
  RunnerHealth.RunnerHealth,
  Effect.map(RunnerNats, ({ config, nc, subjectPrefix }) => {
    const caller = createInbox(`_INBOX.${subjectPrefix}.health`)
    return RunnerHealth.RunnerHealth.of({
      isAlive: (address) =>
        ping(nc, runnerSubject(subjectPrefix, address), caller, config.requestTimeout).pipe(
          Effect.retry({ times: 2, schedule: Schedule.spaced("500 millis") }),
          Effect.isSuccess
        )
    })
  })
)

/**
 * Every runner watches the others (the library's health check is one singleton: when the runner
 * it ran on is the one that died, a dead runner was noticed only when its heartbeat row expired,
 * `CLUSTER_RUNNER_EXPIRATION`). A runner whose subject has no subscriber ("no responders", twice
 * in a row) has no NATS connection: it is marked unhealthy, and the others take its shards once
 * its advisory locks are free (a dead process's are at once). One that is only slow is left to
 * the health check's timeouts; one that comes back is marked healthy again by the health check.
 */
export const layerFailureDetector: Layer.Layer<never, never, RunnerNats | RunnerStorage.RunnerStorage | ShardingConfig.ShardingConfig> =
  Layer.scopedDiscard(Effect.gen(function*() {
    const { config, nc, subjectPrefix } = yield* RunnerNats
    const storage = yield* RunnerStorage.RunnerStorage
    const self = (yield* ShardingConfig.ShardingConfig).runnerAddress
    if (Option.isNone(self)) return
    const caller = createInbox(`_INBOX.${subjectPrefix}.watch`)
    const gone = (address: RunnerAddress.RunnerAddress) =>
      ping(nc, runnerSubject(subjectPrefix, address), caller, config.requestTimeout).pipe(
        Effect.as(false),
        Effect.catchAll((cause) => Effect.succeed(cause instanceof RequestError && cause.isNoResponders()))
      )
    const round = Effect.gen(function*() {
      const runners = yield* storage.getRunners
      yield* Effect.forEach(runners, ([runner, healthy]) => {
        if (!healthy || Equal.equals(runner.address, self.value)) return Effect.void
        return Effect.flatMap(gone(runner.address), (first) => !first ? Effect.void : Effect.delay(gone(runner.address), "250 millis").pipe(
          Effect.flatMap((second) => !second ? Effect.void : Effect.zipRight(
            Effect.logWarning("runner gone from NATS: marked unhealthy").pipe(Effect.annotateLogs({ runner: `${runner.address.host}:${runner.address.port}` })),
            storage.setRunnerHealth(runner.address, false)
          ))
        ))
      }, { concurrency: 8, discard: true })
    })
    yield* round.pipe(
      Effect.catchAllCause((cause) => Effect.logDebug("runner watch failed", cause)),
      Effect.repeat(Schedule.spaced(config.keepAlive)),
      Effect.interruptible,
      Effect.forkScoped
    )
  }))
