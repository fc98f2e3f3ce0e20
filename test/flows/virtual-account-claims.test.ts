/**
 * A refused delivery never leaves a per_transaction account paid: found by review. A repeat of
 * a bank transfer whose first version went elsewhere, redelivered to another account with that
 * account's expected amount, used to mark it paid and then be refused (422), leaving the mark;
 * and when the first version had paid another per_transaction account, the repeat failed on
 * UNIQUE (paid_by_payment_id) with a 500 the bank retries forever.
 */
import { describe, expect, it } from "vitest";
import { createCustomer, createMerchant, randomCbu, randomCuit } from "../helpers";
import { drainGroupCommit, expectInvariants, sendBankEvent, transferEvent, uniqueId } from "../money";
import { insertVirtualAccount, virtualAccountRow } from "../virtual-accounts/fixtures";

async function twoCustomers() {
  const merchant = await createMerchant();
  const [first, second] = await Promise.all([createCustomer(merchant.api_key), createCustomer(merchant.api_key)]);
  return { merchant, first: first!, second: second! };
}

function redirected(event: ReturnType<typeof transferEvent>, accountNumber: string) {
  return { ...event, id: uniqueId("evt"), data: { ...event.data, destination: { account_number: accountNumber } } };
}

describe("a repeat of a bank transfer redirected to a per_transaction account", () => {
  it("while the first version (to a per_customer account) is still in flight: 422, and the account stays active for its real payer", async () => {
    const { merchant, first, second } = await twoCustomers();
    const va1 = await insertVirtualAccount({ merchant_id: merchant.id, customer_id: first.id });
    const va2 = await insertVirtualAccount({ merchant_id: merchant.id, customer_id: second.id, kind: "per_transaction", expected_amount: 8_000, amount_policy: "hold" });
    const sender = { cuit: randomCuit(), name: "Sender", cbu: randomCbu() };
    const event = transferEvent({ amount: 8_000, account_number: va1.account_number, sender });
    expect((await sendBankEvent(event, { drain: false })).status).toBe(200);
    const repeat = await sendBankEvent(redirected(event, va2.account_number), { drain: false });
    await drainGroupCommit();
    expect(repeat.status).toBe(422);
    expect(await virtualAccountRow(va2.id)).toMatchObject({ status: "active", paid_by_payment_id: null });
    // The account's real payer pays it.
    expect((await sendBankEvent(transferEvent({ amount: 8_000, account_number: va2.account_number }))).status).toBe(200);
    expect((await virtualAccountRow(va2.id))?.status).toBe("paid");
    await expectInvariants();
  });

  it("when the first version paid another per_transaction account: 422 (stored for the operator), not a 500 forever", async () => {
    const { merchant, first, second } = await twoCustomers();
    const va1 = await insertVirtualAccount({ merchant_id: merchant.id, customer_id: first.id, kind: "per_transaction", expected_amount: 8_000 });
    const va2 = await insertVirtualAccount({ merchant_id: merchant.id, customer_id: second.id, kind: "per_transaction", expected_amount: 8_000 });
    const event = transferEvent({ amount: 8_000, account_number: va1.account_number, bank_transaction_id: uniqueId("bt") });
    expect((await sendBankEvent(event, { drain: false })).status).toBe(200);
    expect((await virtualAccountRow(va1.id))?.status).toBe("paid"); // marked at routing, the payment still in flight
    const repeat = await sendBankEvent(redirected(event, va2.account_number), { drain: false });
    await drainGroupCommit();
    expect(repeat.status).toBe(422);
    expect(await virtualAccountRow(va2.id)).toMatchObject({ status: "active", paid_by_payment_id: null });
    await expectInvariants();
  });
});

describe("a per_transaction account's expiry", () => {
  it("is judged when the bank booked the transfer: a webhook delivered after expires_at, for money booked before it, pays the account", async () => {
    const { merchant, first } = await twoCustomers();
    const account = await insertVirtualAccount({ merchant_id: merchant.id, customer_id: first.id, kind: "per_transaction", expected_amount: 3_000, amount_policy: "reject", expires_at: Date.now() - 1_000 });
    const late = transferEvent({ amount: 3_000, account_number: account.account_number });
    late.data.booked_at = new Date(Date.now() - 60_000).toISOString();
    expect((await sendBankEvent(late)).status).toBe(200);
    expect(await virtualAccountRow(account.id)).toMatchObject({ status: "paid", paid_amount: 3_000 });
    // Booked after expires_at: expired, and (reject) sent back.
    const after = await insertVirtualAccount({ merchant_id: merchant.id, customer_id: first.id, kind: "per_transaction", expected_amount: 3_000, amount_policy: "hold", expires_at: Date.now() - 1_000 });
    expect((await sendBankEvent(transferEvent({ amount: 3_000, account_number: after.account_number }))).status).toBe(200);
    expect((await virtualAccountRow(after.id))?.status).toBe("active");
    await expectInvariants();
  });
});

