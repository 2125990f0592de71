/**
 * `npm run seed`: migrates the database (DATABASE_URL, or the embedded one) and inserts the demo
 * data that is missing. Safe to run any number of times.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import * as Database from "../src/persistence/Database.ts"
import * as DemoData from "../src/persistence/DemoData.ts"
import * as Logging from "../src/Logging.ts"

const program = Effect.gen(function*() {
  const database = yield* Database.Database
  const added = yield* DemoData.seed()
  yield* Effect.logInfo("seed complete").pipe(Effect.annotateLogs({ database: database.location, added }))
})

NodeRuntime.runMain(program.pipe(Effect.provide(Database.layer), Effect.provide(Logging.layer)), {
  disablePrettyLogger: true
})
