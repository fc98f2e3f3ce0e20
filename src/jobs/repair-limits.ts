/** Bounds of the repair job (src/jobs/repair.ts). */
export const repairLimits = {
  /** How old an unfinished step must be before repair assumes its request died. */
  stale_after_ms: 60_000,
  /** A payout idle this long in pending/processing (never accepted by the bank) is re-queued. */
  idle_payout_ms: 5 * 60_000,
  /** Rows one run repairs of each kind; the next run takes the rest. */
  batch_rows: 100,
} as const;
