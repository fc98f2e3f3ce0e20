/**
 * The repair job (cron): drives every interrupted operation to its end. Each step is one of
 * the idempotent steps the normal path runs, so repairing something that was not broken
 * changes nothing.
 *  - payouts whose customer object was not told of their settlement (customer_sync marker)
 *  - payouts pending or processing but idle: queued again (a lost queue message)
 * Projections a customer's object made but D1 missed are repaired by that object's alarm.
 */
import type { Env } from "../env";
import { log } from "../log";
import { enqueueSubmission } from "../payouts/create-payout";
import { syncCustomer } from "../payouts/finish-payout";
import type { PayoutRow } from "../payouts/payout-row";

export const repairLimits = {
  /** How old an unfinished step must be before repair assumes its request died. */
  stale_after_ms: 60_000,
  /** A payout idle this long in pending/processing (never accepted by the bank) is re-queued. */
  idle_payout_ms: 5 * 60_000,
  /** Rows one run repairs of each kind; the next run takes the rest. */
  batch_rows: 100,
} as const;

export interface RepairReport {
  synced: number;
  requeued: number;
}

export async function repair(env: Env, now = Date.now()): Promise<RepairReport> {
  const { results: unsynced } = await env.DB.prepare(
    "SELECT * FROM payouts WHERE customer_sync IS NOT NULL AND updated_at < ? ORDER BY updated_at LIMIT ?",
  )
    .bind(now - repairLimits.stale_after_ms, repairLimits.batch_rows)
    .all<PayoutRow>();
  let synced = 0;
  for (const payout of unsynced) {
    if ((await syncCustomer(env, payout)).customer_sync === null) synced++;
  }

  const { results: idle } = await env.DB.prepare(
    `SELECT id FROM payouts WHERE status IN ('pending', 'processing') AND submitted_at IS NULL AND updated_at < ?
     ORDER BY updated_at LIMIT ?`,
  )
    .bind(now - repairLimits.idle_payout_ms, repairLimits.batch_rows)
    .all<{ id: string }>();
  for (const { id } of idle) await enqueueSubmission(env, id);

  if (synced > 0 || idle.length > 0) log("warn", "repair finished interrupted operations", { synced, requeued: idle.length });
  return { synced, requeued: idle.length };
}
