/**
 * One slow merchant never delays another (API §14, issue 11): a receiver that is down holds
 * at most its slots in the queue while its other deliveries wait in D1, and a slow receiver
 * never holds up the other attempts of its consumer batch.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { limits } from "../../src/limits";
import { dispatchFor } from "../../src/webhooks/dispatch";
import { captureWebhookQueue, deliverBatch, deliveryOf, drainWebhooks, insertEvents, merchantWithEndpoint, stubReceivers } from "../webhooks";

afterEach(() => {
  vi.restoreAllMocks();
});

async function countsOf(merchantId: string) {
  return (await env.DB.prepare(
    `SELECT
       SUM(status = 'delivered') AS delivered,
       SUM(status = 'pending' AND dispatched_at IS NOT NULL) AS in_queue,
       SUM(status = 'pending' AND dispatched_at IS NULL AND attempts = 0) AS waiting_untouched,
       SUM(status = 'failed') AS failed
     FROM webhook_deliveries WHERE merchant_id = ?`,
  )
    .bind(merchantId)
    .first<{ delivered: number; in_queue: number; waiting_untouched: number; failed: number }>())!;
}

describe("a receiver down for a long time beside a healthy one", () => {
  it("the healthy merchant's events are all delivered; the down one holds at most its slots, the rest wait in D1", async () => {
    const queued = captureWebhookQueue();
    const down = await merchantWithEndpoint();
    const healthy = await merchantWithEndpoint();
    const slots = limits.webhook_in_flight_per_merchant;
    const downEvents = await insertEvents(down.id, 3 * slots);
    const healthyEvents = await insertEvents(healthy.id, 3 * slots);
    const { received } = stubReceivers({
      [down.host]: () => new Response("maintenance", { status: 503 }),
      [healthy.host]: () => new Response(null, { status: 200 }),
    });
    expect(await dispatchFor(env, [down.id, healthy.id])).toBe(2 * slots);

    let rounds = 0;
    await drainWebhooks(queued, {
      fastForward: true,
      maxRounds: 8, // the down receiver never recovers: stop after a few hours' worth of retries
      beforeRound: async (messages) => {
        rounds++;
        const downCounts = await countsOf(down.id);
        expect(downCounts.in_queue).toBeLessThanOrEqual(slots);
        expect(downCounts.waiting_untouched).toBe(2 * slots);
        expect(messages.filter((message) => downEvents.includes(message.body.event_id)).length).toBeLessThanOrEqual(slots);
      },
    });
    expect(rounds).toBe(8);

    const healthyCounts = await countsOf(healthy.id);
    expect(healthyCounts).toMatchObject({ delivered: 3 * slots, in_queue: 0, waiting_untouched: 0, failed: 0 });
    for (const eventId of healthyEvents) expect((await deliveryOf(eventId)).attempts).toBe(1);
    const downCounts = await countsOf(down.id);
    expect(downCounts).toMatchObject({ delivered: 0, in_queue: slots, waiting_untouched: 2 * slots, failed: 0 });
    // Only the down merchant's first slots were ever tried, once per round.
    const downRequests = received.filter((request) => request.url === down.url);
    expect(downRequests).toHaveLength(8 * slots);
    expect(received.filter((request) => request.url === healthy.url)).toHaveLength(3 * slots);
  });

  it("a slow receiver does not hold up the other attempts of its batch", async () => {
    const queued = captureWebhookQueue();
    const slow = await merchantWithEndpoint();
    const fast = await merchantWithEndpoint();
    await insertEvents(slow.id, 1);
    await insertEvents(fast.id, 1);
    await dispatchFor(env, [slow.id]);
    await dispatchFor(env, [fast.id]);
    let fastReceived!: () => void;
    const fastArrived = new Promise<void>((resolve) => (fastReceived = resolve));
    // The slow receiver answers only once the fast one has been called: run one after the
    // other, the slow attempt would time out first.
    stubReceivers({
      [slow.host]: (request) =>
        new Promise<Response>((resolve, reject) => {
          request.signal!.addEventListener("abort", () => reject(request.signal!.reason));
          void fastArrived.then(() => resolve(new Response(null, { status: 200 })));
        }),
      [fast.host]: () => {
        fastReceived();
        return new Response(null, { status: 200 });
      },
    });
    expect(queued.map((message) => message.body.event_id)).toHaveLength(2);
    await deliverBatch(
      queued.splice(0).map((message) => message.body),
      { timeoutMs: 1_500 },
    );
    const { results } = await env.DB.prepare("SELECT merchant_id, status, last_status_code FROM webhook_deliveries WHERE merchant_id IN (?, ?)").bind(slow.id, fast.id).all();
    expect(results).toHaveLength(2);
    expect(results.every((row) => row.status === "delivered" && row.last_status_code === 200)).toBe(true);
  });
});
