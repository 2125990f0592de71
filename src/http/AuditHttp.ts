/** Handlers of the `audit` group. */
import { Effect } from "effect"
import { AuditRepo } from "../persistence/AuditRepo.ts"
import type { AuditGroup } from "./Api.ts"
import type { GroupHandlers } from "./ApiServer.ts"

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
  } satisfies GroupHandlers<typeof AuditGroup, never>
})
