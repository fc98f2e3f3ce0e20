/**
 * Every money path that may emit a merchant's event dispatches its webhook right after its
 * write (src/webhooks/dispatch-after-write.ts), and a dispatch that fails never fails the money
 * operation (the cron's backstop delivers instead).
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ReceivedEvent } from "../../src/bank/event-log";
import type { TransferReceived } from "../../src/bank/events";
import { paymentIdOf, receiveTransfer } from "../../src/cashins/receive-transfer";
import { loadConfig } from "../../src/env";
import { dispatchAfterWrite } from "../../src/webhooks/dispatch-after-write";
import { webhookBackstop } from "../../src/webhooks/backstop";
import { api, createCustomer, json, operatorHeaders, randomCbu } from "../helpers";
import { balanceOf, depositReference, drainPayoutQueue, fund, ownSender, postPayout, sendBankEvent, settle, transferEvent, uniqueId } from "../money";
import { captureWebhookQueue, deliveryOf, drainWebhooks, merchantWithEndpoint, stubReceivers, type QueuedMessage } from "../webhooks";

afterEach(() => {
  vi.restoreAllMocks();
});

async function eventOf(objectId: string, type: string): Promise<string> {
  const row = await env.DB.prepare("SELECT id FROM events WHERE object_id = ? AND type = ?").bind(objectId, type).first<{ id: string }>();
  expect(row, `${type} for ${objectId}`).not.toBeNull();
  return row!.id;
}

function firstAttemptQueued(queued: QueuedMessage[], eventId: string): boolean {
  return queued.some((message) => message.body.event_id === eventId && message.body.attempt === 1);
}

async function fundedMerchantWithEndpoint(amount: number) {
  const merchant = await merchantWithEndpoint();
  const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
  await fund(merchant, customer.id, amount);
  return { merchant, customer };
}

describe("dispatch after the write", () => {
  it("a payout's completion and failure are dispatched by the settlement itself", async () => {
    const queued = captureWebhookQueue();
    const { merchant, customer } = await fundedMerchantWithEndpoint(100_000);
    const { received } = stubReceivers({ [merchant.host]: () => new Response(null, { status: 200 }) });
    const completed = (await (await postPayout(merchant.api_key, { customer_id: customer.id, amount: 10_000 })).json()) as { id: string };
    const failed = (await (await postPayout(merchant.api_key, { customer_id: customer.id, amount: 20_000 })).json()) as { id: string };
    await drainPayoutQueue([completed.id, failed.id]);
    queued.splice(0);
    expect((await settle(completed.id, "completed")).status).toBe(200);
    expect((await settle(failed.id, "failed", true)).status).toBe(200);
    const completedEvent = await eventOf(completed.id, "payout.completed");
    const failedEvent = await eventOf(failed.id, "payout.failed");
    expect(firstAttemptQueued(queued, completedEvent)).toBe(true);
    expect(firstAttemptQueued(queued, failedEvent)).toBe(true);
    await drainWebhooks(queued);
    // Each settlement also moved the merchant's balance: balance_account.balance.updated (API §14) rides along.
    const types = received.map((request) => (JSON.parse(request.rawBody) as { type: string }).type);
    expect(types.filter((type) => type !== "balance_account.balance.updated").sort()).toEqual(["payout.completed", "payout.failed"]);
  });

  it("an operator's assignment of a quarantined payment dispatches its payment.credited", async () => {
    const queued = captureWebhookQueue();
    const merchant = await merchantWithEndpoint();
    const customer = await createCustomer(merchant.api_key);
    const transfer = transferEvent({ amount: 7_000, concepto: "sin referencia" });
    expect((await sendBankEvent(transfer)).status).toBe(200);
    const paymentId = await paymentIdOf(transfer.data.bank_transaction_id);
    expect(queued).toHaveLength(0); // quarantined: the platform's event, no merchant's
    const assigned = await api(`/v1/admin/quarantine/${paymentId}/assign`, json({ customer_id: customer.id, merchant_id: merchant.id }, operatorHeaders()));
    expect(assigned.status).toBe(200);
    expect(firstAttemptQueued(queued, await eventOf(paymentId, "payment.credited"))).toBe(true);
  });

  it("a reversal dispatches its payment.reversed", async () => {
    const queued = captureWebhookQueue();
    const merchant = await merchantWithEndpoint();
    const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    const paymentId = await fund(merchant, customer.id, 3_000);
    const payment = await env.DB.prepare("SELECT bank_transaction_id FROM payments WHERE id = ?").bind(paymentId).first<{ bank_transaction_id: string }>();
    queued.splice(0);
    const reversal = { id: uniqueId("evt"), type: "transfer.reversed", created_at: new Date().toISOString(), data: { bank_transaction_id: payment!.bank_transaction_id, reversal_id: uniqueId("rev"), reason: "fraud" } };
    expect((await sendBankEvent(reversal)).status).toBe(200);
    expect(firstAttemptQueued(queued, await eventOf(paymentId, "payment.reversed"))).toBe(true);
  });

  it("a cash-in written by its own request (no group: reconciliation's recovery, back-pressure) dispatches too", async () => {
    const queued = captureWebhookQueue();
    const merchant = await merchantWithEndpoint();
    const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    // Without a waitUntil (reconciliation's recovery, an operator's retry) the cash-in writes its own projection (project()).
    const transfer = transferEvent({ amount: 4_000, sender: await ownSender(customer.id), concepto: `pago ${await depositReference(merchant.api_key, customer.id)}` });
    const received: ReceivedEvent = { id: transfer.id, type: transfer.type, payload: JSON.stringify(transfer), received_at: Date.now() };
    const result = await receiveTransfer(env, loadConfig(env), received, transfer.data as TransferReceived);
    expect(result.outcome).toBe("credited");
    expect(firstAttemptQueued(queued, await eventOf(result.payment_id, "payment.credited"))).toBe(true);
  });

  it("a dispatch that fails never fails the cash-in; the cron delivers it", async () => {
    const queued = captureWebhookQueue();
    const merchant = await merchantWithEndpoint();
    const { received } = stubReceivers({ [merchant.host]: () => new Response(null, { status: 200 }) });
    const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    const sendBatch = vi.spyOn(env.WEBHOOK_QUEUE, "sendBatch").mockRejectedValue(new Error("queue unavailable"));
    const paymentId = await fund(merchant, customer.id, 9_000); // asserts the 200 and the payment
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 9_000 });
    const eventId = await eventOf(paymentId, "payment.credited");
    sendBatch.mockRestore();
    expect(queued).toHaveLength(0);
    const later = captureWebhookQueue();
    // Claimed, its message lost with the queue: the backstop re-sends it after the lease.
    await webhookBackstop(env, Date.now() + 16 * 60_000);
    expect(later.map((message) => message.body)).toContainEqual({ event_id: eventId, attempt: 1 });
    await drainWebhooks(later.filter((message) => message.body.event_id === eventId));
    expect(received).toHaveLength(1);
    expect((await deliveryOf(eventId)).status).toBe("delivered");
  });

  it("no merchant to dispatch for: no D1 query", async () => {
    const prepare = vi.spyOn(env.DB, "prepare");
    await dispatchAfterWrite(env, [null, undefined]);
    expect(prepare).not.toHaveBeenCalled();
  });
});
