/**
 * Routing rule 1 through the bank's webhook (API §5 rule 1, §11 "Routing rule 1"): a transfer
 * whose destination is one of our CVUs goes to that account's customer and merchant, whatever
 * the concepto says, with the outcomes of its kind, status and amount_policy. Money is never
 * dropped; a per_transaction account is paid exactly once.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { derivedId } from "../../src/crypto";
import { armFault, disarmFaults } from "../../src/faults";
import { api, bearer, createCustomer, createMerchant, json, operatorHeaders, randomCbu, randomCuit, type TestMerchant } from "../helpers";
import { balanceOf, depositReference, drainGroupCommit, drainPayoutQueue, expectInvariants, merchantBalance, objectBalance, reconcile, sendBankEvent, settle, today, transferEvent, uniqueId } from "../money";
import { theEvent } from "../events/events-helpers";
import { insertVirtualAccount, neverIssuedNumber, paymentOf, setAccountStatus, virtualAccountRow, type AccountOptions } from "../virtual-accounts/fixtures";

afterEach(() => disarmFaults());

async function setup(options: Omit<AccountOptions, "merchant_id" | "customer_id"> = {}) {
  const merchant = await createMerchant();
  const customer = await createCustomer(merchant.api_key);
  const account = await insertVirtualAccount({ merchant_id: merchant.id, customer_id: customer.id, ...options });
  return { merchant, customer, account };
}

const senderCbu = () => randomCbu();

function toAccount(accountNumber: string, amount: number, extra: Partial<Parameters<typeof transferEvent>[0]> = {}) {
  return transferEvent({ amount, account_number: accountNumber, sender: { cuit: randomCuit(), name: "Payer", cbu: senderCbu() }, ...extra });
}

async function deliver(event: ReturnType<typeof transferEvent>, status = 200) {
  const response = await sendBankEvent(event);
  expect(response.status).toBe(status);
  return paymentOf(event.data.bank_transaction_id);
}

async function getPayment(merchant: TestMerchant, paymentId: string) {
  const response = await api(`/v1/payments/${paymentId}`, { headers: bearer(merchant.api_key) });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

/** Nothing moved for the customer (its object) nor for the merchant. */
async function expectUntouched(merchant: TestMerchant, customerId: string) {
  expect(await objectBalance(customerId)).toEqual({ available: 0, reserved: 0 });
  expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 0 });
}

describe("per_customer accounts", () => {
  it("an active account credits its customer and merchant whatever the concepto says (another customer's reference included)", async () => {
    const { merchant, customer, account } = await setup();
    const other = await createCustomer(merchant.api_key);
    const otherReference = await depositReference(merchant.api_key, other.id);
    const event = toAccount(account.account_number, 12_345, { concepto: `pago ${otherReference}` });
    const { id, row } = await deliver(event);
    expect(row).toMatchObject({ status: "credited", customer_id: customer.id, merchant_id: merchant.id, matched_by: "virtual_account", virtual_account_id: account.id, quarantine_reason: null });
    expect(await getPayment(merchant, id)).toMatchObject({ status: "credited", matched_by: "virtual_account", virtual_account_id: account.id, quarantine_reason: null, customer_id: customer.id });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 12_345 });
    expect(await objectBalance(other.id)).toEqual({ available: 0, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 12_345 });
    expect((await virtualAccountRow(account.id))?.status).toBe("active");
    // A per_customer account takes any number of payments.
    await deliver(toAccount(account.account_number, 1));
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 12_346 });
    await expectInvariants();
  });

  it("a closed account quarantines (virtual_account_closed): the money is held in suspense, not credited", async () => {
    const { merchant, customer, account } = await setup({ status: "closed" });
    const { row } = await deliver(toAccount(account.account_number, 5_000));
    expect(row).toMatchObject({ status: "quarantined", customer_id: null, merchant_id: null, matched_by: null, virtual_account_id: account.id, quarantine_reason: "virtual_account_closed" });
    await expectUntouched(merchant, customer.id);
    const page = (await (await api("/v1/admin/quarantine?limit=100", { headers: operatorHeaders() })).json()) as { data: Record<string, unknown>[] };
    expect(page.data.find((item) => item.id === row!.id)).toMatchObject({ virtual_account_id: account.id, quarantine_reason: "virtual_account_closed" });
    await expectInvariants();
  });

  it("a close racing a payment: whichever D1 sees first wins, and the money is never dropped", async () => {
    const { merchant, customer, account } = await setup();
    await deliver(toAccount(account.account_number, 700)); // before the close: credited
    await setAccountStatus(account.id, "closed");
    const { row } = await deliver(toAccount(account.account_number, 300)); // after: quarantined
    expect(row).toMatchObject({ status: "quarantined", quarantine_reason: "virtual_account_closed" });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 700 });
    await expectInvariants();
  });
});

describe("numbers of our range that route to no account", () => {
  it("a number never issued is quarantined (unknown_virtual_account), even with a valid customer reference in the concepto", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = await depositReference(merchant.api_key, customer.id);
    const { row } = await deliver(toAccount(neverIssuedNumber(), 4_000, { concepto: reference }));
    expect(row).toMatchObject({ status: "quarantined", virtual_account_id: null, quarantine_reason: "unknown_virtual_account" });
    await expectUntouched(merchant, customer.id);
    await expectInvariants();
  });

  it("a registering or retired account routes as never issued", async () => {
    for (const status of ["registering", "retired"] as const) {
      const { merchant, customer, account } = await setup({ status });
      const { row } = await deliver(toAccount(account.account_number, 4_000));
      expect(row).toMatchObject({ status: "quarantined", virtual_account_id: null, quarantine_reason: "unknown_virtual_account" });
      await expectUntouched(merchant, customer.id);
    }
  });

  it("a destination outside our range (the settlement CBU) routes by rules 2–4 as before", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = await depositReference(merchant.api_key, customer.id);
    const { row } = await deliver(toAccount(env.SETTLEMENT_CBU!, 2_000, { concepto: reference }));
    expect(row).toMatchObject({ status: "credited", matched_by: "customer_reference", virtual_account_id: null, quarantine_reason: null });
    const none = await deliver(toAccount(env.SETTLEMENT_CBU!, 2_000, { concepto: "nada" }));
    expect(none.row).toMatchObject({ status: "quarantined", virtual_account_id: null, quarantine_reason: "no_match" });
  });
});

describe("per_transaction accounts", () => {
  it("the expected amount, before expiry, credits and marks the account paid by that payment", async () => {
    const { merchant, customer, account } = await setup({ kind: "per_transaction", expected_amount: 50_000 });
    const { id, row } = await deliver(toAccount(account.account_number, 50_000, { concepto: "cualquier cosa" }));
    expect(row).toMatchObject({ status: "credited", matched_by: "virtual_account", virtual_account_id: account.id, customer_id: customer.id });
    expect(await virtualAccountRow(account.id)).toMatchObject({ status: "paid", paid_by_payment_id: id, paid_amount: 50_000, paid_at: expect.any(Number) });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 50_000 });
    await expectInvariants();
  });

  it("with no expected amount, any amount pays it", async () => {
    const { account } = await setup({ kind: "per_transaction", expected_amount: null });
    const { id } = await deliver(toAccount(account.account_number, 321));
    expect(await virtualAccountRow(account.id)).toMatchObject({ status: "paid", paid_by_payment_id: id, paid_amount: 321 });
  });

  it("hold: a wrong amount is quarantined (amount_mismatch) and the account stays active for the right one", async () => {
    const { merchant, customer, account } = await setup({ kind: "per_transaction", expected_amount: 10_000, amount_policy: "hold" });
    const wrong = await deliver(toAccount(account.account_number, 9_999));
    expect(wrong.row).toMatchObject({ status: "quarantined", virtual_account_id: account.id, quarantine_reason: "amount_mismatch" });
    await expectUntouched(merchant, customer.id);
    expect((await virtualAccountRow(account.id))?.status).toBe("active");
    const right = await deliver(toAccount(account.account_number, 10_000));
    expect(await virtualAccountRow(account.id)).toMatchObject({ status: "paid", paid_by_payment_id: right.id });
    await expectInvariants();
  });

  it("hold: a second payment to a paid account is quarantined (already_paid)", async () => {
    const { merchant, customer, account } = await setup({ kind: "per_transaction", expected_amount: 1_000 });
    const first = await deliver(toAccount(account.account_number, 1_000));
    const second = await deliver(toAccount(account.account_number, 1_000));
    expect(second.row).toMatchObject({ status: "quarantined", virtual_account_id: account.id, quarantine_reason: "already_paid" });
    expect(await virtualAccountRow(account.id)).toMatchObject({ paid_by_payment_id: first.id });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 1_000 });
    await expectInvariants();
  });

  it("expiry is judged at the moment of routing: expired accounts follow the policy (expired), unexpired ones pay", async () => {
    const expired = await setup({ kind: "per_transaction", expected_amount: 1_000, expires_at: Date.now() - 1 });
    const held = await deliver(toAccount(expired.account.account_number, 1_000));
    expect(held.row).toMatchObject({ status: "quarantined", quarantine_reason: "expired", virtual_account_id: expired.account.id });
    expect((await virtualAccountRow(expired.account.id))?.status).toBe("active"); // never paid
    const live = await setup({ kind: "per_transaction", expected_amount: 1_000, expires_at: Date.now() + 2_000 });
    await deliver(toAccount(live.account.account_number, 1_000));
    expect((await virtualAccountRow(live.account.id))?.status).toBe("paid");
    await expectInvariants();
  });

  it("a closed per_transaction account follows its policy (virtual_account_closed)", async () => {
    const { account } = await setup({ kind: "per_transaction", expected_amount: 1_000, status: "closed" });
    const { row } = await deliver(toAccount(account.account_number, 1_000));
    expect(row).toMatchObject({ status: "quarantined", quarantine_reason: "virtual_account_closed" });
  });

  it("accept: a wrong amount, a paid account, an expired one are credited, and the account is not paid by them", async () => {
    const { merchant, customer, account } = await setup({ kind: "per_transaction", expected_amount: 1_000, amount_policy: "accept" });
    const wrong = await deliver(toAccount(account.account_number, 1_500));
    expect(wrong.row).toMatchObject({ status: "credited", matched_by: "virtual_account", virtual_account_id: account.id, quarantine_reason: null });
    expect((await virtualAccountRow(account.id))?.status).toBe("active");
    const paying = await deliver(toAccount(account.account_number, 1_000));
    const after = await deliver(toAccount(account.account_number, 1_000));
    expect(after.row).toMatchObject({ status: "credited", virtual_account_id: account.id });
    expect(await virtualAccountRow(account.id)).toMatchObject({ status: "paid", paid_by_payment_id: paying.id });
    const expired = await insertVirtualAccount({ merchant_id: merchant.id, customer_id: customer.id, kind: "per_transaction", expected_amount: 5, amount_policy: "accept", expires_at: Date.now() - 1 });
    await deliver(toAccount(expired.account_number, 5));
    expect((await virtualAccountRow(expired.id))?.status).toBe("active");
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 3_505 });
    await expectInvariants();
  });

  it("reject: recorded quarantined with its reason, returned to the sender once, and `returned` when the bank completes it", async () => {
    const { merchant, customer, account } = await setup({ kind: "per_transaction", expected_amount: 1_000, amount_policy: "reject" });
    const event = toAccount(account.account_number, 1_234);
    const { id, row } = await deliver(event);
    expect(row).toMatchObject({ status: "quarantined", virtual_account_id: account.id, quarantine_reason: "amount_mismatch" });
    const returnId = await derivedId("po", `return:${id}`);
    const returns = await env.DB.prepare("SELECT id, status, amount, destination_cbu FROM payouts WHERE payment_id = ? AND kind = 'return'").bind(id).all();
    expect(returns.results).toEqual([{ id: returnId, status: "pending", amount: 1_234, destination_cbu: event.data.sender.cbu }]);
    // The bank delivers the transfer again: the same payment, and still one return.
    await deliver({ ...event, id: uniqueId("evt") });
    expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM payouts WHERE payment_id = ?").bind(id).first<{ n: number }>())?.n).toBe(1);
    await drainPayoutQueue([returnId]);
    expect((await settle(returnId, "completed")).status).toBe(200);
    expect((await paymentOf(event.data.bank_transaction_id)).row).toMatchObject({ status: "returned", virtual_account_id: account.id, quarantine_reason: "amount_mismatch" });
    // Once returned, a redelivery starts nothing more.
    await deliver({ ...event, id: uniqueId("evt") });
    expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM payouts WHERE payment_id = ?").bind(id).first<{ n: number }>())?.n).toBe(1);
    await expectUntouched(merchant, customer.id);
    expect((await virtualAccountRow(account.id))?.status).toBe("active");
    await expectInvariants();
  });

  it("reject, a failed return: the money stays in suspense and is not returned again by a redelivery", async () => {
    const { account } = await setup({ kind: "per_transaction", expected_amount: 1_000, amount_policy: "reject", expires_at: Date.now() - 1 });
    const event = toAccount(account.account_number, 1_000);
    const { id, row } = await deliver(event);
    expect(row).toMatchObject({ status: "quarantined", quarantine_reason: "expired" });
    const returnId = await derivedId("po", `return:${id}`);
    await drainPayoutQueue([returnId]);
    expect((await settle(returnId, "failed", true)).status).toBe(200);
    await deliver({ ...event, id: uniqueId("evt") });
    expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM payouts WHERE payment_id = ?").bind(id).first<{ n: number }>())?.n).toBe(1);
    expect((await paymentOf(event.data.bank_transaction_id)).row?.status).toBe("quarantined");
    await expectInvariants();
  });

  it("reject, a crash between recording the payment and starting its return: the bank's redelivery starts it, once", async () => {
    const { account } = await setup({ kind: "per_transaction", expected_amount: 1_000, amount_policy: "reject" });
    const event = toAccount(account.account_number, 999);
    armFault("cashin.before_return_to_sender");
    expect((await sendBankEvent(event)).status).toBe(500);
    const { id, row } = await paymentOf(event.data.bank_transaction_id);
    expect(row).toMatchObject({ status: "quarantined", quarantine_reason: "amount_mismatch" });
    const count = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM payouts WHERE payment_id = ?").bind(id).first<{ n: number }>())?.n;
    expect(await count()).toBe(0);
    await deliver(event);
    await deliver({ ...event, id: uniqueId("evt") });
    expect(await count()).toBe(1);
    await expectInvariants();
  });

  it("reject with no valid sender CBU: held instead (no return), with its reason", async () => {
    const { account } = await setup({ kind: "per_transaction", expected_amount: 1_000, amount_policy: "reject" });
    const { id, row } = await deliver(toAccount(account.account_number, 2, { sender: { cuit: null, name: "Nobody", cbu: "123" } }));
    expect(row).toMatchObject({ status: "quarantined", quarantine_reason: "amount_mismatch", virtual_account_id: account.id });
    expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM payouts WHERE payment_id = ?").bind(id).first<{ n: number }>())?.n).toBe(0);
    await expectInvariants();
  });
});

describe("exactly once", () => {
  it("the same transfer delivered again (same data) is one payment, one credit, one paid account", async () => {
    const { merchant, customer, account } = await setup({ kind: "per_transaction", expected_amount: 8_000 });
    const event = toAccount(account.account_number, 8_000);
    const first = await deliver(event);
    await deliver({ ...event, id: uniqueId("evt") });
    await deliver(event);
    const { results } = await env.DB.prepare("SELECT id FROM payments WHERE bank_transaction_id = ?").bind(event.data.bank_transaction_id).all();
    expect(results).toEqual([{ id: first.id }]);
    expect(await virtualAccountRow(account.id)).toMatchObject({ status: "paid", paid_by_payment_id: first.id });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 8_000 });
    await expectInvariants();
  });

  it("the same bank transaction with another amount is a conflict (422): nothing moves", async () => {
    const { merchant, customer, account } = await setup({ kind: "per_transaction", expected_amount: 8_000 });
    const event = toAccount(account.account_number, 8_000);
    const first = await deliver(event);
    const response = await sendBankEvent({ ...event, id: uniqueId("evt"), data: { ...event.data, amount: 8_001 } });
    expect(response.status).toBe(422);
    expect(await virtualAccountRow(account.id)).toMatchObject({ status: "paid", paid_by_payment_id: first.id, paid_amount: 8_000 });
    expect(first.row?.amount).toBe(8_000);
    expect((await paymentOf(event.data.bank_transaction_id)).row?.amount).toBe(8_000);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 8_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 8_000 });
    await expectInvariants();
  });

  it("the same bank transaction first held (wrong amount), then sent with the expected amount: a conflict, the account stays unpaid", async () => {
    const { merchant, customer, account } = await setup({ kind: "per_transaction", expected_amount: 8_000 });
    const event = toAccount(account.account_number, 7_000);
    const held = await deliver(event);
    expect(held.row?.status).toBe("quarantined");
    expect((await sendBankEvent({ ...event, id: uniqueId("evt"), data: { ...event.data, amount: 8_000 } })).status).toBe(422);
    expect((await virtualAccountRow(account.id))?.status).toBe("active");
    await expectUntouched(merchant, customer.id);
    await expectInvariants();
  });

  it("two transfers racing for one per_transaction account: exactly one pays it, the other is already_paid", async () => {
    const { merchant, customer, account } = await setup({ kind: "per_transaction", expected_amount: 2_500 });
    const events = Array.from({ length: 4 }, () => toAccount(account.account_number, 2_500));
    const responses = await Promise.all(events.map((event) => sendBankEvent(event)));
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 200]);
    const rows = await Promise.all(events.map(async (event) => (await paymentOf(event.data.bank_transaction_id)).row!));
    const credited = rows.filter((row) => row.status === "credited");
    expect(credited).toHaveLength(1);
    expect(rows.filter((row) => row.status === "quarantined").map((row) => row.quarantine_reason)).toEqual(["already_paid", "already_paid", "already_paid"]);
    expect(await virtualAccountRow(account.id)).toMatchObject({ status: "paid", paid_by_payment_id: credited[0]!.id });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 2_500 });
    await expectInvariants();
  });

  it("a crash between the paid mark and the credit: the account is paid by the payment, and the bank's redelivery credits it as the payer", async () => {
    const { merchant, customer, account } = await setup({ kind: "per_transaction", expected_amount: 6_000 });
    const event = toAccount(account.account_number, 6_000);
    armFault("cashin.before_account_credit");
    expect((await sendBankEvent(event)).status).toBe(500);
    const lost = await paymentOf(event.data.bank_transaction_id);
    expect(lost.row).toBeUndefined();
    expect(await virtualAccountRow(account.id)).toMatchObject({ status: "paid", paid_by_payment_id: lost.id });
    expect(await objectBalance(customer.id)).toEqual({ available: 0, reserved: 0 });
    // A transfer of another bank transaction now finds the account paid.
    const other = await deliver(toAccount(account.account_number, 6_000));
    expect(other.row).toMatchObject({ status: "quarantined", quarantine_reason: "already_paid" });
    // Another amount under the crashed transfer's id is refused; the same data finishes it.
    expect((await sendBankEvent({ ...event, id: uniqueId("evt"), data: { ...event.data, amount: 6_001 } })).status).toBe(422);
    const { row } = await deliver(event);
    expect(row).toMatchObject({ status: "credited", virtual_account_id: account.id, matched_by: "virtual_account" });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 6_000 });
    await expectInvariants();
  });

  it("a crash between the paid mark and the credit, and no redelivery: reconciliation's recovery credits it as the payer", async () => {
    const { merchant, customer, account } = await setup({ kind: "per_transaction", expected_amount: 4_444 });
    armFault("cashin.before_account_credit");
    const sent = await api(
      "/v1/sandbox/transfers",
      json({ amount: 4_444, sender: { cuit: null, name: "Crash", cbu: null }, destination: { account_number: account.account_number }, concepto: "x", deliver: "once" }, operatorHeaders()),
    );
    expect(sent.status).toBe(201);
    await drainGroupCommit();
    const { transfer, deliveries } = (await sent.json()) as { transfer: { bank_transaction_id: string }; deliveries: { status: number }[] };
    expect(deliveries.map((delivery) => delivery.status)).toEqual([500]);
    const lost = await paymentOf(transfer.bank_transaction_id);
    expect(await virtualAccountRow(account.id)).toMatchObject({ status: "paid", paid_by_payment_id: lost.id });
    expect(lost.row).toBeUndefined();
    const { report } = await reconcile(today());
    expect(report.discrepancies.filter((item) => (item as { bank_transaction_id: string }).bank_transaction_id === transfer.bank_transaction_id)).toEqual([
      expect.objectContaining({ kind: "missing_in_ledger", resolution: "recovered" }),
    ]);
    expect((await paymentOf(transfer.bank_transaction_id)).row).toMatchObject({ status: "credited", virtual_account_id: account.id });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 4_444 });
    await expectInvariants();
  });
});

describe("the payment object and its events", () => {
  it("GET and the event snapshot both carry virtual_account_id and quarantine_reason, and agree", async () => {
    const { merchant, account } = await setup({ kind: "per_transaction", expected_amount: 900 });
    const paid = await deliver(toAccount(account.account_number, 900));
    const shown = await getPayment(merchant, paid.id);
    expect(shown).toMatchObject({ virtual_account_id: account.id, quarantine_reason: null });
    expect(JSON.parse((await theEvent(paid.id, "payment.credited")).data).object).toEqual(shown);
    const held = await deliver(toAccount(account.account_number, 900));
    const snapshot = JSON.parse((await theEvent(held.id, "payment.quarantined")).data).object;
    expect(snapshot).toMatchObject({ status: "quarantined", virtual_account_id: account.id, quarantine_reason: "already_paid" });
    const listed = (await (await api("/v1/admin/quarantine?limit=100", { headers: operatorHeaders() })).json()) as { data: Record<string, unknown>[] };
    const { age_seconds: _age, suggestion: _suggestion, ...operatorView } = listed.data.find((item) => item.id === held.id)!;
    expect(operatorView).toEqual(snapshot);
  });
});
