/**
 * The fee is decided once, when the cash-in is first applied, and stored in the customer
 * object's projection: a crash between the credit and D1 (cashin.after_account_credit), a group
 * dying inside or right after its batch, the alarm's replay and the bank's redelivery all apply
 * that fee, whatever the pricing is by then. And the group commit moves the platform's balance
 * once per group, by exactly the sum of the group's fees.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { customerAccountStub } from "../../src/accounts/customer-account";
import { balanceDeltas, type PaymentProjection } from "../../src/accounts/group-commit-statements";
import { paymentIdOf } from "../../src/cashins/receive-transfer";
import { cashInFee } from "../../src/commission/fee";
import { armFault, disarmFaults } from "../../src/faults";
import { merchantAccount, platformBalanceAccount } from "../../src/ledger/accounts";
import { counters, metricsSnapshot } from "../../src/metrics";
import { createCustomer, createMerchant, type TestMerchant } from "../helpers";
import { depositReference, drainGroupCommit, expectInvariants, merchantBalance, objectBalance, runAccountAlarm, sendBankEvent, transferEvent } from "../money";
import { paymentFee, platformBalance, setPricing } from "./commission-helpers";

afterEach(() => disarmFaults());

/** Groups' projections this isolate saw committed and settled (the projection lag histogram's total). */
function projectionsHeard(): number {
  return metricsSnapshot().projection_lag.counts.reduce((sum, count) => sum + count, 0);
}

/**
 * Counts, in D1 itself, the balance updates of the platform's and merchants' rows while `run`
 * runs (a temporary trigger), so that "one update per account per group" is observed, not
 * computed in JS.
 */
async function rowUpdatesDuring(run: () => Promise<void>): Promise<Map<string, number>> {
  await env.DB.batch([
    env.DB.prepare("CREATE TABLE IF NOT EXISTS test_row_updates (account_id TEXT NOT NULL)"),
    env.DB.prepare("DELETE FROM test_row_updates"),
    env.DB.prepare(
      `CREATE TRIGGER IF NOT EXISTS test_count_row_updates AFTER UPDATE OF posted_credits, posted_debits ON ledger_accounts
       WHEN NEW.kind IN ('merchant', 'platform') BEGIN INSERT INTO test_row_updates (account_id) VALUES (NEW.id); END`,
    ),
  ]);
  try {
    await run();
    const { results } = await env.DB.prepare("SELECT account_id, COUNT(*) AS n FROM test_row_updates GROUP BY account_id").all<{ account_id: string; n: number }>();
    return new Map(results.map((row) => [row.account_id, row.n]));
  } finally {
    await env.DB.batch([env.DB.prepare("DROP TRIGGER IF EXISTS test_count_row_updates"), env.DB.prepare("DROP TABLE IF EXISTS test_row_updates")]);
  }
}

async function pricedCustomers(count: number, bps: number, fixed = 0) {
  const merchant = await createMerchant();
  await setPricing(merchant.id, bps, fixed);
  const customers = [];
  for (let index = 0; index < count; index++) {
    const customer = await createCustomer(merchant.api_key);
    customers.push({ ...customer, reference: await depositReference(merchant.api_key, customer.id) });
  }
  return { merchant, customers };
}

describe("a crash between the credit and D1 (cashin.after_account_credit), then a pricing change", () => {
  it("the bank's redelivery applies the fee the object stored", async () => {
    const { merchant, customers } = await pricedCustomers(1, 100);
    const event = transferEvent({ amount: 12_000, concepto: customers[0]!.reference });
    armFault("cashin.after_account_credit");
    expect((await sendBankEvent(event)).status).toBe(500);
    await setPricing(merchant.id, 900, 900);
    const platformBefore = await platformBalance();
    expect((await sendBankEvent(event)).status).toBe(200);
    expect(await paymentFee(await paymentIdOf(event.data.bank_transaction_id))).toBe(120);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 11_880 });
    expect(await platformBalance()).toBe(platformBefore + 120n);
    await expectInvariants();
  });

  it("with no redelivery, the object's alarm applies the fee it stored; a late redelivery changes nothing", async () => {
    const { merchant, customers } = await pricedCustomers(1, 100);
    const event = transferEvent({ amount: 8_000, concepto: customers[0]!.reference });
    armFault("cashin.after_account_credit");
    expect((await sendBankEvent(event)).status).toBe(500);
    await setPricing(merchant.id, 0, 5_000);
    const platformBefore = await platformBalance();
    await runAccountAlarm(customers[0]!.id);
    expect(await paymentFee(await paymentIdOf(event.data.bank_transaction_id))).toBe(80);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 7_920 });
    expect((await sendBankEvent(event)).status).toBe(200);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 7_920 });
    expect(await platformBalance()).toBe(platformBefore + 80n);
    await expectInvariants();
  });
});

describe("the group commit with fees", () => {
  it("a group dying inside its batch writes no fee; each customer's alarm then writes its own, the stored one", async () => {
    const { merchant, customers } = await pricedCustomers(3, 300, 10);
    const events = customers.map((customer, index) => transferEvent({ amount: 10_000 + index, concepto: customer.reference }));
    const fees = events.map((event) => cashInFee(event.data.amount, { cash_in_fee_bps: 300, cash_in_fee_fixed: 10 }));
    const platformBefore = await platformBalance();
    armFault("groupcommit.inside_batch");
    try {
      // Concurrently, so that the three join one group (the fault kills one group's batch).
      const responses = await Promise.all(events.map((event) => sendBankEvent(event, { drain: false })));
      expect(responses.map((response) => response.status)).toEqual([200, 200, 200]);
      await drainGroupCommit();
    } finally {
      disarmFaults();
    }
    // The batch died: D1 holds none of it (no payment, no fee), every credit waits in its object.
    expect(await platformBalance()).toBe(platformBefore);
    for (const event of events) expect(await paymentFee(await paymentIdOf(event.data.bank_transaction_id))).toBeNull();
    for (const customer of customers) expect(await customerAccountStub(env, customer.id).unprojected()).toBe(1);
    await setPricing(merchant.id, 10_000); // would take everything, were the fee decided again
    for (const customer of customers) await runAccountAlarm(customer.id);
    for (const [index, event] of events.entries()) expect(await paymentFee(await paymentIdOf(event.data.bank_transaction_id))).toBe(fees[index]);
    const total = fees.reduce((sum, fee) => sum + fee, 0);
    expect(await platformBalance()).toBe(platformBefore + BigInt(total));
    expect((await merchantBalance(merchant.api_key)).available).toBe(30_003 - total);
    for (const event of events) expect((await sendBankEvent(event)).status).toBe(200); // redeliveries replay
    expect(await platformBalance()).toBe(platformBefore + BigInt(total));
    await expectInvariants();
  });

  it("after the batch, before anyone heard: the alarm finds it confirmed and charges nothing twice", async () => {
    const { merchant, customers } = await pricedCustomers(1, 50);
    const event = transferEvent({ amount: 7_777, concepto: customers[0]!.reference });
    const platformBefore = await platformBalance();
    const heardBefore = projectionsHeard();
    armFault("groupcommit.after_batch");
    try {
      expect((await sendBankEvent(event)).status).toBe(200);
    } finally {
      disarmFaults();
    }
    // D1 committed the group (the fee is on the platform already), and the isolate died before
    // its aftermath: no projection lag was counted, as for every group that lives (the fault's
    // only trace in this isolate; without it this count moves by one).
    expect(projectionsHeard()).toBe(heardBefore);
    expect(await platformBalance()).toBe(platformBefore + 38n);
    expect(await customerAccountStub(env, customers[0]!.id).unprojected()).toBe(1);
    await runAccountAlarm(customers[0]!.id);
    expect(await customerAccountStub(env, customers[0]!.id).unprojected()).toBe(0);
    expect(await platformBalance()).toBe(platformBefore + 38n); // floor(7777 × 0.5%)
    expect((await merchantBalance(merchant.api_key)).available).toBe(7_777 - 38);
    await expectInvariants();
  });

  it("many merchants, many fees, concurrent: the platform gains exactly Σ fees, each merchant Σ (amount − fee), and D1 updates each merchant row and the platform row at most once per group", async () => {
    const prices: [number, number][] = [
      [0, 0],
      [150, 0],
      [0, 250],
      [275, 33],
      [10_000, 0],
    ];
    const merchants: { merchant: TestMerchant; customers: { id: string; reference: string }[]; price: [number, number] }[] = [];
    for (const price of prices) {
      const { merchant, customers } = await pricedCustomers(3, price[0], price[1]);
      merchants.push({ merchant, customers, price });
    }
    const unpriced = await createMerchant(); // never priced: no row at all
    const unpricedCustomer = await createCustomer(unpriced.api_key);
    merchants.push({ merchant: unpriced, customers: [{ id: unpricedCustomer.id, reference: await depositReference(unpriced.api_key, unpricedCustomer.id) }], price: [0, 0] });

    const platformBefore = await platformBalance();
    const before = { ...counters };
    const feeOf = ({ owner, event }: (typeof sends)[number]) => cashInFee(event.data.amount, { cash_in_fee_bps: owner.price[0], cash_in_fee_fixed: owner.price[1] });
    const sends = Array.from({ length: 60 }, (_, index) => {
      const owner = merchants[index % merchants.length]!;
      const customer = owner.customers[index % owner.customers.length]!;
      return { owner, event: transferEvent({ amount: 1_000 + index * 37, concepto: customer.reference }) };
    });
    const updates = await rowUpdatesDuring(async () => {
      const responses = await Promise.all(sends.map(({ event }) => sendBankEvent(event, { drain: false })));
      expect(responses.map((response) => response.status)).toEqual(Array(60).fill(200));
      await drainGroupCommit();
    });
    const groups = counters.group_commits - before.group_commits;
    expect(counters.group_commit_operations - before.group_commit_operations).toBe(60); // all 60 went through groups
    // The fee's debit lands on a row the group updates anyway (D1's own count): at most one
    // update per merchant row and one of the platform's per group, however many fees it carried.
    expect(groups).toBeLessThan(sends.filter((send) => feeOf(send) > 0).length);
    expect(updates.get(platformBalanceAccount("ARS").id)).toBeLessThanOrEqual(groups);
    for (const { merchant } of merchants) expect(updates.get(merchantAccount(merchant.id, "ARS").id)).toBeLessThanOrEqual(groups);

    const total = sends.reduce((sum, send) => sum + feeOf(send), 0);
    expect(total).toBeGreaterThan(0);
    expect(await platformBalance()).toBe(platformBefore + BigInt(total));
    for (const send of sends) expect(await paymentFee(await paymentIdOf(send.event.data.bank_transaction_id))).toBe(feeOf(send));
    for (const { merchant } of merchants) {
      const mine = sends.filter((send) => send.owner.merchant === merchant);
      expect((await merchantBalance(merchant.api_key)).available).toBe(mine.reduce((sum, send) => sum + send.event.data.amount - feeOf(send), 0));
    }
    await expectInvariants();
  });

  it("aggregates: one balance delta for the platform per group (Σ fees) and one per merchant (its net), exact past 2^53", () => {
    const projection = (merchant: string, amount: number, fee: number, index: number): PaymentProjection => ({
      kind: "payment.recorded",
      op_id: `pay_${index}`,
      event: null,
      payment: {
        id: `pay_${index}`,
        bank_transaction_id: `bt_${index}`,
        status: "credited",
        amount,
        currency: "ARS",
        customer_id: `cus_${index}`,
        merchant_id: merchant,
        sender_cuit: null,
        sender_name: null,
        sender_cbu: null,
        concepto: null,
        destination_account_number: null,
        matched_by: "customer_reference",
        fee_amount: fee,
        booked_at: 0,
        created_at: 0,
      },
    });
    const largest = 100_000_000_000_000; // 10^14, the contract's largest amount: 100 of them pass 2^53
    const group = Array.from({ length: 100 }, (_, index) =>
      index < 90 ? projection("mer_a", largest, largest - index, index) : projection("mer_b", largest, index === 99 ? 0 : largest, index),
    );
    const deltas = balanceDeltas(group);
    const feesA = Array.from({ length: 90 }, (_, index) => BigInt(largest - index)).reduce((sum, fee) => sum + fee, 0n);
    const feesB = BigInt(largest) * 9n;
    expect(deltas.get(platformBalanceAccount("ARS").id)).toEqual({ debits: 0n, credits: feesA + feesB });
    expect(deltas.get(merchantAccount("mer_a", "ARS").id)).toEqual({ debits: feesA, credits: BigInt(largest) * 90n });
    expect(deltas.get(merchantAccount("mer_b", "ARS").id)).toEqual({ debits: feesB, credits: BigInt(largest) * 10n });
    expect(feesA + feesB).toBeGreaterThan(BigInt(Number.MAX_SAFE_INTEGER));
  });
});

describe("customers are credited in full", () => {
  it("whatever the fee", async () => {
    const { customers } = await pricedCustomers(1, 10_000);
    expect((await sendBankEvent(transferEvent({ amount: 4_321, concepto: customers[0]!.reference }))).status).toBe(200);
    expect(await objectBalance(customers[0]!.id)).toMatchObject({ available: 4_321 });
  });
});
