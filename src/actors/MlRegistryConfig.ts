/** The ML service registry's settings (seed 001), from the environment, validated at start-up. */
import { Config, Duration, Option } from "effect"

const hostList = Config.string("ML_REGISTRY_PROBE_HOSTS").pipe(
  Config.withDefault(""),
  Config.map((text) => text.split(",").map((host) => host.trim().toLowerCase()).filter((host) => host.length > 0))
)

export const MlRegistryConfig = Config.all({
  /** A service is passing while its last heartbeat (or registration) is younger than this; the seed's variable. */
  timeout: Config.integer("SERVICE_TIMEOUT_SECONDS").pipe(
    Config.validate({ message: "SERVICE_TIMEOUT_SECONDS must be from 1 to 86400", validation: (n) => n >= 1 && n <= 86_400 }),
    Config.withDefault(60),
    Config.map(Duration.seconds)
  ),
  /** A service critical this long is deregistered; unset (the seed's way): never. */
  deregisterAfter: Config.option(Config.duration("SERVICE_DEREGISTER_AFTER")),
  /** How often the lease sweep looks for leases that ran out: how late a `critical` can come. */
  checkInterval: Config.duration("SERVICE_CHECK_INTERVAL").pipe(Config.withDefault(Duration.seconds(1))),
  /** How often every service's health URL is probed. */
  probeInterval: Config.duration("ML_REGISTRY_PROBE_INTERVAL").pipe(Config.withDefault(Duration.seconds(30))),
  /** How long one probe may take (the seed's 5 s). */
  probeTimeout: Config.duration("ML_REGISTRY_PROBE_TIMEOUT").pipe(Config.withDefault(Duration.seconds(5))),
  /** Probes in flight at once. */
  probeConcurrency: Config.integer("ML_REGISTRY_PROBE_CONCURRENCY").pipe(
    Config.validate({ message: "ML_REGISTRY_PROBE_CONCURRENCY must be from 1 to 1000", validation: (n) => n >= 1 && n <= 1000 }),
    Config.withDefault(100)
  ),
  /** The hosts probes may go to (names or addresses, comma-separated); empty (the default): any. */
  probeHosts: hostList
})
export type MlRegistryConfig = Config.Config.Success<typeof MlRegistryConfig>

/** How stale the lease's last written beat may be: a beat is written at most once per this (a third of the lease). */
export const leaseFraction = (config: MlRegistryConfig) => Duration.unsafeDivide(config.timeout, 3)

export const isDeregistering = (config: MlRegistryConfig) => Option.isSome(config.deregisterAfter)
