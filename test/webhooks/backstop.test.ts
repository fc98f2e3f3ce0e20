/**
 * The cron's backstop (src/webhooks/backstop.ts): a crash between the effect and the
 * enqueue, a lost message, an attempt claimed but never recorded, and the bounded backlog.
 */
import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import Stripe from "stripe";
import { afterEach, describe, expect, it, vi } from "vitest";
import { armFault, disarmFaults } from "../../src/faults";
import worker from "../../src/index";
import { limits } from "../../src/limits";
import { failBacklogExcess, webhookBackstop } from "../../src/webhooks/backstop";
import { dispatchFor } from "../../src/webhooks/dispatch";
import { createCustomer, randomCbu } from "../helpers";
import { fund } from "../money";
import { attemptsOf, captureWebhookQueue, deliverBatch, deliveryOf, drainWebhooks, insertEvents, merchantWithEndpoint, stubReceivers } from "../webhooks";

// constructEventAsync: in workerd the stripe package's crypto is async only (signature.test.ts).
const stripe = new Stripe("sk_test_not_used_for_requests");

afterEach(() => {
  disarmFaults();
  vi.restoreAllMocks();
});

describe("the webhook backstop", () => {
  it("a crash between the cash-in's write and its dispatch: the cron still delivers the event", async () => {
    const queued = captureWebhookQueue();
    const merchant = await merchantWithEndpoint();
    const { received } = stubReceivers({ [merchant.host]: () => new Response(null, { status: 200 }) });
    const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    // The group's D1 batch lands (payment, event, delivery row), then the isolate dies: its dispatch never runs.
    armFault("groupcommit.after_batch");
    const paymentId = await fund(merchant, customer.id, 5_000);
    const event = await env.DB.prepare("SELECT id FROM events WHERE object_id = ? AND type = 'payment.credited'").bind(paymentId).first<{ id: string }>();
    expect(event).not.toBeNull();
    expect(await deliveryOf(event!.id)).toMatchObject({ status: "pending", attempts: 0, dispatched_at: null });
    expect(queued).toHaveLength(0);

    await worker.scheduled(createScheduledController({ cron: "*/5 * * * *", scheduledTime: Date.now() }), env, createExecutionContext());
    expect(queued.map((message) => message.body)).toContainEqual({ event_id: event!.id, attempt: 1 });
    await drainWebhooks(queued);
    // The cash-in's balance_account.balance.updated (API §14) is delivered too: this test follows the payment's event.
    const mine = received.filter((request) => request.url === merchant.url && (JSON.parse(request.rawBody) as { id: string }).id === event!.id);
    expect(mine).toHaveLength(1);
    const verified = await stripe.webhooks.constructEventAsync(mine[0]!.rawBody, mine[0]!.headers.get("signature")!, merchant.webhook_secret);
    expect(verified).toMatchObject({ id: event!.id, type: "payment.credited" });
    expect(await deliveryOf(event!.id)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("a lost message is sent again once its attempt is overdue by more than the lease, and only then", async () => {
    const queued = captureWebhookQueue();
    const merchant = await merchantWithEndpoint();
    const [eventId] = (await insertEvents(merchant.id, 1)) as [string];
    const { received } = stubReceivers({ [merchant.host]: () => new Response(null, { status: 200 }) });
    await dispatchFor(env, [merchant.id]);
    queued.splice(0); // the message is lost
    const now = Date.now();

    expect((await webhookBackstop(env, now + 60_000)).resent).toBe(0); // within the lease: it may still arrive
    expect(queued).toHaveLength(0);
    expect((await webhookBackstop(env, now + limits.webhook_lease_ms + 1_000)).resent).toBeGreaterThanOrEqual(1);
    expect(queued.map((message) => message.body)).toContainEqual({ event_id: eventId, attempt: 1 });
    // Sent again: not again before another lease.
    const again = await webhookBackstop(env, now + limits.webhook_lease_ms + 2_000);
    expect(again.resent).toBe(0);

    await drainWebhooks(queued);
    expect(received.filter((request) => request.url === merchant.url)).toHaveLength(1);
    expect(await deliveryOf(eventId)).toMatchObject({ status: "delivered", attempts: 1 });
  });

  it("an attempt made but never recorded (D1 failed after the POST) is tried again after the lease, never lost", async () => {
    const queued = captureWebhookQueue();
    const merchant = await merchantWithEndpoint();
    const [eventId] = (await insertEvents(merchant.id, 1)) as [string];
    const { received } = stubReceivers({ [merchant.host]: () => new Response(null, { status: 200 }) });
    await dispatchFor(env, [merchant.id]);
    const [message] = queued.splice(0);
    const batch = vi.spyOn(env.DB, "batch").mockRejectedValueOnce(new Error("D1_ERROR: simulated outage"));
    const result = await deliverBatch([message!.body]);
    batch.mockRestore();
    expect(result.retryMessages).toHaveLength(1);
    expect(received).toHaveLength(1);
    expect(await deliveryOf(eventId)).toMatchObject({ status: "pending", attempts: 1 });

    await deliverBatch([message!.body]); // the queue's retry of it: stale now, no second POST yet
    expect(received).toHaveLength(1);

    await webhookBackstop(env, Date.now() + limits.webhook_lease_ms + 1_000);
    expect(queued.map((queuedMessage) => queuedMessage.body)).toContainEqual({ event_id: eventId, attempt: 2 });
    await drainWebhooks(queued);
    expect(received).toHaveLength(2); // at least once: the receiver dedupes by event id
    expect(await deliveryOf(eventId)).toMatchObject({ status: "delivered", attempts: 2 });
    expect((await attemptsOf(eventId)).map((attempt) => attempt.attempt)).toEqual([2]);
  });

  it("bounds each merchant's backlog: the newest waiting beyond it are failed as backlog_full; claimed ones and other merchants are untouched", async () => {
    captureWebhookQueue();
    const flooded = await merchantWithEndpoint();
    const other = await merchantWithEndpoint();
    const events = await insertEvents(flooded.id, 25);
    const otherEvents = await insertEvents(other.id, 12); // at the bound, not over it
    await dispatchFor(env, [flooded.id]); // 10 claimed, 15 waiting
    expect(await failBacklogExcess(env, Date.now(), 12)).toBe(3);

    const states = await Promise.all(events.map(deliveryOf));
    expect(states.slice(0, 10).every((row) => row.status === "pending" && row.dispatched_at !== null)).toBe(true);
    expect(states.slice(10, 22).every((row) => row.status === "pending" && row.dispatched_at === null)).toBe(true);
    expect(states.slice(22).map((row) => [row.status, row.last_error, row.next_attempt_at])).toEqual([
      ["failed", "backlog_full", null],
      ["failed", "backlog_full", null],
      ["failed", "backlog_full", null],
    ]);
    expect((await Promise.all(otherEvents.map(deliveryOf))).every((row) => row.status === "pending")).toBe(true);
    expect(await failBacklogExcess(env, Date.now(), 12)).toBe(0); // within the bound now
  });

  it("the cron enforces limits.webhook_backlog_per_merchant", async () => {
    captureWebhookQueue();
    const flooded = await merchantWithEndpoint();
    const bound = limits.webhook_backlog_per_merchant;
    const excess = 7;
    // bound + excess events, written as the triggers would (one statement).
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
       INSERT INTO events (id, type, merchant_id, object_type, object_id, data, created_at)
       SELECT 'evt_bulk_' || ?1 || '_' || i, 'payment.credited', ?1, 'payment', 'pay_bulk_' || ?1 || '_' || i, '{"object":{}}', ?3 + i FROM n`,
    )
      .bind(flooded.id, bound + excess, Date.now() - 100_000)
      .run();
    const result = await webhookBackstop(env);
    expect(result.backlog_failed).toBe(excess);
    const counts = await env.DB.prepare(
      "SELECT SUM(status = 'pending') AS pending, SUM(status = 'failed' AND last_error = 'backlog_full') AS failed FROM webhook_deliveries WHERE merchant_id = ?",
    )
      .bind(flooded.id)
      .first<{ pending: number; failed: number }>();
    expect(counts).toEqual({ pending: bound, failed: excess });
    // The newest were failed.
    const newest = await deliveryOf(`evt_bulk_${flooded.id}_${bound + excess}`);
    expect(newest.last_error).toBe("backlog_full");
  });
});
