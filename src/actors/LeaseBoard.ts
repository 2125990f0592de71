/**
 * The last heartbeat this process has seen of each ML service, kept by the services' MlService
 * actors. The table holds a lease's beat as last written, at most a lease fraction behind (a beat
 * is written at most once per fraction: 2,000 heartbeats a second must not be 2,000 writes); what
 * this process answers, and what the lease sweep checks before it declares a lease run out, adds
 * the beats seen here since.
 */
import { Effect } from "effect"
import type { ServiceId } from "../domain/MlService.ts"

export interface Beat {
  readonly at: Date
  /** The metadata's `last_heartbeat`, as the heartbeat's answer gave it. */
  readonly text: string
}

export class LeaseBoard extends Effect.Service<LeaseBoard>()("vigil/LeaseBoard", {
  sync: () => {
    const beats = new Map<string, Beat>()
    return {
      record: (id: ServiceId, beat: Beat) => void beats.set(id, beat),
      forget: (id: ServiceId) => void beats.delete(id),
      /** The last beat seen here, if it is later than `than`. */
      laterThan: (id: ServiceId, than: Date): Beat | undefined => {
        const beat = beats.get(id)
        return beat !== undefined && beat.at > than ? beat : undefined
      }
    } as const
  }
}) {}
