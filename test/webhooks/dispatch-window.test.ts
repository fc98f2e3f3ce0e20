/**
 * dispatchFor reads a bounded window of each merchant's waiting deliveries (at most
 * webhook_in_flight_per_merchant, from the index that keeps their order; migrations/0023),
 * not its whole backlog: it used to number every waiting delivery of the merchant at each
 * dispatch, so draining a backlog of n read ~n²/2 rows. Order and slot rule are those of
 * test/webhooks/isolation.test.ts and backstop.test.ts, which run unchanged.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { limits } from "../../src/limits";
import { claimDueWaitingSql, dispatchFor } from "../../src/webhooks/dispatch";
import { captureWebhookQueue, insertEvents, merchantWithEndpoint } from "../webhooks";

afterEach(() => {
  vi.restoreAllMocks();
});

const backlog = 1_500;

function claim(merchantIds: string[], now: number) {
  return env.DB.prepare(claimDueWaitingSql)
    .bind(now, JSON.stringify(merchantIds), limits.webhook_in_flight_per_merchant, limits.webhook_dispatch_batch_max)
    .all<{ event_id: string }>();
}

describe("dispatch over a large backlog", () => {
  it("claims the oldest waiting deliveries, a slot-full, reading a few rows rather than the whole backlog", async () => {
    captureWebhookQueue();
    const merchant = await merchantWithEndpoint();
    const ids = await insertEvents(merchant.id, backlog); // in next_attempt_at order
    const slots = limits.webhook_in_flight_per_merchant;
    const now = Date.now() + 1_000;

    for (let round = 0; round < 3; round++) {
      const claimed = await claim([merchant.id], now);
      // The next slot-full in (next_attempt_at, event_id) order, whatever order RETURNING gives
      // them in (SQLite's is the UPDATE's, by event_id, not the claim order).
      expect(claimed.results.map((row) => row.event_id).sort()).toEqual(ids.slice(round * slots, (round + 1) * slots).sort());
      // The old query read every waiting row of the merchant (>= 1 500) to number them.
      expect(claimed.meta.rows_read).toBeLessThan(20 * slots);
      // Nothing more while the slots are held.
      const none = await claim([merchant.id], now);
      expect(none.results).toEqual([]);
      expect(none.meta.rows_read).toBeLessThan(20 * slots);
      // The attempts end: the slots free.
      await env.DB.prepare("UPDATE webhook_deliveries SET status = 'delivered', dispatched_at = NULL, next_attempt_at = NULL WHERE event_id IN (SELECT value FROM json_each(?))")
        .bind(JSON.stringify(claimed.results.map((row) => row.event_id)))
        .run();
    }
  });

  it("fills only the free slots, per merchant", async () => {
    captureWebhookQueue();
    const [busy, idle] = await Promise.all([merchantWithEndpoint(), merchantWithEndpoint()]);
    const busyIds = await insertEvents(busy.id, 30);
    const idleIds = await insertEvents(idle.id, 30);
    const now = Date.now() + 1_000;
    // Three of busy's first deliveries are being attempted (claimed and due): 7 free slots.
    await env.DB.prepare("UPDATE webhook_deliveries SET dispatched_at = ? WHERE event_id IN (SELECT value FROM json_each(?))")
      .bind(now, JSON.stringify(busyIds.slice(0, 3)))
      .run();
    const slots = limits.webhook_in_flight_per_merchant;
    expect(await dispatchFor(env, [busy.id, idle.id, busy.id], now)).toBe(slots - 3 + slots);
    const dispatched = async (merchantId: string) =>
      (
        await env.DB.prepare("SELECT event_id FROM webhook_deliveries WHERE merchant_id = ? AND dispatched_at IS NOT NULL ORDER BY next_attempt_at, event_id").bind(merchantId).all<{ event_id: string }>()
      ).results.map((row) => row.event_id);
    expect(await dispatched(busy.id)).toEqual(busyIds.slice(0, slots));
    expect(await dispatched(idle.id)).toEqual(idleIds.slice(0, slots));
  });

  it("past the claim limit, serves the longest-waiting merchants first, whatever their ids", async () => {
    captureWebhookQueue();
    const slots = limits.webhook_in_flight_per_merchant;
    // By id: low < middle < high. The high id has waited longest, the low id least.
    const [low, middle, high] = (await Promise.all([merchantWithEndpoint(), merchantWithEndpoint(), merchantWithEndpoint()])).sort((a, b) => (a.id < b.id ? -1 : 1));
    const waiting = new Map<string, string[]>();
    const backlogEach = 400;
    for (const [merchant, waitedMs] of [
      [low!, 0],
      [middle!, 60 * 60_000],
      [high!, 2 * 60 * 60_000],
    ] as const) {
      waiting.set(merchant.id, await insertEvents(merchant.id, backlogEach)); // in next_attempt_at order
      await env.DB.prepare("UPDATE webhook_deliveries SET next_attempt_at = next_attempt_at - ? WHERE merchant_id = ?").bind(waitedMs, merchant.id).run();
    }
    const now = Date.now() + 1_000;
    const merchants = [low!.id, middle!.id, high!.id];
    const ownedBy = (merchantId: string, claimed: { event_id: string }[]) => claimed.map((row) => row.event_id).filter((id) => waiting.get(merchantId)!.includes(id)).sort();
    // Room for a slot-full and a half: high's oldest slot-full, then middle's oldest half;
    // none of low's (the old query took them by merchant id: low's slot-full, half of middle's).
    const limit = slots + slots / 2;
    const first = await env.DB.prepare(claimDueWaitingSql).bind(now, JSON.stringify(merchants), slots, limit).all<{ event_id: string }>();
    expect(first.results).toHaveLength(limit);
    expect(ownedBy(high!.id, first.results)).toEqual(waiting.get(high!.id)!.slice(0, slots).sort());
    expect(ownedBy(middle!.id, first.results)).toEqual(waiting.get(middle!.id)!.slice(0, slots / 2).sort());
    expect(ownedBy(low!.id, first.results)).toEqual([]);
    // Next: high's slots are all held; middle's remaining (it still waited longest) before low's.
    const second = await env.DB.prepare(claimDueWaitingSql).bind(now, JSON.stringify(merchants), slots, limit).all<{ event_id: string }>();
    expect(second.results).toHaveLength(limit);
    expect(ownedBy(high!.id, second.results)).toEqual([]);
    expect(ownedBy(middle!.id, second.results)).toEqual(waiting.get(middle!.id)!.slice(slots / 2, slots).sort());
    expect(ownedBy(low!.id, second.results)).toEqual(waiting.get(low!.id)!.slice(0, slots).sort());
    // Still a slot-full read per merchant, not their backlogs (1 200 waiting rows).
    for (const claimed of [first, second]) expect(claimed.meta.rows_read).toBeLessThan(Math.min(20 * slots * merchants.length, backlogEach * merchants.length));
  });

  it("finds how long each merchant has waited from one index row, not by scanning its backlog", async () => {
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${claimDueWaitingSql}`).bind(Date.now(), "[]", 10, 500).all<{ detail: string }>();
    const plan = results.map((row) => row.detail).join("\n");
    // MIN(next_attempt_at) for one merchant_id: the first entry of its part of the index.
    expect(plan).toContain("SEARCH e USING INDEX webhook_deliveries_waiting_in_order (merchant_id=?)");
    expect(plan).not.toMatch(/SCAN (d|e)\b/);
  });

  it("is planned on the ordered waiting index, with no sort of a merchant's backlog", async () => {
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${claimDueWaitingSql}`).bind(Date.now(), "[]", 10, 500).all<{ detail: string }>();
    const plan = results.map((row) => row.detail).join("\n");
    expect(plan).toContain("webhook_deliveries_waiting_in_order (merchant_id=? AND next_attempt_at<?)");
    // The index gives (next_attempt_at, event_id) order: the LIMIT stops after a slot-full of rows.
    expect(plan).not.toContain("RIGHT PART OF ORDER BY");
    expect(plan).not.toMatch(/SCAN (w|x|webhook_deliveries)\b/);
  });
});
