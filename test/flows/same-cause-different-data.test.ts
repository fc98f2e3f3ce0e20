/**
 * Same cause, different data (issue 8; TigerBeetle's exists_with_different_*): whatever is
 * applied once per cause id keeps its data, a repeat with the same data replays, and a repeat
 * with any other data moves nothing and is a conflict. Each test here reproduces a way the
 * money core used to replay by id alone; each failed on the code before the fix.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { customerAccountStub } from "../../src/accounts/customer-account";
import { sha256Hex } from "../../src/crypto";
import { armFault, disarmFaults } from "../../src/faults";
import { customerAccount } from "../../src/ledger/accounts";
import { api, bearer, createCustomer, createMerchant, json, operatorHeaders, randomCbu, randomCuit } from "../helpers";
import {
  balanceOf,
  depositReference,
  drainPayoutQueue,
  expectInvariants,
  fundedCustomer,
  merchantBalance,
  objectBalance,
  postPayout,
  runAccountAlarm,
  sendBankEvent,
  settle,
  transferEvent,
  uniqueId,
} from "../money";

afterEach(() => disarmFaults());

/** What D1's ledger mirrors for a customer: available (posted minus pending outflows). */
async function d1Available(customerId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT posted_credits - posted_debits - pending_debits AS available FROM ledger_accounts WHERE id = ?")
    .bind(customerAccount(customerId, "ARS").id)
    .first<{ available: number }>();
  return row?.available ?? 0;
}

async function storedEvent(eventId: string): Promise<{ status: string; error: string | null } | null> {
  return env.DB.prepare("SELECT status, error FROM bank_events WHERE id = ?").bind(eventId).first();
}

async function paymentOf(bankTransactionId: string) {
  return env.DB.prepare("SELECT id, status, amount, customer_id, merchant_id FROM payments WHERE bank_transaction_id = ?")
    .bind(bankTransactionId)
    .first<{ id: string; status: string; amount: number; customer_id: string | null; merchant_id: string | null }>();
}

async function ledgerEntriesOf(transactionId: string): Promise<number> {
  return ((await env.DB.prepare("SELECT COUNT(*) AS n FROM ledger_entries WHERE transaction_id = ?").bind(transactionId).first<{ n: number }>())?.n ?? 0);
}

describe("a bank transfer delivered again with other data", () => {
  it("a quarantined 1,000 redelivered as 50,000 with a merchant reference moves nothing and is stored failed", async () => {
    const merchant = await createMerchant();
    const first = transferEvent({ amount: 1_000, concepto: "sin referencia" });
    expect((await sendBankEvent(first)).status).toBe(200);
    const held = await paymentOf(first.data.bank_transaction_id);
    expect(held).toMatchObject({ status: "quarantined", amount: 1_000 });

    const redelivery = { ...first, id: uniqueId("evt"), data: { ...first.data, amount: 50_000, concepto: merchant.reference } };
    const response = await sendBankEvent(redelivery);
    // Acknowledged: the customer's object it routes to has never seen this transfer. D1 holds
    // the first version, so the group commit refuses this one a moment later (sendBankEvent
    // waits for it): stored failed, the credit undone, nothing recorded (docs/MONEY.md).
    expect(response.status).toBe(200);
    expect(await storedEvent(redelivery.id)).toMatchObject({ status: "failed", error: expect.stringMatching(/different data/) });

    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 0, reserved: 0 });
    expect(await paymentOf(first.data.bank_transaction_id)).toEqual(held);
    expect(await ledgerEntriesOf(`lt_${held!.id}`)).toBe(2); // settlement and suspense, nothing added
    await expectInvariants();
  });

  it("a quarantined 1,000 redelivered with a customer reference leaves no phantom credit", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const first = transferEvent({ amount: 1_000, concepto: "nada" });
    expect((await sendBankEvent(first)).status).toBe(200);
    const redelivery = { ...first, id: uniqueId("evt"), data: { ...first.data, concepto: await depositReference(merchant.api_key, customer.id) } };
    // Acknowledged: the customer's object it routes to has never seen this transfer. D1 holds
    // the first version, so the group commit refuses this one a moment later (sendBankEvent
    // waits for it): stored failed, the credit undone, nothing recorded (docs/MONEY.md).
    expect((await sendBankEvent(redelivery)).status).toBe(200);
    expect(await storedEvent(redelivery.id)).toMatchObject({ status: "failed", error: expect.stringMatching(/different data/) });
    expect(await objectBalance(customer.id)).toMatchObject({ available: 0 }); // no payment: the merchant may not read it
    expect(await d1Available(customer.id)).toBe(0);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 0 });
    await expectInvariants();
  });

  it("the same customer, another amount, while the first delivery is unprojected: the first version is what D1 records", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = await depositReference(merchant.api_key, customer.id);
    const first = transferEvent({ amount: 1_000, concepto: reference });
    armFault("cashin.after_account_credit");
    expect((await sendBankEvent(first)).status).toBe(500); // the object credited 1,000; D1 nothing

    const redelivery = { ...first, id: uniqueId("evt"), data: { ...first.data, amount: 9_000 } };
    expect((await sendBankEvent(redelivery)).status).toBe(422);
    expect(await storedEvent(redelivery.id)).toMatchObject({ status: "failed" });

    // The redelivery finished projecting the first version (the object's), never its own.
    expect(await paymentOf(first.data.bank_transaction_id)).toMatchObject({ amount: 1_000, customer_id: customer.id });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 1_000 });
    expect(await d1Available(customer.id)).toBe(1_000);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 1_000 });

    await runAccountAlarm(customer.id);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 1_000 });
    expect((await sendBankEvent(first)).status).toBe(200); // the first version again: a replay
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 1_000 });
    await expectInvariants();
  });

  it("a later delivery that adds the sender's CUIT is other data: stored failed, and no customer keeps a credit", async () => {
    const merchant = await createMerchant();
    const sender = { cuit: randomCuit(), name: "Later Known", cbu: randomCbu() };
    // First delivery: a merchant reference and a sender without a usable CUIT → merchant only.
    const first = transferEvent({ amount: 2_000, concepto: merchant.reference, sender: { ...sender, cuit: null } });
    expect((await sendBankEvent(first)).status).toBe(200);
    // A second delivery of the same transfer now names the sender's CUIT: it would route to
    // (and auto-create) a customer, whose object must end up with nothing.
    const other = { ...first, id: uniqueId("evt"), data: { ...first.data, sender } };
    // Acknowledged: the customer's object it routes to has never seen this transfer. D1 holds
    // the first version, so the group commit refuses this one a moment later (sendBankEvent
    // waits for it): stored failed, the credit undone, nothing recorded (docs/MONEY.md).
    expect((await sendBankEvent(other)).status).toBe(200);
    expect(await storedEvent(other.id)).toMatchObject({ status: "failed", error: expect.stringMatching(/different data/) });
    const created = await env.DB.prepare("SELECT id FROM customers WHERE cuit = ?").bind(sender.cuit).first<{ id: string }>();
    expect(created).not.toBeNull();
    expect((await customerAccountStub(env, created!.id).balance("ARS")).available).toBe(0);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 2_000 });
    await expectInvariants();
  });

  it("the same data routed otherwise on a later delivery is a replay: the first routing stands", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const event = transferEvent({ amount: 4_000, concepto: "sin referencia" });
    expect((await sendBankEvent(event)).status).toBe(200);
    const payment = (await paymentOf(event.data.bank_transaction_id))!;
    const assigned = await api(`/v1/admin/quarantine/${payment.id}/assign`, json({ customer_id: customer.id, merchant_id: merchant.id }, operatorHeaders()));
    expect(assigned.status).toBe(200);
    // The bank sends the same transfer again: it routes to quarantine, but D1 records it assigned.
    const again = { ...event, id: uniqueId("evt") };
    expect((await sendBankEvent(again)).status).toBe(200);
    expect(await storedEvent(again.id)).toMatchObject({ status: "processed" });
    expect(await paymentOf(event.data.bank_transaction_id)).toMatchObject({ status: "credited", customer_id: customer.id });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 4_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 4_000 });
    await expectInvariants();
  });

  it("a provisional credit superseded in D1 by another routing of the same data is undone by the object", async () => {
    const merchant = await createMerchant();
    const [alice, bob] = [await createCustomer(merchant.api_key), await createCustomer(merchant.api_key)];
    const event = transferEvent({ amount: 7_000, concepto: await depositReference(merchant.api_key, alice.id) });
    expect((await sendBankEvent(event)).status).toBe(200);
    const payment = (await paymentOf(event.data.bank_transaction_id))!;
    // Bob's object credits the same payment, same data, routed to him (as a routing that read
    // changed state would): D1 says superseded, and the object undoes it for good.
    const { applyProjection } = await import("../../src/accounts/projections");
    const stored = await env.DB.prepare("SELECT * FROM payments WHERE id = ?").bind(payment.id).first<Record<string, unknown>>();
    const projection = {
      kind: "payment.recorded" as const,
      op_id: payment.id,
      event: null,
      payment: { ...(stored as never as import("../../src/accounts/projections").PaymentRecord), status: "credited" as const, customer_id: bob.id },
    };
    const bobAccount = customerAccountStub(env, bob.id);
    expect(await bobAccount.credit({ op_id: payment.id, amount: 7_000, currency: "ARS", merchant_id: merchant.id, projection })).toMatchObject({ outcome: "applied" });
    expect(await applyProjection(env.DB, projection)).toBe("superseded");
    await runAccountAlarm(bob.id);
    expect(await objectBalance(bob.id)).toMatchObject({ available: 0 });
    expect(await bobAccount.credit({ op_id: payment.id, amount: 7_000, currency: "ARS", merchant_id: merchant.id, projection })).toMatchObject({ outcome: "refused" });
    expect(await balanceOf(merchant.api_key, alice.id)).toMatchObject({ available: 7_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 7_000 });
    await expectInvariants();
  });

  it("two deliveries with other data, concurrently, to the same customer: exactly one stands", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = await depositReference(merchant.api_key, customer.id);
    const base = transferEvent({ amount: 3_000, concepto: reference });
    const versions = [3_000, 4_000, 5_000, 6_000].map((amount) => ({ ...base, id: uniqueId("evt"), data: { ...base.data, amount } }));
    const statuses = (await Promise.all(versions.map((event) => sendBankEvent(event)))).map((response) => response.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(statuses.filter((status) => status === 422)).toHaveLength(3);
    const stood = versions[statuses.indexOf(200)]!.data.amount;
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: stood });
    expect(await d1Available(customer.id)).toBe(stood);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: stood });
    await expectInvariants();
  });

  it("a credit that would take a balance past 2^53 - 1 is refused cleanly: stored failed, 422, nothing credited", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = await depositReference(merchant.api_key, customer.id);
    const largest = 100_000_000_000_000; // 10^14, the largest amount the contract accepts
    for (let round = 0; round < 9; round++) {
      const deliveries = Array.from({ length: 10 }, () => sendBankEvent(transferEvent({ amount: largest, concepto: reference })));
      expect((await Promise.all(deliveries)).map((response) => response.status)).toEqual(Array(10).fill(200));
    }
    const full = 90 * largest; // 9.0e15 ≤ 2^53 - 1 ≈ 9.007e15
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: full });
    const over = transferEvent({ amount: largest, concepto: reference });
    expect((await sendBankEvent(over)).status).toBe(422);
    expect(await storedEvent(over.id)).toMatchObject({ status: "failed", error: expect.stringMatching(/past 9007199254740991/) });
    expect(await paymentOf(over.data.bank_transaction_id)).toBeNull();
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: full });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: full });
    await expectInvariants();
  });
});

describe("a merchant balance that would pass 2^53 - 1", () => {
  it("refuses the credit whole, though the customer's own balance has room: stored failed, the customer's object undone", async () => {
    const merchant = await createMerchant();
    const [alice, bob] = [await createCustomer(merchant.api_key), await createCustomer(merchant.api_key)];
    const references = [await depositReference(merchant.api_key, alice.id), await depositReference(merchant.api_key, bob.id)];
    const largest = 100_000_000_000_000;
    for (let round = 0; round < 9; round++) {
      const deliveries = Array.from({ length: 10 }, (_, index) => sendBankEvent(transferEvent({ amount: largest, concepto: references[index % 2]! })));
      expect((await Promise.all(deliveries)).map((response) => response.status)).toEqual(Array(10).fill(200));
    }
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 90 * largest });
    const over = transferEvent({ amount: largest, concepto: references[0]! }); // Alice holds 4.5e15: room for it
    // Alice's object has room, so it acknowledges (200); the merchant's sum is D1's to check,
    // and the group commit refuses the credit whole a moment later (docs/MONEY.md).
    expect((await sendBankEvent(over)).status).toBe(200);
    expect(await storedEvent(over.id)).toMatchObject({ status: "failed", error: expect.stringMatching(/past 9007199254740991/) });
    expect(await paymentOf(over.data.bank_transaction_id)).toBeNull();
    expect(await balanceOf(merchant.api_key, alice.id)).toMatchObject({ available: 45 * largest });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 90 * largest });
    // A merchant-only cash-in (no usable sender CUIT) is refused the same way.
    const merchantOnly = transferEvent({ amount: largest, concepto: merchant.reference, sender: { cuit: null, name: "x", cbu: null } });
    expect((await sendBankEvent(merchantOnly)).status).toBe(422);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 90 * largest });
    await expectInvariants();
  });
});

describe("a payout retried with other data", () => {
  it("after a 5xx: another amount is refused (422 by the log; 409 by the payout's own data if the log ever let it through) and moves nothing", async () => {
    const { merchant, customer } = await fundedCustomer(10_000);
    const key = uniqueId("idem");
    armFault("payout.after_customer_reserve");
    expect((await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 }, key)).status).toBe(500);
    const bigger = { customer_id: customer.id, amount: 10_000 };
    expect((await postPayout(merchant.api_key, bigger, key)).status).toBe(422); // idempotency_key_reused
    // Defence in depth: make the log's record carry the bigger request's fingerprint, as if the
    // log had failed to tell them apart. The payout id (same claim) still refuses other data.
    const fingerprint = await sha256Hex(`POST /v1/payouts\n${JSON.stringify(bigger)}`);
    await env.DB.prepare("UPDATE idempotency_keys SET fingerprint = ? WHERE key = ?").bind(fingerprint, key).run();
    const retry = await postPayout(merchant.api_key, bigger, key);
    expect(retry.status).toBe(409);
    expect(await retry.json()).toMatchObject({ code: "conflict" });
    // The first attempt's 1,000 is still reserved in the object. But the key now holds an
    // answer (the 409) and no 201: the payout may no longer be written under it (the client
    // was never told it exists: 500, then 422 and 409). The alarm's replay finds the claim
    // completed, D1 records the payout rejected (superseded), and the reservation is released.
    expect(await objectBalance(customer.id)).toEqual({ available: 9_000, reserved: 1_000 });
    await runAccountAlarm(customer.id);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 10_000, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 10_000, reserved: 0 });
    const payouts = (await (await api("/v1/payouts", { headers: bearer(merchant.api_key) })).json()) as { data: { amount: number }[] };
    expect(payouts.data).toEqual([]);
    await expectInvariants();
  });

  it("the same key with different bodies at once: one payout at most, the others refused, nothing else moves", async () => {
    const { merchant, customer } = await fundedCustomer(10_000);
    const key = uniqueId("idem");
    const amounts = [1_000, 2_000, 3_000, 4_000, 5_000];
    const responses = await Promise.all(amounts.map((amount) => postPayout(merchant.api_key, { customer_id: customer.id, amount }, key)));
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(1);
    expect(statuses.every((status) => [201, 409, 422].includes(status))).toBe(true);
    const paid = amounts[statuses.indexOf(201)]!;
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 10_000 - paid, reserved: paid });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 10_000 - paid, reserved: paid });
    await expectInvariants();
  });
});

describe("a quarantined payment assigned after its return failed", () => {
  it("is credited to the customer's object as well as D1", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const event = transferEvent({ amount: 5_000, concepto: "devolver" });
    expect((await sendBankEvent(event)).status).toBe(200);
    const payment = (await paymentOf(event.data.bank_transaction_id))!;
    const returned = await api(`/v1/admin/quarantine/${payment.id}/return`, { method: "POST", headers: operatorHeaders() });
    const { payout } = (await returned.json()) as { payout: { id: string } };
    const assign = () => api(`/v1/admin/quarantine/${payment.id}/assign`, json({ customer_id: customer.id, merchant_id: merchant.id }, operatorHeaders()));

    expect((await assign()).status).toBe(422); // refused while the return is live
    expect(await objectBalance(customer.id)).toMatchObject({ available: 0 });

    await drainPayoutQueue([payout.id]);
    expect((await settle(payout.id, "failed", true)).status).toBe(200);
    expect((await assign()).status).toBe(200);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 5_000 });
    expect(await d1Available(customer.id)).toBe(5_000);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 5_000 });
    await runAccountAlarm(customer.id);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 5_000 });
    await expectInvariants();
  });
});

describe("payout bank events with other data", () => {
  async function completedPayout() {
    const { merchant, customer } = await fundedCustomer(10_000);
    const created = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 2_000 });
    const { id } = (await created.json()) as { id: string };
    await drainPayoutQueue([id]);
    return { merchant, customer, id };
  }

  const completion = (payout_id: string, bank_transaction_id: string) => ({
    id: uniqueId("evt"),
    type: "payout.completed",
    created_at: new Date().toISOString(),
    data: { payout_id, bank_transaction_id },
  });

  it("payout.completed with another payout's bank_transaction_id is stored failed (422), never a 500", async () => {
    const a = await completedPayout();
    const b = await completedPayout();
    const bankTransaction = uniqueId("bt");
    expect((await sendBankEvent(completion(a.id, bankTransaction))).status).toBe(200);
    const stolen = completion(b.id, bankTransaction);
    expect((await sendBankEvent(stolen)).status).toBe(422);
    expect(await storedEvent(stolen.id)).toMatchObject({ status: "failed", error: expect.stringMatching(/another payout/) });
    expect(await balanceOf(b.merchant.api_key, b.customer.id)).toMatchObject({ available: 8_000, reserved: 2_000 });
    await expectInvariants();
  });

  it("a second payout.completed with a different bank_transaction_id is stored failed (422); the same one replays", async () => {
    const { merchant, customer, id } = await completedPayout();
    const first = completion(id, uniqueId("bt"));
    expect((await sendBankEvent(first)).status).toBe(200);
    expect((await sendBankEvent({ ...first, id: uniqueId("evt") })).status).toBe(200);
    const other = completion(id, uniqueId("bt"));
    expect((await sendBankEvent(other)).status).toBe(422);
    expect(await storedEvent(other.id)).toMatchObject({ status: "failed", error: expect.stringMatching(/different_data/) });
    const payout = await env.DB.prepare("SELECT bank_transaction_id FROM payouts WHERE id = ?").bind(id).first<{ bank_transaction_id: string }>();
    expect(payout?.bank_transaction_id).toBe(first.data.bank_transaction_id);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 8_000, reserved: 0 });
    await expectInvariants();
  });
});
