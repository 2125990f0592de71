/** Care coordination's settings (seed 004), from the environment, validated at start-up. */
import { Config, Duration } from "effect"

export const CareConfig = Config.all({
  /** How long after booking an appointment is confirmed (0, as the seed: at once). */
  confirmDelay: Config.duration("APPOINTMENT_CONFIRM_DELAY").pipe(Config.withDefault(Duration.zero)),
  /** How long before a confirmed appointment `appointment.reminder_due` is sent. */
  reminderBefore: Config.duration("APPOINTMENT_REMINDER_BEFORE").pipe(Config.withDefault(Duration.hours(24))),
  /**
   * How often the appointment sweep starts the reminders coming due and the confirmations whose
   * start was lost (a crash between a booking's commit and its workflow's start); also how long
   * it lets an open task record be before it starts its confirmation again.
   */
  sweepInterval: Config.duration("APPOINTMENT_SWEEP_INTERVAL").pipe(Config.withDefault(Duration.seconds(30))),
  /** Seed 004 v2's rule that every booking names a doctor's schedule ("A doctor schedule must be supplied"); off: v1's bookings. */
  scheduleRequired: Config.boolean("APPOINTMENT_REQUIRE_SCHEDULE").pipe(Config.withDefault(false))
})
export type CareConfig = Config.Config.Success<typeof CareConfig>
