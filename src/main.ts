/** Starts Vigil; SIGTERM or SIGINT closes HTTP, gRPC, the pool and any embedded database, in that order. */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as App from "./App.ts"
import * as Logging from "./Logging.ts"

// The logger is provided to the whole program (not to the app layer) so that it is in effect
// while the layers are built, and for the fibers they fork.
NodeRuntime.runMain(Layer.launch(App.layer).pipe(Effect.provide(Logging.layer)), { disablePrettyLogger: true })
