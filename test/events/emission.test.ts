/**
 * Events are written by triggers (migrations/0010) in the same write as their effect. For each
 * type that exists now: exactly one event, whatever is retried or replayed; none before D1
 * has the effect; its data.object equal to what GET answered right after (so the SQL views
 * cannot drift from paymentView / payoutView); a delivery row only for a merchant with a
 * webhook_url.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { handleBankEvent } from "../../src/bank/handle-event";
import { paymentView, type PaymentRow } from "../../src/cashins/payment-row";
import { paymentIdOf } from "../../src/cashins/receive-transfer";
import { loadConfig } from "../../src/env";
import { eventView } from "../../src/events/event-row";
import { armFault, disarmFaults } from "../../src/faults";
import { api, bearer, createCustomer, createMerchant, json, operatorHeaders, randomCbu, randomCuit, type TestMerchant } from "../helpers";
import {
  depositReference,
  drainGroupCommit,
  drainPayoutQueue,
  expectInvariants,
  fundedCustomer,
  ownSender,
  postPayout,
  runAccountAlarm,
  sendBankEvent,
  settle,
  transferEvent,
  uniqueId,
} from "../money";
import { deliveryRow, eventsAbout, getEvent, listAll, setWebhookUrl, theEvent } from "./events-helpers";

async function merchantWithEndpoint(): Promise<TestMerchant> {
  const merchant = await createMerchant();
  await setWebhookUrl(merchant.id);
  return merchant;
}

async function getJson(path: string, apiKey: string | null) {
  const response = await api(path, { headers: apiKey === null ? operatorHeaders() : bearer(apiKey) });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

/** Payment and event counts read in one batch: one consistent snapshot of D1. */
async function paymentAndEventCounts(paymentId: string): Promise<{ payments: number; events: number }> {
  const [payments, events] = await env.DB.batch<{ n: number }>([
    env.DB.prepare("SELECT COUNT(*) AS n FROM payments WHERE id = ?").bind(paymentId),
    env.DB.prepare("SELECT COUNT(*) AS n FROM events WHERE object_id = ?").bind(paymentId),
  ]);
  return { payments: payments!.results[0]!.n, events: events!.results[0]!.n };
}

/** The event's delivery as GET /v1/events/{id} shows it to its merchant. */
async function expectPendingDelivery(merchant: TestMerchant, eventId: string) {
  const { status, body } = await getEvent(merchant.api_key, eventId);
  expect(status).toBe(200);
  expect(body.delivery).toMatchObject({ status: "pending", attempts: 0, last_attempt_at: null, last_status_code: null });
  expect(Date.parse(body.delivery!.next_attempt_at!)).toBeGreaterThan(0);
  expect(await deliveryRow(eventId)).toMatchObject({ merchant_id: merchant.id, status: "pending" });
}

async function expectNoDelivery(merchant: TestMerchant, eventId: string) {
  const { status, body } = await getEvent(merchant.api_key, eventId);
  expect(status).toBe(200);
  expect(body.delivery).toBeNull();
  expect(await deliveryRow(eventId)).toBeNull();
}

describe("payment.credited", () => {
  it("by customer reference through the group commit: none before D1 has the payment, then one, equal to GET, with a pending delivery", async () => {
    const merchant = await merchantWithEndpoint();
    const customer = await createCustomer(merchant.api_key);
    const transfer = transferEvent({ amount: 12_345, concepto: await depositReference(merchant.api_key, customer.id) });
    const paymentId = await paymentIdOf(transfer.data.bank_transaction_id);

    expect((await sendBankEvent(transfer, { drain: false })).status).toBe(200);
    // Acknowledged while D1 trails: in any one snapshot of D1, no event without its payment.
    const trailing = await paymentAndEventCounts(paymentId);
    expect(trailing.events).toBe(trailing.payments);
    await drainGroupCommit();
    expect(await paymentAndEventCounts(paymentId)).toEqual({ payments: 1, events: 1 });

    const payment = await getJson(`/v1/payments/${paymentId}`, merchant.api_key);
    const event = await theEvent(paymentId, "payment.credited");
    expect(event).toMatchObject({ merchant_id: merchant.id, object_type: "payment" });
    expect(eventView(event).data.object).toEqual(payment);
    await expectPendingDelivery(merchant, event.id);

    // The bank delivers the same transfer again (same event, and another event id): still one.
    expect((await sendBankEvent(transfer)).status).toBe(200);
    expect((await sendBankEvent({ ...transfer, id: uniqueId("evt") })).status).toBe(200);
    await runAccountAlarm(customer.id);
    expect(await eventsAbout(paymentId)).toHaveLength(1);
    await expectInvariants();
  });

  it("through the synchronous path (no group commit): one event, equal to GET; a merchant without a webhook_url gets no delivery", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const transfer = transferEvent({ amount: 2_222, concepto: await depositReference(merchant.api_key, customer.id) });
    const paymentId = await paymentIdOf(transfer.data.bank_transaction_id);
    // No waitUntil: the cash-in writes its projection itself before answering.
    expect(await handleBankEvent(env, loadConfig(env), JSON.stringify(transfer))).toMatchObject({ status: "processed", detail: "credited" });
    const event = await theEvent(paymentId, "payment.credited");
    expect(eventView(event).data.object).toEqual(await getJson(`/v1/payments/${paymentId}`, merchant.api_key));
    await expectNoDelivery(merchant, event.id);
    expect(await handleBankEvent(env, loadConfig(env), JSON.stringify(transfer))).toMatchObject({ status: "processed" });
    expect(await eventsAbout(paymentId)).toHaveLength(1);
  });

  it("by merchant reference (customer_id null): one event, equal to GET", async () => {
    const merchant = await merchantWithEndpoint();
    const transfer = transferEvent({ amount: 4_000, concepto: merchant.reference, sender: { cuit: "not-a-cuit", name: "X", cbu: null } });
    const paymentId = await paymentIdOf(transfer.data.bank_transaction_id);
    expect((await sendBankEvent(transfer)).status).toBe(200);
    const payment = await getJson(`/v1/payments/${paymentId}`, merchant.api_key);
    expect(payment).toMatchObject({ customer_id: null, matched_by: "merchant_reference" });
    const event = await theEvent(paymentId, "payment.credited");
    expect(eventView(event).data.object).toEqual(payment);
    await expectPendingDelivery(merchant, event.id);
    expect((await sendBankEvent(transfer)).status).toBe(200);
    expect(await eventsAbout(paymentId)).toHaveLength(1);
  });

  it("a group that crashes inside its batch writes no event; the alarm's replay writes exactly one", async () => {
    const merchant = await merchantWithEndpoint();
    const customer = await createCustomer(merchant.api_key);
    const transfer = transferEvent({ amount: 5_555, concepto: await depositReference(merchant.api_key, customer.id) });
    const paymentId = await paymentIdOf(transfer.data.bank_transaction_id);
    armFault("groupcommit.inside_batch");
    try {
      expect((await sendBankEvent(transfer, { drain: false })).status).toBe(200);
      await drainGroupCommit();
    } finally {
      disarmFaults();
    }
    // The batch rolled back: neither the payment nor its event.
    expect(await paymentAndEventCounts(paymentId)).toEqual({ payments: 0, events: 0 });
    await runAccountAlarm(customer.id);
    await runAccountAlarm(customer.id);
    expect(await paymentAndEventCounts(paymentId)).toEqual({ payments: 1, events: 1 });
    const event = await theEvent(paymentId, "payment.credited");
    expect(eventView(event).data.object).toEqual(await getJson(`/v1/payments/${paymentId}`, merchant.api_key));
    await expectPendingDelivery(merchant, event.id);
    expect((await sendBankEvent(transfer)).status).toBe(200);
    expect(await eventsAbout(paymentId)).toHaveLength(1);
    await expectInvariants();
  });
});

describe("the platform's payment events", () => {
  async function quarantined(sender = { cuit: randomCuit(), name: "Q Sender", cbu: randomCbu() }) {
    const transfer = transferEvent({ amount: 7_700, concepto: `nadie ${uniqueId("x")}`, sender });
    const paymentId = await paymentIdOf(transfer.data.bank_transaction_id);
    expect((await sendBankEvent(transfer)).status).toBe(200);
    return { transfer, paymentId };
  }

  /** What the operator's quarantine list shows of the payment (it has no GET by id), as a payment. */
  async function paymentAsShown(paymentId: string) {
    const row = await env.DB.prepare("SELECT * FROM payments WHERE id = ?").bind(paymentId).first<PaymentRow>();
    return paymentView(row!);
  }

  it("payment.quarantined: the platform's (merchant_id NULL), seen by the operator only, never delivered", async () => {
    const bystander = await merchantWithEndpoint();
    const { transfer, paymentId } = await quarantined();
    const event = await theEvent(paymentId, "payment.quarantined");
    expect(event.merchant_id).toBeNull();
    const page = (await getJson("/v1/admin/quarantine?limit=100", null)) as { data: Record<string, unknown>[] };
    const listed = page.data.find((item) => item.id === paymentId)!;
    const { age_seconds: _age, suggestion: _suggestion, ...asListed } = listed;
    expect(eventView(event).data.object).toEqual(asListed);
    expect(eventView(event).data.object).toEqual(await paymentAsShown(paymentId));

    expect((await getEvent(bystander.api_key, event.id)).status).toBe(404);
    expect((await listAll(bystander.api_key)).ids).not.toContain(event.id);
    const seen = await getEvent(null, event.id);
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ id: event.id, type: "payment.quarantined", delivery: null });
    expect(await deliveryRow(event.id)).toBeNull();

    expect((await sendBankEvent(transfer)).status).toBe(200);
    expect(await eventsAbout(paymentId)).toHaveLength(1);
  });

  it("payment.credited after the operator assigns a quarantined payment: the merchant's, equal to GET, delivered", async () => {
    const merchant = await merchantWithEndpoint();
    const customer = await createCustomer(merchant.api_key);
    const { paymentId } = await quarantined();
    const assign = () => api(`/v1/admin/quarantine/${paymentId}/assign`, json({ customer_id: customer.id, merchant_id: merchant.id }, operatorHeaders()));
    expect((await assign()).status).toBe(200);
    const payment = await getJson(`/v1/payments/${paymentId}`, merchant.api_key);
    expect(payment).toMatchObject({ status: "credited", matched_by: "manual" });
    const credited = await theEvent(paymentId, "payment.credited");
    expect(credited.merchant_id).toBe(merchant.id);
    expect(eventView(credited).data.object).toEqual(payment);
    await expectPendingDelivery(merchant, credited.id);
    // The quarantined event keeps its snapshot.
    expect(eventView(await theEvent(paymentId, "payment.quarantined")).data.object).toMatchObject({ status: "quarantined", merchant_id: null });

    expect((await assign()).status).toBe(200); // assigning again answers the same payment
    expect((await eventsAbout(paymentId)).map((event) => event.type)).toEqual(["payment.quarantined", "payment.credited"]);
    await expectInvariants();
  });

  it("payment.returned: quarantined money returned to its sender, once the return payout completes", async () => {
    const { paymentId } = await quarantined();
    const started = await api(`/v1/admin/quarantine/${paymentId}/return`, { method: "POST", headers: operatorHeaders() });
    expect(started.status).toBe(202);
    const { payout } = (await started.json()) as { payout: { id: string } };
    await drainPayoutQueue([payout.id]);
    expect((await eventsAbout(paymentId)).map((event) => event.type)).toEqual(["payment.quarantined"]);
    expect((await settle(payout.id, "completed")).status).toBe(200);

    const returned = await theEvent(paymentId, "payment.returned");
    expect(returned.merchant_id).toBeNull();
    expect(eventView(returned).data.object).toEqual({ ...(await paymentAsShown(paymentId)), status: "returned" });
    expect(await deliveryRow(returned.id)).toBeNull();
    // A return is no merchant payout: no payout event.
    expect(await eventsAbout(payout.id)).toHaveLength(0);
    const completed = { id: uniqueId("evt"), type: "payout.completed", created_at: new Date().toISOString(), data: { payout_id: payout.id, bank_transaction_id: uniqueId("bt") } };
    await sendBankEvent(completed);
    expect((await eventsAbout(paymentId)).map((event) => event.type)).toEqual(["payment.quarantined", "payment.returned"]);
    await expectInvariants();
  });
});

describe("payment.reversed", () => {
  it("one event when the bank reverses a credited payment, even reversed twice at once; equal to GET", async () => {
    const merchant = await merchantWithEndpoint();
    const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    const transfer = transferEvent({ amount: 10_000, concepto: await depositReference(merchant.api_key, customer.id), sender: await ownSender(customer.id) });
    const paymentId = await paymentIdOf(transfer.data.bank_transaction_id);
    expect((await sendBankEvent(transfer)).status).toBe(200);
    const reversal = { id: uniqueId("evt"), type: "transfer.reversed", created_at: new Date().toISOString(), data: { bank_transaction_id: transfer.data.bank_transaction_id, reversal_id: uniqueId("rev"), reason: "chargeback" } };
    const responses = await Promise.all([sendBankEvent(reversal), sendBankEvent({ ...reversal, id: uniqueId("evt") }), sendBankEvent(reversal)]);
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200]);
    await runAccountAlarm(customer.id);

    const payment = await getJson(`/v1/payments/${paymentId}`, merchant.api_key);
    expect(payment).toMatchObject({ status: "reversed" });
    const reversed = await theEvent(paymentId, "payment.reversed");
    expect(reversed.merchant_id).toBe(merchant.id);
    expect(eventView(reversed).data.object).toEqual(payment);
    await expectPendingDelivery(merchant, reversed.id);
    // The credited event keeps its snapshot of the payment as it was then.
    expect(eventView(await theEvent(paymentId, "payment.credited")).data.object).toEqual({ ...payment, status: "credited" });
    expect(await eventsAbout(paymentId)).toHaveLength(2);
    await expectInvariants();
  });
});

describe("payout events", () => {
  async function processingPayout(merchant: TestMerchant, customerId: string, amount: number) {
    const created = await postPayout(merchant.api_key, { customer_id: customerId, amount });
    expect(created.status).toBe(201);
    const payout = (await created.json()) as { id: string };
    await drainPayoutQueue([payout.id]);
    expect(await eventsAbout(payout.id)).toHaveLength(0); // pending, then processing: no event
    return payout.id;
  }

  it("payout.completed: one event when the bank confirms, equal to GET, even when the bank repeats it", async () => {
    const { merchant, customer } = await fundedCustomer(50_000);
    await setWebhookUrl(merchant.id);
    const payoutId = await processingPayout(merchant, customer.id, 20_000);
    const completed = { id: uniqueId("evt"), type: "payout.completed", created_at: new Date().toISOString(), data: { payout_id: payoutId, bank_transaction_id: uniqueId("bt") } };
    expect((await sendBankEvent(completed)).status).toBe(200);
    const payout = await getJson(`/v1/payouts/${payoutId}`, merchant.api_key);
    expect(payout).toMatchObject({ status: "completed" });
    const event = await theEvent(payoutId, "payout.completed");
    expect(event).toMatchObject({ merchant_id: merchant.id, object_type: "payout" });
    expect(eventView(event).data.object).toEqual(payout);
    await expectPendingDelivery(merchant, event.id);

    expect((await sendBankEvent(completed)).status).toBe(200);
    expect((await sendBankEvent({ ...completed, id: uniqueId("evt") })).status).toBe(200);
    expect(await eventsAbout(payoutId)).toHaveLength(1);
    await expectInvariants();
  });

  it("payout.failed: one event when the bank fails it for good (none for a failure it retries), equal to GET", async () => {
    const { merchant, customer } = await fundedCustomer(50_000);
    const payoutId = await processingPayout(merchant, customer.id, 30_000);
    expect((await settle(payoutId, "failed", false)).status).toBe(200); // retried: still processing
    expect(await eventsAbout(payoutId)).toHaveLength(0);
    await drainPayoutQueue([payoutId], 2);
    expect((await settle(payoutId, "failed", true)).status).toBe(200);
    const payout = await getJson(`/v1/payouts/${payoutId}`, merchant.api_key);
    expect(payout).toMatchObject({ status: "failed" });
    expect(payout.failure_reason).not.toBeNull();
    const event = await theEvent(payoutId, "payout.failed");
    expect(eventView(event).data.object).toEqual(payout);
    await expectNoDelivery(merchant, event.id); // this merchant has no webhook_url
    expect(await eventsAbout(payoutId)).toHaveLength(1);
    await expectInvariants();
  });

  it("a canceled payout emits nothing", async () => {
    const { merchant, customer } = await fundedCustomer(10_000);
    const created = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 });
    const payout = (await created.json()) as { id: string };
    expect((await api(`/v1/payouts/${payout.id}/cancel`, { method: "POST", headers: bearer(merchant.api_key) })).status).toBe(200);
    expect(await eventsAbout(payout.id)).toHaveLength(0);
  });
});
