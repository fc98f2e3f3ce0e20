/**
 * POST /v1/events/{id}/redeliver (API §14): a delivery already in the queue is left alone;
 * any other starts a fresh schedule now (attempts kept) and is dispatched; created if the
 * merchant has a webhook_url now; refused (422) for the platform's events and for a merchant
 * with no endpoint. Concurrent redelivers make one row and one queue message.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { dispatchFor } from "../../src/webhooks/dispatch";
import { api, createCustomer, createMerchant, operatorHeaders, bearer, type TestMerchant } from "../helpers";
import { fund, sendBankEvent, transferEvent, uniqueId } from "../money";
import { paymentIdOf } from "../../src/cashins/receive-transfer";
import { deliveryRow, getEvent, redeliver, setWebhookUrl, theEvent } from "./events-helpers";

let sendBatch: MockInstance;
beforeEach(() => {
  sendBatch = vi.spyOn(env.WEBHOOK_QUEUE, "sendBatch");
});
afterEach(() => {
  sendBatch.mockRestore();
});

/** The queue messages sent since the spy started, for this event. */
function messagesFor(eventId: string): { event_id: string; attempt: number }[] {
  return sendBatch.mock.calls.flatMap(([messages]) => (messages as { body: { event_id: string; attempt: number } }[]).map((message) => message.body)).filter((body) => body.event_id === eventId);
}

/** A credited payment's event for a merchant (with an endpoint unless `withEndpoint` is false). */
async function merchantEvent(withEndpoint = true): Promise<{ merchant: TestMerchant; eventId: string }> {
  const merchant = await createMerchant();
  if (withEndpoint) await setWebhookUrl(merchant.id);
  const customer = await createCustomer(merchant.api_key);
  const paymentId = await fund(merchant, customer.id, 1_500);
  // The cash-in's own write dispatched its delivery (src/webhooks/dispatch-after-write.ts):
  // count only what the redeliveries below send.
  sendBatch.mockClear();
  return { merchant, eventId: (await theEvent(paymentId, "payment.credited")).id };
}

/** Sets the delivery as the consumer would leave it after `attempts` attempts ending in `status`. */
async function finishDelivery(eventId: string, status: "delivered" | "failed", attempts: number, lastStatusCode: number) {
  const at = Date.now() - 60_000;
  await env.DB.prepare(
    "UPDATE webhook_deliveries SET status = ?, attempts = ?, round_attempts = ?, last_attempt_at = ?, last_status_code = ?, next_attempt_at = NULL, dispatched_at = NULL, updated_at = ? WHERE event_id = ?",
  )
    .bind(status, attempts, attempts, at, lastStatusCode, at, eventId)
    .run();
}

describe("redelivering an event", () => {
  for (const [status, code] of [["delivered", 200], ["failed", 503]] as const) {
    it(`restarts a ${status} delivery now, keeping its attempts, and queues it once`, async () => {
      const { merchant, eventId } = await merchantEvent();
      await finishDelivery(eventId, status, 4, code);
      const before = Date.now();
      const response = await redeliver(merchant.api_key, eventId);
      expect(response.status).toBe(202);
      expect(response.body).toMatchObject({ id: eventId, object: "event", type: "payment.credited", delivery: { status: "pending", attempts: 4, last_status_code: code } });
      expect(response.body.delivery!.last_attempt_at).not.toBeNull();
      expect(Date.parse(response.body.delivery!.next_attempt_at!)).toBeGreaterThanOrEqual(before);
      const row = await deliveryRow(eventId);
      expect(row).toMatchObject({ status: "pending", attempts: 4, round_attempts: 0 });
      expect(row!.dispatched_at).not.toBeNull(); // claimed and sent
      expect(messagesFor(eventId)).toEqual([{ event_id: eventId, attempt: 5 }]);
    });
  }

  it("leaves a delivery already in the queue as it is", async () => {
    const { merchant, eventId } = await merchantEvent();
    // The cash-in's write dispatched it already; a second dispatch finds nothing to claim.
    expect(await dispatchFor(env, [merchant.id])).toBe(0);
    const dispatched = await deliveryRow(eventId);
    expect(dispatched!.dispatched_at).not.toBeNull();
    sendBatch.mockClear();
    const response = await redeliver(merchant.api_key, eventId);
    expect(response.status).toBe(202);
    expect(response.body.delivery).toMatchObject({ status: "pending", attempts: 0 });
    expect(await deliveryRow(eventId)).toEqual(dispatched);
    expect(sendBatch).not.toHaveBeenCalled();
  });

  it("brings forward a delivery waiting hours for its next retry (a fixed endpoint need not wait)", async () => {
    const { merchant, eventId } = await merchantEvent();
    // After 3 failed attempts: in the queue as a delayed message due in 6 hours.
    await env.DB.prepare("UPDATE webhook_deliveries SET attempts = 3, round_attempts = 3, next_attempt_at = ?, last_status_code = 503 WHERE event_id = ?")
      .bind(Date.now() + 6 * 3_600_000, eventId)
      .run();
    const before = Date.now();
    const response = await redeliver(merchant.api_key, eventId);
    expect(response.status).toBe(202);
    const row = await deliveryRow(eventId);
    expect(row).toMatchObject({ status: "pending", attempts: 3, round_attempts: 0 });
    expect(row!.next_attempt_at!).toBeLessThanOrEqual(Date.now());
    expect(row!.next_attempt_at!).toBeGreaterThanOrEqual(before);
    expect(messagesFor(eventId)).toEqual([{ event_id: eventId, attempt: 4 }]);
  });

  it("queues now a pending delivery that was waiting", async () => {
    const { merchant, eventId } = await merchantEvent();
    // Waiting with a later attempt due (as after a slot freed late): redelivery makes it due now.
    await env.DB.prepare("UPDATE webhook_deliveries SET next_attempt_at = ?, round_attempts = 3, attempts = 3, dispatched_at = NULL WHERE event_id = ?").bind(Date.now() + 3_600_000, eventId).run();
    const response = await redeliver(merchant.api_key, eventId);
    expect(response.status).toBe(202);
    expect(await deliveryRow(eventId)).toMatchObject({ status: "pending", attempts: 3, round_attempts: 0 });
    expect(messagesFor(eventId)).toEqual([{ event_id: eventId, attempt: 4 }]);
    expect(merchant.id).toBeTruthy();
  });

  it("creates the delivery of an event from before the merchant had a webhook_url, once it has one", async () => {
    const { merchant, eventId } = await merchantEvent(false);
    expect((await getEvent(merchant.api_key, eventId)).body.delivery).toBeNull();
    await setWebhookUrl(merchant.id);
    const response = await redeliver(merchant.api_key, eventId);
    expect(response.status).toBe(202);
    expect(response.body.delivery).toMatchObject({ status: "pending", attempts: 0, last_attempt_at: null, last_status_code: null });
    expect(await deliveryRow(eventId)).toMatchObject({ merchant_id: merchant.id, status: "pending", attempts: 0, round_attempts: 0 });
    expect(messagesFor(eventId)).toEqual([{ event_id: eventId, attempt: 1 }]);
  });

  it("refuses (422 invalid_state) a merchant with no webhook_url, and changes nothing", async () => {
    const { merchant, eventId } = await merchantEvent(false);
    const response = await redeliver(merchant.api_key, eventId);
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({ code: "invalid_state" });
    expect(response.body.detail).toContain("webhook_url");
    expect(await deliveryRow(eventId)).toBeNull();

    // An endpoint removed after a delivery failed: refused too, the failed delivery untouched.
    const other = await merchantEvent();
    await finishDelivery(other.eventId, "failed", 2, 500);
    const failed = await deliveryRow(other.eventId);
    await setWebhookUrl(other.merchant.id, null);
    const refused = await redeliver(other.merchant.api_key, other.eventId);
    expect(refused.status).toBe(422);
    expect(refused.body.detail).toContain("webhook_url");
    expect(await deliveryRow(other.eventId)).toEqual(failed);
    expect(sendBatch).not.toHaveBeenCalled();
  });

  it("refuses (422 invalid_state) the platform's events, which go to no merchant", async () => {
    const transfer = transferEvent({ amount: 700, concepto: `nadie ${uniqueId("x")}` });
    expect((await sendBankEvent(transfer)).status).toBe(200);
    const event = await theEvent(await paymentIdOf(transfer.data.bank_transaction_id), "payment.quarantined");
    const response = await redeliver(null, event.id);
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({ code: "invalid_state" });
    expect(await deliveryRow(event.id)).toBeNull();
  });

  it("lets the operator redeliver any merchant's event", async () => {
    const { eventId } = await merchantEvent();
    await finishDelivery(eventId, "failed", 1, 500);
    const response = await redeliver(null, eventId);
    expect(response.status).toBe(202);
    expect(response.body.delivery).toMatchObject({ status: "pending", attempts: 1 });
    expect(messagesFor(eventId)).toEqual([{ event_id: eventId, attempt: 2 }]);
  });

  it("two concurrent redelivers make one row and one queue message, whether restarting or creating", async () => {
    const restarted = await merchantEvent();
    await finishDelivery(restarted.eventId, "failed", 6, 500);
    const created = await merchantEvent(false);
    await setWebhookUrl(created.merchant.id);

    const responses = await Promise.all([
      redeliver(restarted.merchant.api_key, restarted.eventId),
      redeliver(restarted.merchant.api_key, restarted.eventId),
      redeliver(created.merchant.api_key, created.eventId),
      redeliver(null, created.eventId),
    ]);
    expect(responses.map((response) => response.status)).toEqual([202, 202, 202, 202]);
    expect(messagesFor(restarted.eventId)).toEqual([{ event_id: restarted.eventId, attempt: 7 }]);
    expect(messagesFor(created.eventId)).toEqual([{ event_id: created.eventId, attempt: 1 }]);
    const rows = await env.DB.prepare("SELECT event_id, status, dispatched_at FROM webhook_deliveries WHERE event_id IN (?, ?)").bind(restarted.eventId, created.eventId).all<{ status: string; dispatched_at: number | null }>();
    expect(rows.results).toHaveLength(2);
    for (const row of rows.results) expect(row).toMatchObject({ status: "pending", dispatched_at: expect.any(Number) });
  });

  it("answers a retry with the same Idempotency-Key from the key's record, changing nothing again", async () => {
    const { merchant, eventId } = await merchantEvent();
    await finishDelivery(eventId, "failed", 1, 500);
    const post = () => api(`/v1/events/${eventId}/redeliver`, { method: "POST", headers: { ...bearer(merchant.api_key), "idempotency-key": "redeliver-1" } });
    const first = await post();
    expect(first.status).toBe(202);
    const firstBody = await first.json();
    await finishDelivery(eventId, "failed", 2, 500); // failed again since
    const retry = await post();
    expect(retry.status).toBe(202);
    expect(await retry.json()).toEqual(firstBody);
    expect(await deliveryRow(eventId)).toMatchObject({ status: "failed", attempts: 2 });
    expect(messagesFor(eventId)).toHaveLength(1);
    // Without the key it is a new request.
    expect((await api(`/v1/events/${eventId}/redeliver`, { method: "POST", headers: operatorHeaders() })).status).toBe(202);
    expect(messagesFor(eventId)).toHaveLength(2);
  });
});
