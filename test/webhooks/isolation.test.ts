/**
 * One slow merchant never delays another (API §14, issue 11): a receiver that is down never
 * delays another merchant's deliveries, a burst reaches the queue a slot-full at a time, events
 * a receiver keeps refusing never hold up the ones it accepts, and a slow receiver never holds
 * up the other attempts of its consumer batch.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/env";
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
  it("the healthy merchant's events are all delivered at once; the down one's each get their own retries, a slot-full of first attempts at a time", async () => {
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
    // insertEvents spaces the events 1 ms apart from now: dispatch once they are all due.
    expect(await dispatchFor(env, [down.id, healthy.id], Date.now() + 1_000)).toBe(2 * slots);

    let rounds = 0;
    await drainWebhooks(queued, {
      // Production's base: a retry is not due the moment it is scheduled (at the tests' 1 ms it
      // would be, and a due retry rightly holds its slot).
      config: { ...loadConfig(env), webhookRetryBaseMs: 60_000 },
      fastForward: true,
      maxRounds: 8, // the down receiver never recovers: stop after a few hours' worth of retries
      beforeRound: async (messages) => {
        rounds++;
        // A burst reaches the queue a slot-full at a time: never more first attempts at once.
        const firstAttempts = messages.filter((message) => downEvents.includes(message.body.event_id) && message.body.attempt === 1);
        expect(firstAttempts.length).toBeLessThanOrEqual(slots);
      },
    });
    expect(rounds).toBe(8);

    const healthyCounts = await countsOf(healthy.id);
    expect(healthyCounts).toMatchObject({ delivered: 3 * slots, in_queue: 0, waiting_untouched: 0, failed: 0 });
    for (const eventId of healthyEvents) expect((await deliveryOf(eventId)).attempts).toBe(1);
    // A delivery waiting for its retry holds no slot: every one of the down merchant's events
    // was tried (none waits behind the first ones for days), and none has failed yet.
    const downCounts = await countsOf(down.id);
    expect(downCounts).toMatchObject({ delivered: 0, waiting_untouched: 0, failed: 0 });
    for (const eventId of downEvents) expect((await deliveryOf(eventId)).attempts).toBeGreaterThanOrEqual(1);
    expect(received.filter((request) => request.url === healthy.url)).toHaveLength(3 * slots);
  });

  it("events a receiver keeps refusing do not hold up the ones it accepts", async () => {
    const queued = captureWebhookQueue();
    const merchant = await merchantWithEndpoint();
    const slots = limits.webhook_in_flight_per_merchant;
    const refused = await insertEvents(merchant.id, slots); // e.g. a handler bug for one event type
    const accepted = await insertEvents(merchant.id, 3);
    stubReceivers({
      [merchant.host]: (request) => new Response(null, { status: refused.includes((JSON.parse(request.rawBody) as { id: string }).id) ? 500 : 200 }),
    });
    await dispatchFor(env, [merchant.id], Date.now() + 1_000);
    await drainWebhooks(queued, { config: { ...loadConfig(env), webhookRetryBaseMs: 60_000 }, fastForward: true, maxRounds: 4 });
    for (const eventId of accepted) expect(await deliveryOf(eventId)).toMatchObject({ status: "delivered", attempts: 1 });
    for (const eventId of refused) expect(await deliveryOf(eventId)).toMatchObject({ status: "pending" });
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
