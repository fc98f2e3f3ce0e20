/** Bounds of sweeps (API §12). */
export const sweepLimits = {
  /** Active sweeps one balance account may be the source of (422 invalid_state beyond). */
  active_per_balance_account_max: 20,
  /** Sweeps one cron tick runs at most; the next tick (5 minutes later) takes the rest, still on time for their day. */
  runs_per_tick_max: 100,
  /**
   * A run still `pending` this long after its claim was left by a cron invocation that died
   * between claiming it and recording its outcome: a later tick finishes it. Longer than a cron
   * invocation may live (15 minutes of wall time), so the claimer is certainly gone and never
   * races the tick that finishes its run.
   */
  pending_run_lease_ms: 20 * 60_000,
} as const;
