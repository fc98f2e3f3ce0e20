import { describe, expect, it } from "vitest";
import { api, bearer, createCustomer, createMerchant, operatorHeaders, randomCbu, randomCuit } from "../helpers";
import { balanceOf, depositReference, expectInvariants, merchantBalance, objectBalance, sendBankEvent, transferEvent, uniqueId } from "../money";

async function paymentsOf(apiKey: string) {
  const response = await api("/v1/payments?limit=100", { headers: bearer(apiKey) });
  expect(response.status).toBe(200);
  return ((await response.json()) as { data: Record<string, unknown>[] }).data;
}

describe("cash-in routed by a customer reference", () => {
  it("credits the customer and the merchant together, once, and posts a balanced ledger transaction", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = await depositReference(merchant.api_key, customer.id);
    const event = transferEvent({ amount: 150_000, concepto: `alquiler ${reference.toLowerCase()} gracias` });

    const response = await sendBankEvent(event);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: true });

    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 150_000, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 150_000, reserved: 0 });
    const [payment] = await paymentsOf(merchant.api_key);
    expect(payment).toMatchObject({
      status: "credited",
      amount: 150_000,
      customer_id: customer.id,
      merchant_id: merchant.id,
      bank_transaction_id: event.data.bank_transaction_id,
      matched_by: "customer_reference",
    });
    const customerView = await (await api(`/v1/customers/${customer.id}`, { headers: bearer(merchant.api_key) })).json();
    expect(customerView).toMatchObject({ last_merchant_id: merchant.id });

    const transaction = await api(`/v1/ledger/transactions/lt_${payment!.id}`, { headers: operatorHeaders() });
    expect(transaction.status).toBe(200);
    const { entries, status } = (await transaction.json()) as { status: string; entries: { direction: string; amount: number }[] };
    expect(status).toBe("posted");
    const sum = (direction: string) => entries.filter((entry) => entry.direction === direction).reduce((total, entry) => total + entry.amount, 0);
    expect(sum("debit")).toBe(sum("credit"));
    await expectInvariants();
  });

  it("turns 25 concurrent deliveries of one event into one credit", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = await depositReference(merchant.api_key, customer.id);
    const event = transferEvent({ amount: 10_000, concepto: reference });
    const responses = await Promise.all(Array.from({ length: 25 }, () => sendBankEvent(event)));
    expect(responses.map((response) => response.status)).toEqual(Array(25).fill(200));
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 10_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 10_000 });
    expect(await paymentsOf(merchant.api_key)).toHaveLength(1);
    await expectInvariants();
  });

  it("credits once for two events (different ids) carrying one bank transaction, even concurrently", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = await depositReference(merchant.api_key, customer.id);
    const first = transferEvent({ amount: 7_000, concepto: reference });
    const second = { ...first, id: uniqueId("evt") };
    const third = { ...first, id: uniqueId("evt") };
    const responses = await Promise.all([sendBankEvent(first), sendBankEvent(second)]);
    expect(responses.map((response) => response.status)).toEqual([200, 200]);
    expect((await sendBankEvent(third)).status).toBe(200);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 7_000 });
    expect(await paymentsOf(merchant.api_key)).toHaveLength(1);
  });

  it("never credits twice when a repeat of one bank transaction routes elsewhere, and stores the repeat as failed", async () => {
    const merchant = await createMerchant();
    const alice = await createCustomer(merchant.api_key);
    const bob = await createCustomer(merchant.api_key);
    const toAlice = transferEvent({ amount: 3_000, concepto: await depositReference(merchant.api_key, alice.id) });
    const toBob = { ...toAlice, id: uniqueId("evt"), data: { ...toAlice.data, concepto: await depositReference(merchant.api_key, bob.id) } };
    expect((await sendBankEvent(toAlice)).status).toBe(200);
    const repeat = await sendBankEvent(toBob);
    // Bob's object has never seen this transfer, so it acknowledges (200); D1 holds Alice's
    // version, and the group commit undoes Bob's credit a moment later (sendBankEvent waits).
    expect(repeat.status).toBe(200);
    expect(await balanceOf(merchant.api_key, alice.id)).toMatchObject({ available: 3_000 });
    expect(await objectBalance(bob.id)).toMatchObject({ available: 0 }); // credited, then reverted (no payment of Bob's: only his object tells)
    const failed = (await (await api("/v1/admin/bank-events?status=failed&limit=100", { headers: operatorHeaders() })).json()) as { data: { id: string }[] };
    expect(failed.data.map((event) => event.id)).toContain(toBob.id);
    await expectInvariants();
  });
});

describe("a repeat of one bank transfer with a different amount", () => {
  it("keeps the first credit, refuses the repeat (422, stored failed) and moves nothing", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = await depositReference(merchant.api_key, customer.id);
    const first = transferEvent({ amount: 1_000, concepto: reference });
    expect((await sendBankEvent(first)).status).toBe(200);
    const inflated = { ...first, id: uniqueId("evt"), data: { ...first.data, amount: 2_000 } };
    expect((await sendBankEvent(inflated)).status).toBe(422);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 1_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 1_000 });
    expect((await sendBankEvent(first)).status).toBe(200); // the true repeat still answers 200
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 1_000 });
    await expectInvariants();
  });
});

describe("cash-in routed by a merchant reference", () => {
  it("auto-creates an unknown sender from the transfer and credits it", async () => {
    const merchant = await createMerchant();
    const cuit = randomCuit();
    const cbu = randomCbu();
    const response = await sendBankEvent(transferEvent({ amount: 5_000, concepto: `pago ${merchant.reference}`, sender: { cuit, name: "Ana Auto", cbu } }));
    expect(response.status).toBe(200);
    const [payment] = await paymentsOf(merchant.api_key);
    expect(payment).toMatchObject({ status: "credited", matched_by: "merchant_reference", merchant_id: merchant.id });
    const customerId = payment!.customer_id as string;
    const customer = await (await api(`/v1/customers/${customerId}`, { headers: bearer(merchant.api_key) })).json();
    expect(customer).toMatchObject({ cuit, name: "Ana Auto", cbu, origin: "auto", last_merchant_id: merchant.id });
    expect(await balanceOf(merchant.api_key, customerId)).toMatchObject({ available: 5_000 });
    await expectInvariants();
  });

  it("creates one customer for two concurrent first cash-ins from the same sender", async () => {
    const merchant = await createMerchant();
    const sender = { cuit: randomCuit(), name: "Twice Sender", cbu: randomCbu() };
    const responses = await Promise.all([
      sendBankEvent(transferEvent({ amount: 1_000, concepto: merchant.reference, sender })),
      sendBankEvent(transferEvent({ amount: 2_000, concepto: merchant.reference, sender })),
    ]);
    expect(responses.map((response) => response.status)).toEqual([200, 200]);
    const payments = await paymentsOf(merchant.api_key);
    expect(new Set(payments.map((payment) => payment.customer_id)).size).toBe(1);
    expect(await balanceOf(merchant.api_key, payments[0]!.customer_id as string)).toMatchObject({ available: 3_000 });
  });

  it("credits the merchant's default balance only when the sender has no usable CUIT", async () => {
    const merchant = await createMerchant();
    const response = await sendBankEvent(transferEvent({ amount: 4_000, concepto: merchant.reference, sender: { cuit: "not-a-cuit", name: "X", cbu: null } }));
    expect(response.status).toBe(200);
    const [payment] = await paymentsOf(merchant.api_key);
    expect(payment).toMatchObject({ status: "credited", customer_id: null, merchant_id: merchant.id, matched_by: "merchant_reference" });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 4_000 });
    await expectInvariants();
  });
});

describe("quarantine", () => {
  async function quarantined(bankTransactionId: string) {
    const response = await api("/v1/admin/ledger/accounts?kind=suspense", { headers: operatorHeaders() });
    expect(response.status).toBe(200);
    const events = await api("/v1/admin/bank-events?limit=100", { headers: operatorHeaders() });
    return { events: (await events.json()) as { data: { payload: string; status: string }[] }, bankTransactionId };
  }

  it("holds an unmatched transfer in suspense: nobody is credited, nothing is dropped", async () => {
    const merchant = await createMerchant();
    const before = (await (await api("/v1/ledger/accounts/la_suspense_ars", { headers: operatorHeaders() })).json()) as { balances: { posted: number } };
    const event = transferEvent({ amount: 9_999, concepto: "regalo de cumple" });
    expect((await sendBankEvent(event)).status).toBe(200);
    const after = (await (await api("/v1/ledger/accounts/la_suspense_ars", { headers: operatorHeaders() })).json()) as { balances: { posted: number } };
    expect(after.balances.posted - before.balances.posted).toBeGreaterThanOrEqual(9_999);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 0 });
    const { events } = await quarantined(event.data.bank_transaction_id);
    expect(events.data.some((stored) => stored.payload.includes(event.data.bank_transaction_id) && stored.status === "processed")).toBe(true);
    await expectInvariants();
  });

  it("quarantines a mistyped reference rather than crediting someone else", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = await depositReference(merchant.api_key, customer.id);
    const last = reference.at(-1)!;
    const typo = reference.slice(0, -1) + (last === "2" ? "3" : "2");
    expect((await sendBankEvent(transferEvent({ amount: 1_234, concepto: typo }))).status).toBe(200);
    expect(await objectBalance(customer.id)).toMatchObject({ available: 0 });
    expect(await paymentsOf(merchant.api_key)).toHaveLength(0);
  });
});
