/**
 * Every event type of API §14; those of later features are emitted once they exist. A module of
 * its own: the drizzle schema types `events.type` with it.
 */
export const eventTypes = [
  "payment.credited",
  "payment.quarantined",
  "payment.reversed",
  "payment.returned",
  "payout.completed",
  "payout.failed",
  "virtual_account.expired",
  "transfer.completed",
  "balance_account.balance.updated",
  "balance_account.sweep.completed",
  "balance_account.sweep.failed",
  "reserve_account.threshold_reached",
] as const;

export type EventType = (typeof eventTypes)[number];
