/**
 * Dispatch: hands due webhook deliveries to the webhook queue, at most
 * `limits.webhook_in_flight_per_merchant` per merchant at a time.
 *
 * A delivery row (migrations/0010) is the outbox: it is written with its event, in the same
 * atomic write as the effect. Dispatch claims due rows (sets `dispatched_at`) and sends one
 * queue message per claimed row. A slot is held by a delivery being attempted (claimed and
 * due); one that waits for a retry travels as a delayed message and holds none, so a few
 * events a receiver keeps refusing never hold up its other events, and a burst of a
 * merchant's events reaches the queue `webhook_in_flight_per_merchant` at a time. What bounds
 * a receiver that is down for days is the retry schedule and the backlog bound
 * (src/webhooks/backstop.ts), never another merchant's deliveries. A crash between the claim
 * and the send, or a lost message, leaves a claimed row whose attempt is overdue: the cron
 * sends it again (src/webhooks/backstop.ts).
 *
 * Writers that may have emitted events call `dispatchFor` with the merchants they touched,
 * after their write commits; the consumer calls it when a slot frees; the cron calls
 * `dispatchAll` as the backstop.
 */
import type { Env } from "../env";
import { limits } from "../limits";
import type { WebhookMessage } from "./message";

interface Claimed {
  event_id: string;
  attempts: number;
}

/**
 * The claim: binds ?1 now, ?2 the merchant ids (JSON), ?3 `webhook_in_flight_per_merchant`, ?4
 * `webhook_dispatch_batch_max`. Exported for the test of its query plan and of the rows it reads.
 *
 * Each merchant's waiting deliveries are read in (next_attempt_at, event_id) order, at most
 * `webhook_in_flight_per_merchant` of them (its free slots are never more; SQLite's LIMIT cannot
 * be the correlated slot count itself), from the index that keeps that order
 * (migrations/0023): a dispatch reads a few rows per merchant, not its whole backlog, which
 * made draining a backlog of n quadratic. Only the first `slots` of those are claimed.
 *
 * When those are more than `webhook_dispatch_batch_max`, the merchants that have waited longest
 * are served first: by `waiting_since` (the merchant's earliest waiting next_attempt_at, one
 * row read from that index; if any of its deliveries is due, that one is), then merchant id,
 * then the merchant's own order. `waiting` comes out in merchant-id order (its PARTITION BY),
 * so a bare LIMIT gave the cron's longest-waiting-first pass (`dispatchAll`) to the lowest
 * merchant ids, every time. What is sorted is the candidates only (a slot-full per merchant).
 */
export const claimDueWaitingSql = `WITH touched AS (SELECT DISTINCT value AS merchant_id FROM json_each(?2)),
 free AS (
   SELECT t.merchant_id, ?3 - (SELECT COUNT(*) FROM webhook_deliveries d
       WHERE d.merchant_id = t.merchant_id AND d.status = 'pending' AND d.dispatched_at IS NOT NULL
         AND d.next_attempt_at <= ?1) AS slots,
     (SELECT MIN(e.next_attempt_at) FROM webhook_deliveries e
       WHERE e.merchant_id = t.merchant_id AND e.status = 'pending' AND e.dispatched_at IS NULL) AS waiting_since
   FROM touched AS t),
 candidates AS (
   SELECT w.event_id, w.merchant_id, w.next_attempt_at
   FROM free AS f JOIN webhook_deliveries AS w ON w.event_id IN (
     SELECT x.event_id FROM webhook_deliveries AS x
     WHERE x.merchant_id = f.merchant_id AND x.status = 'pending' AND x.dispatched_at IS NULL AND x.next_attempt_at <= ?1
     ORDER BY x.next_attempt_at, x.event_id LIMIT ?3)
   WHERE f.slots > 0),
 waiting AS (
   SELECT c.event_id, c.merchant_id,
     ROW_NUMBER() OVER (PARTITION BY c.merchant_id ORDER BY c.next_attempt_at, c.event_id) AS place
   FROM candidates AS c)
 UPDATE webhook_deliveries SET dispatched_at = ?1, updated_at = ?1
 WHERE event_id IN (SELECT waiting.event_id FROM waiting JOIN free USING (merchant_id) WHERE waiting.place <= free.slots
     ORDER BY free.waiting_since, waiting.merchant_id, waiting.place LIMIT ?4)
   AND status = 'pending' AND dispatched_at IS NULL
 RETURNING event_id, attempts`;

/**
 * Claims the due waiting deliveries of these merchants that fit in their free slots, and
 * queues them. Returns how many were queued.
 */
export async function dispatchFor(env: Env, merchantIds: Iterable<string>, now = Date.now()): Promise<number> {
  const merchants = [...new Set(merchantIds)];
  if (merchants.length === 0) return 0;
  const { results } = await env.DB.prepare(claimDueWaitingSql)
    .bind(now, JSON.stringify(merchants), limits.webhook_in_flight_per_merchant, limits.webhook_dispatch_batch_max)
    .all<Claimed>();
  await send(env, results);
  return results.length;
}

/** The cron's pass: every merchant with a due waiting delivery. */
export async function dispatchAll(env: Env, now = Date.now()): Promise<number> {
  const { results } = await env.DB.prepare(
    // Longest-waiting first, so that merchants past the limit are not always the same ones.
    `SELECT merchant_id FROM webhook_deliveries WHERE status = 'pending' AND dispatched_at IS NULL AND next_attempt_at <= ?1
     GROUP BY merchant_id ORDER BY MIN(next_attempt_at) LIMIT ?2`,
  )
    .bind(now, limits.webhook_dispatch_batch_max)
    .all<{ merchant_id: string }>();
  return dispatchFor(
    env,
    results.map((row) => row.merchant_id),
    now,
  );
}

async function send(env: Env, claimed: Claimed[]): Promise<void> {
  // sendBatch takes at most 100 messages.
  for (let start = 0; start < claimed.length; start += 100) {
    const messages = claimed.slice(start, start + 100).map((row) => ({ body: { event_id: row.event_id, attempt: row.attempts + 1 } satisfies WebhookMessage }));
    await env.WEBHOOK_QUEUE.sendBatch(messages);
  }
}
