/** Bounds of virtual accounts (API §11). */
export const virtualAccountLimits = {
  /** A per_transaction account expires at most this far ahead. */
  expiry_max_ms: 90 * 24 * 60 * 60 * 1000,
  /** An account registering this long was left by a request that died: the cron finishes it. */
  registration_stale_ms: 60_000,
  /** An account the bank has not registered after this long is retired (its key's retry is 409). */
  registration_give_up_ms: 24 * 60 * 60 * 1000,
  /** Rows one cron run finishes, retires or expires of each kind; the next run takes the rest. */
  repair_batch_rows: 100,
  /** Open (active) per_transaction accounts one customer may have with one merchant. */
  open_per_transaction_per_customer_max: 1_000,
} as const;
