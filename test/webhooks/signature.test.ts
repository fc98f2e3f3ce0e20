/**
 * A merchant verifies our webhooks with the library it already uses: the `stripe` package.
 * The whole path runs: a cash-in, its event written by the trigger, the group commit's
 * dispatch, the queue's consumer, the signed POST.
 */
import { env } from "cloudflare:workers";
import Stripe from "stripe";
import { afterEach, describe, expect, it, vi } from "vitest";
import { eventView, type EventRow } from "../../src/events/event-row";
import { webhookSignature } from "../../src/webhooks/sign";
import { createCustomer, randomCbu } from "../helpers";
import { fund } from "../money";
import { attemptsOf, captureWebhookQueue, deliveryOf, drainWebhooks, merchantWithEndpoint, stubReceivers } from "../webhooks";

// In workerd the `stripe` package resolves to its worker build, whose crypto is WebCrypto
// (SubtleCrypto, async only): there `constructEvent` throws "SubtleCryptoProvider cannot be
// used in a synchronous context", so these tests use `constructEventAsync`, which runs the
// same check (same header parsing, same HMAC over "<t>.<raw body>", same tolerance). A
// merchant on Node calls `constructEvent` with the same arguments.
const stripe = new Stripe("sk_test_not_used_for_requests");

afterEach(() => {
  vi.restoreAllMocks();
});

async function creditedEvent(merchantId: string, paymentId: string): Promise<EventRow> {
  const row = await env.DB.prepare("SELECT * FROM events WHERE object_id = ? AND type = 'payment.credited' AND merchant_id = ?").bind(paymentId, merchantId).first<EventRow>();
  expect(row).not.toBeNull();
  return row!;
}

describe("signed webhooks", () => {
  it("a cash-in's payment.credited reaches the merchant, signed so that stripe.webhooks verifies it", async () => {
    const queued = captureWebhookQueue();
    const merchant = await merchantWithEndpoint();
    const { received } = stubReceivers({ [merchant.host]: () => new Response("ok", { status: 200 }) });
    const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    const paymentId = await fund(merchant, customer.id, 12_345);
    const event = await creditedEvent(merchant.id, paymentId);

    // The group commit dispatched it: one message for the first attempt, nothing fetched yet.
    expect(queued.map((message) => message.body)).toContainEqual({ event_id: event.id, attempt: 1 });
    expect(received).toHaveLength(0);
    await drainWebhooks(queued);

    // The cash-in's balance_account.balance.updated (API §14) is delivered too: this test follows the payment's event.
    const forPayment = received.filter((request) => (JSON.parse(request.rawBody) as { id: string }).id === event.id);
    expect(forPayment).toHaveLength(1);
    const [request] = forPayment;
    expect(request!.method).toBe("POST");
    expect(request!.url).toBe(merchant.url);
    expect(request!.headers.get("content-type")).toBe("application/json");
    expect(request!.redirect).toBe("manual");
    // The body is exactly the event as the events API shows it.
    expect(request!.rawBody).toBe(JSON.stringify(eventView(event)));
    const header = request!.headers.get("signature")!;
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);

    const verified = await stripe.webhooks.constructEventAsync(request!.rawBody, header, merchant.webhook_secret);
    expect(verified.id).toBe(event.id);
    expect(verified.type).toBe("payment.credited");
    expect((verified.data.object as unknown as { id: string; amount: number }).id).toBe(paymentId);
    expect((verified.data.object as unknown as { amount: number }).amount).toBe(12_345);

    const delivery = await deliveryOf(event.id);
    expect(delivery).toMatchObject({ status: "delivered", attempts: 1, last_status_code: 200, last_error: null, next_attempt_at: null, dispatched_at: null });
    expect(await attemptsOf(event.id)).toMatchObject([{ attempt: 1, url: merchant.url, status_code: 200, error: null }]);
  });

  it("a tampered body, a wrong secret or a replayed old signature fails the merchant's verification", async () => {
    const secret = "whsec_merchant_secret_0123456789";
    const body = JSON.stringify({ id: "evt_1", object: "event", type: "payment.credited", data: { object: { amount: 100 } } });
    const header = await webhookSignature(secret, body);
    await expect(stripe.webhooks.constructEventAsync(body, header, secret)).resolves.toMatchObject({ id: "evt_1" });

    await expect(stripe.webhooks.constructEventAsync(body.replace("100", "999"), header, secret)).rejects.toThrow(/signature/i);
    await expect(stripe.webhooks.constructEventAsync(body, header, "whsec_someone_else_0123456789")).rejects.toThrow(/signature/i);
    const old = await webhookSignature(secret, body, Date.now() - 3_600_000);
    await expect(stripe.webhooks.constructEventAsync(body, old, secret)).rejects.toThrow(/tolerance/i);
  });
});
