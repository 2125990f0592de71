/** Handlers of the `audit` group. */
import { Effect } from "effect"
import { AuditRepo } from "../persistence/AuditRepo.ts"
import type { AuditGroup, Handlers } from "./Api.ts"

export const make = Effect.gen(function*() {
  const audit = yield* AuditRepo
  return {
    list: ({ urlParams }) =>
      audit.list({
        entity_type: urlParams.entity_type,
        entity_id: urlParams.entity_id,
        action: urlParams.action,
        from: urlParams.from,
        to: urlParams.to,
        after: urlParams.cursor,
        limit: urlParams.limit
      }),
    verify: () => audit.verify()
  } satisfies Handlers<typeof AuditGroup>
})
