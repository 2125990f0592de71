/** Configuration value types shared by several layers. */
import { Config } from "effect"

/** A TCP port to listen on; 0 asks the OS for a free one (tests, benchmarks). */
export const listenPort = (name: string, defaultPort: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: `${name} must be a port number (0-65535)`, validation: (n) => n >= 0 && n <= 65535 }),
    Config.withDefault(defaultPort)
  )
