import { env } from "cloudflare:workers";
import { applyProjection } from "../../src/accounts/projections";
import { describe, expect, it } from "vitest";
import { api, bearer, createCustomer, createMerchant, json, operatorHeaders, randomCbu, randomCuit } from "../helpers";
import { balanceOf, depositReference, drainPayoutQueue, expectInvariants, merchantBalance, objectBalance, ownSender, sendBankEvent, settle, transferEvent, uniqueId } from "../money";

type Quarantined = { id: string; amount: number; suggestion: { customer_id: string; merchant_id: string | null; reason: string } | null; age_seconds: number };

async function quarantine(amount: number, concepto: string, sender = { cuit: randomCuit(), name: "Q Sender", cbu: randomCbu() }) {
  const event = transferEvent({ amount, concepto, sender });
  expect((await sendBankEvent(event)).status).toBe(200);
  const page = (await (await api("/v1/admin/quarantine?limit=100", { headers: operatorHeaders() })).json()) as { data: (Quarantined & { bank_transaction_id: string })[] };
  const item = page.data.find((candidate) => candidate.bank_transaction_id === event.data.bank_transaction_id);
  expect(item).toBeDefined();
  return item!;
}

function typo(reference: string): string {
  const symbol = reference.at(-2)!;
  return reference.slice(0, -2) + (symbol === "7" ? "8" : "7") + reference.at(-1);
}

const assign = (paymentId: string, body: Record<string, unknown>) =>
  api(`/v1/admin/quarantine/${paymentId}/assign`, json(body, operatorHeaders()));

describe("the quarantine", () => {
  it("lists a held cash-in with its age and suggests the customer whose reference is one typo away", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = await depositReference(merchant.api_key, customer.id);
    const held = await quarantine(2_500, `pago ${typo(reference)}`);
    expect(held.age_seconds).toBeGreaterThanOrEqual(0);
    expect(held.suggestion).toMatchObject({ customer_id: customer.id, merchant_id: merchant.id });
  });

  it("suggests a known sender by CUIT", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const held = await quarantine(1_000, "sin referencia", { cuit: customer.cuit, name: "Known", cbu: randomCbu() });
    expect(held.suggestion).toMatchObject({ customer_id: customer.id });
  });

  it("assigns exactly once: twice to the same customer credits once, to another is refused", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const other = await createCustomer(merchant.api_key);
    const held = await quarantine(6_000, "nada");
    const [first, second] = await Promise.all([
      assign(held.id, { customer_id: customer.id, merchant_id: merchant.id }),
      assign(held.id, { customer_id: customer.id, merchant_id: merchant.id }),
    ]);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(await first.json()).toMatchObject({ status: "credited", matched_by: "manual", customer_id: customer.id, merchant_id: merchant.id });
    const elsewhere = await assign(held.id, { customer_id: other.id, merchant_id: merchant.id });
    expect(elsewhere.status).toBe(422);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 6_000 });
    expect(await objectBalance(other.id)).toMatchObject({ available: 0 }); // no payment of its own: only its object tells
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 6_000 });
    await expectInvariants();
  });

  it("credits once when two operators assign one payment to different customers at the same time", async () => {
    const merchant = await createMerchant();
    const [alice, bob] = await Promise.all([createCustomer(merchant.api_key), createCustomer(merchant.api_key)]);
    const held = await quarantine(4_000, "carrera");
    const results = await Promise.all([
      assign(held.id, { customer_id: alice.id, merchant_id: merchant.id }),
      assign(held.id, { customer_id: bob.id, merchant_id: merchant.id }),
    ]);
    expect(results.map((response) => response.status).sort()).toEqual([200, 422]);
    const balances = [(await objectBalance(alice.id)).available, (await objectBalance(bob.id)).available]; // the loser has no payment: only its object tells
    expect(balances.sort()).toEqual([0, 4_000]);
    await expectInvariants();
  });

  it("refuses unknown customers or merchants, and payments that are not quarantined", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const held = await quarantine(1_500, "x");
    expect((await assign(held.id, { customer_id: "cus_nope_nope", merchant_id: merchant.id })).status).toBe(404);
    expect((await assign(held.id, { customer_id: customer.id, merchant_id: "mer_nope_nope" })).status).toBe(404);
    expect((await assign("pay_does_not_exist", { customer_id: customer.id, merchant_id: merchant.id })).status).toBe(404);
    expect((await assign(held.id, { customer_id: customer.id })).status).toBe(400);
    expect((await api(`/v1/admin/quarantine`, { headers: bearer(merchant.api_key) })).status).toBe(403);
  });

  it("returns the money to the sender's CBU through the payout path, and then it can no longer be assigned", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const senderCbu = randomCbu();
    const held = await quarantine(8_800, "devolver", { cuit: randomCuit(), name: "Returnee", cbu: senderCbu });
    const started = await api(`/v1/admin/quarantine/${held.id}/return`, { method: "POST", headers: operatorHeaders() });
    expect(started.status).toBe(202);
    const { payout } = (await started.json()) as { payout: { id: string; status: string; destination_cbu: string } };
    expect(payout).toMatchObject({ status: "pending", destination_cbu: senderCbu });
    const again = await api(`/v1/admin/quarantine/${held.id}/return`, { method: "POST", headers: operatorHeaders() });
    expect(((await again.json()) as { payout: { id: string } }).payout.id).toBe(payout.id);
    expect((await assign(held.id, { customer_id: customer.id, merchant_id: merchant.id })).status).toBe(422);

    await drainPayoutQueue([payout.id]);
    expect((await settle(payout.id, "completed")).status).toBe(200);
    const page = (await (await api("/v1/admin/quarantine?limit=100", { headers: operatorHeaders() })).json()) as { data: { id: string }[] };
    expect(page.data.map((item) => item.id)).not.toContain(held.id);
    const suspense = await api(`/v1/ledger/transactions/lt_${payout.id}`, { headers: operatorHeaders() });
    expect(await suspense.json()).toMatchObject({ status: "posted" });
    await expectInvariants();
  });

  it("keeps the money in suspense when a return fails, so it can still be assigned", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const held = await quarantine(3_300, "devolver");
    const { payout } = (await (await api(`/v1/admin/quarantine/${held.id}/return`, { method: "POST", headers: operatorHeaders() })).json()) as { payout: { id: string } };
    await drainPayoutQueue([payout.id]);
    expect((await settle(payout.id, "failed", true)).status).toBe(200);
    expect((await assign(held.id, { customer_id: customer.id, merchant_id: merchant.id })).status).toBe(200);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 3_300 });
    await expectInvariants();
  });

  it("refuses to return money whose sender gave no valid CBU", async () => {
    const held = await quarantine(900, "x", { cuit: null as unknown as string, name: "No CBU", cbu: "123" });
    const response = await api(`/v1/admin/quarantine/${held.id}/return`, { method: "POST", headers: operatorHeaders() });
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({ code: "invalid_state" });
  });
});

describe("failed bank events", () => {
  it("are listed for the operator and can be retried once what they needed exists", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = await depositReference(merchant.api_key, customer.id);
    const transfer = transferEvent({ amount: 5_000, concepto: reference });
    // The reversal arrives before the transfer it reverses: stored as failed for the operator,
    // and answered 500, not 422: the cash-in may be on its way to D1 (a group commit, an alarm),
    // so the bank must redeliver rather than give up.
    const reversal = { id: uniqueId("evt"), type: "transfer.reversed", created_at: new Date().toISOString(), data: { bank_transaction_id: transfer.data.bank_transaction_id, reversal_id: uniqueId("rev"), reason: "fraud" } };
    expect((await sendBankEvent(reversal)).status).toBe(500);
    const failed = (await (await api("/v1/admin/bank-events?status=failed&limit=100", { headers: operatorHeaders() })).json()) as { data: { id: string; error: string }[] };
    expect(failed.data.find((event) => event.id === reversal.id)?.error).toMatch(/no payment/);

    expect((await sendBankEvent(transfer)).status).toBe(200);
    const retried = await api(`/v1/admin/bank-events/${reversal.id}/retry`, { method: "POST", headers: operatorHeaders() });
    expect(retried.status).toBe(200);
    expect(await retried.json()).toMatchObject({ id: reversal.id, status: "processed" });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 0 });
    const again = await api(`/v1/admin/bank-events/${reversal.id}/retry`, { method: "POST", headers: operatorHeaders() });
    expect(await again.json()).toMatchObject({ status: "processed" });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 0 });
    expect((await api("/v1/admin/bank-events/evt_missing/retry", { method: "POST", headers: operatorHeaders() })).status).toBe(404);
    await expectInvariants();
  });
});

describe("transfer.reversed", () => {
  const reversalOf = (bankTransactionId: string, reversalId = uniqueId("rev")) => ({
    id: uniqueId("evt"),
    type: "transfer.reversed",
    created_at: new Date().toISOString(),
    data: { bank_transaction_id: bankTransactionId, reversal_id: reversalId, reason: "chargeback" },
  });

  it("debits the customer and the merchant and marks the payment reversed, once per reversal_id", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    const transfer = transferEvent({ amount: 10_000, concepto: await depositReference(merchant.api_key, customer.id), sender: await ownSender(customer.id) });
    expect((await sendBankEvent(transfer)).status).toBe(200);
    const reversal = reversalOf(transfer.data.bank_transaction_id);
    const responses = await Promise.all([sendBankEvent(reversal), sendBankEvent({ ...reversal, id: uniqueId("evt") })]);
    expect(responses.map((response) => response.status)).toEqual([200, 200]);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 0, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 0 });
    const payments = (await (await api("/v1/payments", { headers: bearer(merchant.api_key) })).json()) as { data: { status: string }[] };
    expect(payments.data[0]).toMatchObject({ status: "reversed" });
    const other = await sendBankEvent(reversalOf(transfer.data.bank_transaction_id));
    expect(other.status).toBe(422); // a second, different reversal of one payment
    await expectInvariants();
  });

  it("takes the balances below zero when the funds are already reserved by a payout, and the payout still settles", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    const transfer = transferEvent({ amount: 10_000, concepto: await depositReference(merchant.api_key, customer.id), sender: await ownSender(customer.id) });
    expect((await sendBankEvent(transfer)).status).toBe(200);
    const created = await api("/v1/payouts", json({ customer_id: customer.id, amount: 8_000 }, { ...bearer(merchant.api_key), "idempotency-key": uniqueId("k") }));
    const payout = (await created.json()) as { id: string };
    expect((await sendBankEvent(reversalOf(transfer.data.bank_transaction_id))).status).toBe(200);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: -8_000, reserved: 8_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: -8_000, reserved: 8_000 });
    // Nothing more can be paid out while the balance is owed.
    const refused = await api("/v1/payouts", json({ customer_id: customer.id, amount: 1 }, { ...bearer(merchant.api_key), "idempotency-key": uniqueId("k") }));
    expect(refused.status).toBe(422);
    expect(await refused.json()).toMatchObject({ code: "insufficient_funds" });
    await drainPayoutQueue([payout.id]);
    expect((await settle(payout.id, "completed")).status).toBe(200);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: -8_000, reserved: 0 });
    const account = await api(`/v1/ledger/accounts/la_c${customer.id.slice(4)}_ars`, { headers: operatorHeaders() });
    expect(await account.json()).toMatchObject({ balances: { posted: -8_000, available: -8_000 } }); // recorded as owed
    await expectInvariants();
  });

  it("reverses a quarantined cash-in out of suspense", async () => {
    const event = transferEvent({ amount: 2_000, concepto: "nada" });
    expect((await sendBankEvent(event)).status).toBe(200);
    const before = (await (await api("/v1/ledger/accounts/la_suspense_ars", { headers: operatorHeaders() })).json()) as { balances: { posted: number } };
    expect((await sendBankEvent(reversalOf(event.data.bank_transaction_id))).status).toBe(200);
    const after = (await (await api("/v1/ledger/accounts/la_suspense_ars", { headers: operatorHeaders() })).json()) as { balances: { posted: number } };
    expect(before.balances.posted - after.balances.posted).toBe(2_000);
    await expectInvariants();
  });

  it("does not reverse quarantined money while it is being returned: stored failed, suspense debited once", async () => {
    const event = transferEvent({ amount: 2_500, concepto: "nada", sender: { cuit: randomCuit(), name: "R", cbu: randomCbu() } });
    expect((await sendBankEvent(event)).status).toBe(200);
    const page = (await (await api("/v1/admin/quarantine?limit=100", { headers: operatorHeaders() })).json()) as { data: { id: string; bank_transaction_id: string }[] };
    const held = page.data.find((item) => item.bank_transaction_id === event.data.bank_transaction_id)!;
    const suspense = async () => ((await (await api("/v1/ledger/accounts/la_suspense_ars", { headers: operatorHeaders() })).json()) as { balances: { pending: number } }).balances.pending;
    expect((await api(`/v1/admin/quarantine/${held.id}/return`, { method: "POST", headers: operatorHeaders() })).status).toBe(202);
    const during = await suspense();
    const reversal = reversalOf(event.data.bank_transaction_id);
    expect((await sendBankEvent(reversal)).status).toBe(422);
    expect(await suspense()).toBe(during);
    const stored = await env.DB.prepare("SELECT status FROM bank_events WHERE id = ?").bind(reversal.id).first<{ status: string }>();
    expect(stored?.status).toBe("failed");
    await expectInvariants();
  });

  it("applies a reversal computed before an assignment only to the state it was computed for", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const event = transferEvent({ amount: 3_000, concepto: "nada" });
    expect((await sendBankEvent(event)).status).toBe(200);
    const payment = await env.DB.prepare("SELECT id FROM payments WHERE bank_transaction_id = ?").bind(event.data.bank_transaction_id).first<{ id: string }>();
    // The reversal reads the payment as quarantined; the operator assigns it before its write.
    const stale = { kind: "payment.reversed" as const, op_id: `${payment!.id}:reversal`, payment_id: payment!.id, reversal_id: uniqueId("rev"), status_before: "quarantined" as const, customer_id: null, merchant_id: null, amount: 3_000, currency: "ARS", event: null };
    expect((await assign(payment!.id, { customer_id: customer.id, merchant_id: merchant.id })).status).toBe(200);
    await applyProjection(env.DB, stale);
    const after = await env.DB.prepare("SELECT status, reversal_id FROM payments WHERE id = ?").bind(payment!.id).first<{ status: string; reversal_id: string | null }>();
    expect(after).toEqual({ status: "credited", reversal_id: null }); // not reversed out of suspense
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 3_000 });
    await expectInvariants();
    // The bank's retry, computed afresh, reverses the customer's credit.
    expect((await sendBankEvent(reversalOf(event.data.bank_transaction_id, stale.reversal_id))).status).toBe(200);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 0 });
    await expectInvariants();
  });

  it("stores a malformed reversal as failed", async () => {
    const response = await sendBankEvent({ id: uniqueId("evt"), type: "transfer.reversed", created_at: new Date().toISOString(), data: { bank_transaction_id: "bt" } });
    expect(response.status).toBe(422);
    const stored = await env.DB.prepare("SELECT COUNT(*) AS n FROM bank_events WHERE status = 'failed' AND type = 'transfer.reversed'").first<{ n: number }>();
    expect(stored!.n).toBeGreaterThanOrEqual(1);
  });
});
