/**
 * The cron's webhook pass (every 5 minutes): what makes delivery independent of any one
 * writer or message surviving.
 *
 *   1. bounded backlog: a merchant with more than `webhook_backlog_per_merchant` deliveries
 *      waiting for a slot has the newest beyond it failed ("backlog_full"); they stay in the
 *      events API and can be redelivered. So retries never grow without bound.
 *   2. lost messages: a claimed delivery whose attempt is overdue by more than the lease (a
 *      crash between the claim and the send, a consumer that died mid-attempt, a lost
 *      message) is sent again. A duplicate is harmless: the attempt is a compare-and-set.
 *   3. dispatch: every merchant with a due waiting delivery (a writer that died before its
 *      dispatch, a slot freed by a consumer that died before dispatching).
 */
import type { Env } from "../env";
import { limits } from "../limits";
import { log } from "../log";
import { dispatchAll } from "./dispatch";
import type { WebhookMessage } from "./message";

export interface BackstopResult {
  backlog_failed: number;
  resent: number;
  dispatched: number;
}

export async function webhookBackstop(env: Env, now = Date.now(), backlogMax: number = limits.webhook_backlog_per_merchant): Promise<BackstopResult> {
  const backlog_failed = await failBacklogExcess(env, now, backlogMax);
  const resent = await resendOverdue(env, now);
  const dispatched = await dispatchAll(env, now);
  if (backlog_failed + resent > 0) log("warn", "webhook backstop", { backlog_failed, resent, dispatched });
  return { backlog_failed, resent, dispatched };
}

/** Fails the newest waiting deliveries beyond each merchant's backlog bound. */
export async function failBacklogExcess(env: Env, now: number, backlogMax: number): Promise<number> {
  const { results: over } = await env.DB.prepare(
    `SELECT merchant_id, COUNT(*) AS waiting FROM webhook_deliveries WHERE status = 'pending' AND dispatched_at IS NULL
     GROUP BY merchant_id HAVING COUNT(*) > ?1 LIMIT 100`,
  )
    .bind(backlogMax)
    .all<{ merchant_id: string; waiting: number }>();
  let failed = 0;
  for (const { merchant_id, waiting } of over) {
    const excess = Math.min(waiting - backlogMax, limits.webhook_backstop_rows_max - failed);
    if (excess <= 0) break;
    const result = await env.DB.prepare(
      `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = 'backlog_full', updated_at = ?1
       WHERE event_id IN (
         SELECT event_id FROM webhook_deliveries WHERE merchant_id = ?2 AND status = 'pending' AND dispatched_at IS NULL
         ORDER BY next_attempt_at DESC, event_id DESC LIMIT ?3)
       AND status = 'pending' AND dispatched_at IS NULL`,
    )
      .bind(now, merchant_id, excess)
      .run();
    failed += result.meta.changes ?? 0;
    log("warn", "webhook backlog full: the newest waiting deliveries were failed", { merchant_id, waiting, failed: result.meta.changes, bound: backlogMax });
  }
  return failed;
}

/** Sends again the claimed deliveries whose attempt is overdue by more than the lease. */
export async function resendOverdue(env: Env, now: number): Promise<number> {
  const cutoff = now - limits.webhook_lease_ms;
  // dispatched_at moves to now: the same delivery is not sent again before another lease.
  const { results } = await env.DB.prepare(
    `UPDATE webhook_deliveries SET dispatched_at = ?1, updated_at = ?1
     WHERE event_id IN (
       SELECT event_id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at < ?2
         AND dispatched_at IS NOT NULL AND dispatched_at < ?2
       ORDER BY next_attempt_at LIMIT ?3)
     AND status = 'pending' AND dispatched_at IS NOT NULL
     RETURNING event_id, attempts`,
  )
    .bind(now, cutoff, limits.webhook_backstop_rows_max)
    .all<{ event_id: string; attempts: number }>();
  for (let start = 0; start < results.length; start += 100) {
    await env.WEBHOOK_QUEUE.sendBatch(
      results.slice(start, start + 100).map((row) => ({ body: { event_id: row.event_id, attempt: row.attempts + 1 } satisfies WebhookMessage })),
    );
  }
  return results.length;
}
