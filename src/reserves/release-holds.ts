/**
 * Releasing reserve holds (API §12, percentage policies): each withholding goes back from the
 * reserve to the merchant's balance account once its release date has passed, by the cron.
 * Exactly once per hold whatever the cron does: one batch per hold holds its ledger transaction
 * lt_release_<payout id> (a deterministic id, written only while the hold is 'held') and the
 * compare-and-set held → released. A repeated or concurrent tick finds it released and moves
 * nothing; a late tick releases what is due then. A reserve that cannot cover the release (which the API never
 * allows: no transfer leaves a reserve, and reserve_balances_equal_holds is then red) refuses the batch whole: the hold stays held, and is retried
 * with backoff (next_attempt_at). The cron picks holds by their next attempt, oldest first, so
 * refused holds wait behind due ones instead of filling every tick's LIMIT forever.
 */
import type { Env } from "../env";
import { merchantAccount, reserveAccount } from "../ledger/accounts";
import { postTransaction } from "../ledger/posting";
import { limits } from "../limits";
import { log } from "../log";
import { merchantPayoutLedgerIds } from "../payouts/create-merchant-payout";

interface DueHold {
  payout_id: string;
  merchant_id: string;
  amount: number;
  currency: string;
}

export interface ReleaseReport {
  released: number;
  refused: number;
}

export async function releaseDueReserveHolds(env: Env, now = Date.now()): Promise<ReleaseReport> {
  const { results } = await env.DB.prepare(
    // COALESCE(next_attempt_at, release_at): the expression of the index reserve_holds_due.
    `SELECT payout_id, merchant_id, amount, currency FROM reserve_holds
     WHERE status = 'held' AND release_at IS NOT NULL AND COALESCE(next_attempt_at, release_at) <= ?
     ORDER BY COALESCE(next_attempt_at, release_at) LIMIT ?`,
  )
    .bind(now, limits.reserve_releases_per_tick)
    .all<DueHold>();
  const report: ReleaseReport = { released: 0, refused: 0 };
  for (const hold of results) {
    try {
      if (await releaseHold(env.DB, hold, now)) report.released++;
    } catch (error) {
      report.refused++;
      await postponeRelease(env.DB, hold.payout_id, now);
      log("warn", "reserve hold not released; retried later", { payout_id: hold.payout_id, error: String(error) });
    }
  }
  return report;
}

/** True if this call released the hold (false: another tick did). */
export async function releaseHold(d1: D1Database, hold: DueHold, now: number): Promise<boolean> {
  const stillHeld = { sql: "EXISTS (SELECT 1 FROM reserve_holds WHERE payout_id = ? AND status = 'held')", params: [hold.payout_id] };
  const results = await d1.batch([
    ...postTransaction(
      d1,
      {
        id: merchantPayoutLedgerIds.release(hold.payout_id),
        status: "posted",
        description: "Reserve release",
        ledgerable_type: "payout",
        ledgerable_id: hold.payout_id,
        effective_at: now,
        entries: [
          { account_id: reserveAccount(hold.merchant_id, hold.currency).id, direction: "debit", amount: hold.amount },
          { account_id: merchantAccount(hold.merchant_id, hold.currency).id, direction: "credit", amount: hold.amount },
        ],
      },
      now,
      stillHeld,
    ),
    d1
      .prepare("UPDATE reserve_holds SET status = 'released', released_at = ?, updated_at = ? WHERE payout_id = ? AND status = 'held'")
      .bind(now, now, hold.payout_id),
  ]);
  return (results[results.length - 1]?.meta.changes ?? 0) > 0;
}

/** A refused release waits base × 2^(attempts − 1), capped, before the cron tries it again. */
async function postponeRelease(d1: D1Database, payoutId: string, now: number): Promise<void> {
  await d1
    .prepare(
      `UPDATE reserve_holds SET attempts = attempts + 1, updated_at = ?1,
         next_attempt_at = ?1 + MIN(?2 * (1 << MIN(attempts, 30)), ?3)
       WHERE payout_id = ?4 AND status = 'held'`,
    )
    .bind(now, limits.reserve_release_backoff_base_ms, limits.reserve_release_backoff_max_ms, payoutId)
    .run();
}
