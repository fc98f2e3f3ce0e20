/**
 * POST /v1/events/{id}/redeliver (API §14: "queues it again"), with Stripe's semantics: a
 * delivery being attempted now (in the queue and due) is left alone; any other (waiting for
 * a slot, waiting hours for its next retry, delivered, failed, or none yet) starts a fresh
 * retry schedule now, and is then dispatched like any due delivery (within the merchant's
 * bounded slots: src/webhooks/dispatch.ts). A retry's delayed message still in the queue then
 * carries an attempt number the restarted delivery uses or has passed: the consumer's
 * compare-and-set lets only one attempt have each number.
 *
 * The merchant's `webhook_events` filter (src/webhooks/event-filter.ts) is not consulted: it
 * decides which events get a delivery when they happen; a redeliver names its event, so an
 * event of a type the merchant has not enabled is delivered on this explicit request (202).
 */
import { eq } from "drizzle-orm";
import { database } from "../db/client";
import { merchants } from "../db/schema";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { dispatchFor } from "../webhooks/dispatch";
import type { EventRow } from "./event-row";

/**
 * One statement, so that concurrent redelivers (and the dispatcher) see it atomically: it
 * creates the delivery if the event has none and the merchant has a webhook_url now, or
 * restarts it unless it is being attempted (pending, dispatched and due). `attempts` is kept: it counts every
 * attempt. Returns whether it changed anything.
 */
async function restartDelivery(d1: D1Database, event: EventRow, now: number): Promise<boolean> {
  // Raw: an INSERT … SELECT from merchants whose upsert updates only WHERE NOT (…): drizzle cannot say it.
  const restarted = await d1
    .prepare(
      `INSERT INTO webhook_deliveries (event_id, merchant_id, status, next_attempt_at, created_at, updated_at)
       SELECT ?1, m.id, 'pending', ?3, ?3, ?3 FROM merchants AS m WHERE m.id = ?2 AND m.webhook_url IS NOT NULL
       ON CONFLICT (event_id) DO UPDATE SET
         status = 'pending', round_attempts = 0, next_attempt_at = excluded.next_attempt_at,
         dispatched_at = NULL, updated_at = excluded.updated_at
       WHERE NOT (webhook_deliveries.status = 'pending' AND webhook_deliveries.dispatched_at IS NOT NULL
                  AND webhook_deliveries.next_attempt_at <= ?3)
       RETURNING event_id`,
    )
    .bind(event.id, event.merchant_id, now)
    .first<{ event_id: string }>();
  return restarted !== null;
}

/** Queues the event's delivery again (see above). The caller has checked that it may see the event. */
export async function redeliverEvent(env: Env, event: EventRow, now = Date.now()): Promise<void> {
  const merchantId = event.merchant_id;
  if (merchantId === null) throw new ApiError("invalid_state", "This is a platform event: it is delivered to no merchant, so it cannot be redelivered.");
  if (!(await restartDelivery(env.DB, event, now))) {
    // Nothing changed: either the merchant has no endpoint (nothing to deliver to), or the
    // delivery is already in the queue (it will be attempted; nothing to do).
    const merchant = await database(env.DB).select({ webhook_url: merchants.webhook_url }).from(merchants).where(eq(merchants.id, merchantId)).get();
    if (!merchant || merchant.webhook_url === null) {
      throw new ApiError("invalid_state", "The merchant has no webhook_url: set one (PATCH /v1/merchant) before redelivering.");
    }
    return;
  }
  await dispatchFor(env, [merchantId], now);
}
