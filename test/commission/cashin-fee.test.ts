/**
 * Commission on every credited route (API §12, docs/MONEY.md "Commission"): the fee moves from
 * the merchant's balance account to the platform's in the cash-in's own ledger transaction, the
 * customer is credited in full, the payment shows fee_amount, and a fee decided once is what
 * every replay applies, whatever the pricing is by then.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { paymentIdOf } from "../../src/cashins/receive-transfer";
import { counters } from "../../src/metrics";
import { createCustomer, createMerchant, api, bearer, json, operatorHeaders, randomCbu, randomCuit } from "../helpers";
import { balanceOf, depositReference, expectInvariants, fund, merchantBalance, objectBalance, postPayout, sendBankEvent, transferEvent, uniqueId } from "../money";
import { insertVirtualAccount } from "../virtual-accounts/fixtures";
import { feeEntries, merchantLedgerBalance, paymentFee, platformBalance, setPricing } from "./commission-helpers";

async function pricedCustomer(bps: number, fixed = 0) {
  const merchant = await createMerchant();
  await setPricing(merchant.id, bps, fixed);
  const customer = await createCustomer(merchant.api_key);
  return { merchant, customer, reference: await depositReference(merchant.api_key, customer.id) };
}

async function paymentOf(apiKey: string, bankTransactionId: string) {
  const response = await api(`/v1/payments/${await paymentIdOf(bankTransactionId)}`, { headers: bearer(apiKey) });
  expect(response.status).toBe(200);
  return (await response.json()) as { id: string; amount: number; fee_amount: number; status: string; matched_by: string };
}

function reversalOf(bankTransactionId: string) {
  return { id: uniqueId("evt"), type: "transfer.reversed", created_at: new Date().toISOString(), data: { bank_transaction_id: bankTransactionId, reversal_id: uniqueId("rev"), reason: "fraud" } };
}

describe("a credited cash-in pays its merchant's commission", () => {
  it("to a customer (reference): the customer gets the full amount, the merchant amount − fee, the platform the fee, in one transaction", async () => {
    const { merchant, customer, reference } = await pricedCustomer(150, 100);
    const platformBefore = await platformBalance();
    const event = transferEvent({ amount: 9_999, concepto: `pago ${reference}` });
    expect((await sendBankEvent(event)).status).toBe(200);

    const fee = 149 + 100; // floor(9999 × 1.5%) + 100
    const payment = await paymentOf(merchant.api_key, event.data.bank_transaction_id);
    expect(payment).toMatchObject({ amount: 9_999, fee_amount: fee, status: "credited", matched_by: "customer_reference" });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 9_999 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 9_999 - fee });
    expect(await platformBalance()).toBe(platformBefore + BigInt(fee));
    expect(await feeEntries(`lt_${payment.id}`)).toEqual([
      { ledger_account_id: expect.stringMatching(/^la_m/), direction: "debit", amount: fee },
      { ledger_account_id: "la_platform_ars", direction: "credit", amount: fee },
    ]);
    await expectInvariants();
  });

  it("to the merchant's unassigned funds (no usable CUIT)", async () => {
    const merchant = await createMerchant();
    await setPricing(merchant.id, 200);
    const platformBefore = await platformBalance();
    const event = transferEvent({ amount: 50_000, concepto: merchant.reference, sender: { cuit: "not-a-cuit", name: "X", cbu: null } });
    expect((await sendBankEvent(event)).status).toBe(200);
    expect(await paymentOf(merchant.api_key, event.data.bank_transaction_id)).toMatchObject({ fee_amount: 1_000, matched_by: "merchant_reference" });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 49_000 });
    expect(await platformBalance()).toBe(platformBefore + 1_000n);
    await expectInvariants();
  });

  it("to a customer through a virtual account (rule 1), per_customer and per_transaction", async () => {
    const merchant = await createMerchant();
    await setPricing(merchant.id, 0, 300);
    const customer = await createCustomer(merchant.api_key);
    const platformBefore = await platformBalance();
    const standing = await insertVirtualAccount({ merchant_id: merchant.id, customer_id: customer.id });
    const single = await insertVirtualAccount({ merchant_id: merchant.id, customer_id: customer.id, kind: "per_transaction", expected_amount: 20_000, amount_policy: "hold" });
    const first = transferEvent({ amount: 10_000, account_number: standing.account_number });
    const second = transferEvent({ amount: 20_000, account_number: single.account_number });
    expect((await sendBankEvent(first)).status).toBe(200);
    expect((await sendBankEvent(second)).status).toBe(200);
    for (const event of [first, second]) expect(await paymentOf(merchant.api_key, event.data.bank_transaction_id)).toMatchObject({ fee_amount: 300, matched_by: "virtual_account" });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 30_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 29_400 });
    expect(await platformBalance()).toBe(platformBefore + 600n);
    await expectInvariants();
  });

  it("charges nothing and posts no fee entries for a merchant without pricing, or priced at zero", async () => {
    for (const priced of [false, true]) {
      const merchant = await createMerchant();
      if (priced) await setPricing(merchant.id, 0, 0);
      const customer = await createCustomer(merchant.api_key);
      const event = transferEvent({ amount: 7_000, concepto: await depositReference(merchant.api_key, customer.id) });
      expect((await sendBankEvent(event)).status).toBe(200);
      const payment = await paymentOf(merchant.api_key, event.data.bank_transaction_id);
      expect(payment.fee_amount).toBe(0);
      expect(await feeEntries(`lt_${payment.id}`)).toEqual([]);
      expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 7_000 });
    }
    await expectInvariants();
  });

  it("caps the fee at the amount: a fixed fee larger than the cash-in takes all of it from the merchant, none from the customer", async () => {
    const { merchant, customer, reference } = await pricedCustomer(0, 5_000);
    const event = transferEvent({ amount: 1_234, concepto: reference });
    expect((await sendBankEvent(event)).status).toBe(200);
    expect(await paymentOf(merchant.api_key, event.data.bank_transaction_id)).toMatchObject({ fee_amount: 1_234 });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 1_234 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 0 });
    await expectInvariants();
  });
});

describe("the fee is decided once", () => {
  it("a redelivery after a pricing change replays the original fee (customer route, same and new event id)", async () => {
    const { merchant, reference } = await pricedCustomer(100);
    const event = transferEvent({ amount: 40_000, concepto: reference });
    expect((await sendBankEvent(event)).status).toBe(200);
    const platformAfterFirst = await platformBalance();
    await setPricing(merchant.id, 500, 1_000);
    expect((await sendBankEvent(event)).status).toBe(200);
    expect((await sendBankEvent({ ...event, id: uniqueId("evt") })).status).toBe(200);
    expect(await paymentOf(merchant.api_key, event.data.bank_transaction_id)).toMatchObject({ fee_amount: 400 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 39_600 });
    expect(await platformBalance()).toBe(platformAfterFirst);
    await expectInvariants();
  });

  it("a redelivery after a pricing change replays the original fee (merchant-unassigned route, written straight to D1)", async () => {
    const merchant = await createMerchant();
    await setPricing(merchant.id, 100);
    const event = transferEvent({ amount: 40_000, concepto: merchant.reference, sender: { cuit: null, name: "X", cbu: null } });
    expect((await sendBankEvent(event)).status).toBe(200);
    const platformAfterFirst = await platformBalance();
    await setPricing(merchant.id, 0, 7);
    expect((await sendBankEvent({ ...event, id: uniqueId("evt") })).status).toBe(200);
    expect(await paymentOf(merchant.api_key, event.data.bank_transaction_id)).toMatchObject({ fee_amount: 400 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 39_600 });
    expect(await platformBalance()).toBe(platformAfterFirst);
    await expectInvariants();
  });

  it("a new cash-in after the change pays the new price", async () => {
    const { merchant, reference } = await pricedCustomer(100);
    expect((await sendBankEvent(transferEvent({ amount: 10_000, concepto: reference }))).status).toBe(200);
    await setPricing(merchant.id, 300);
    const later = transferEvent({ amount: 10_000, concepto: reference });
    expect((await sendBankEvent(later)).status).toBe(200);
    expect(await paymentOf(merchant.api_key, later.data.bank_transaction_id)).toMatchObject({ fee_amount: 300 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 20_000 - 100 - 300 });
  });
});

describe("quarantine and reversals", () => {
  async function quarantined(amount: number) {
    const event = transferEvent({ amount, concepto: "sin referencia", sender: { cuit: randomCuit(), name: "Q", cbu: randomCbu() } });
    expect((await sendBankEvent(event)).status).toBe(200);
    return { event, paymentId: await paymentIdOf(event.data.bank_transaction_id) };
  }
  const assign = (paymentId: string, body: Record<string, unknown>) => api(`/v1/admin/quarantine/${paymentId}/assign`, json(body, operatorHeaders()));

  it("quarantined money pays no fee; the operator's assignment charges it, at the pricing in effect then, once", async () => {
    const merchant = await createMerchant();
    await setPricing(merchant.id, 100);
    const customer = await createCustomer(merchant.api_key);
    const platformBefore = await platformBalance();
    const { paymentId } = await quarantined(30_000);
    expect(await paymentFee(paymentId)).toBe(0);
    expect(await platformBalance()).toBe(platformBefore);

    await setPricing(merchant.id, 200, 50); // the pricing when the operator assigns
    const assigned = await assign(paymentId, { customer_id: customer.id, merchant_id: merchant.id });
    expect(assigned.status).toBe(200);
    expect(await assigned.json()).toMatchObject({ status: "credited", matched_by: "manual", fee_amount: 650 });
    expect(await feeEntries(`lt_${paymentId}`)).toEqual([]);
    expect(await feeEntries(`lt_assign_${paymentId}`)).toEqual([
      { ledger_account_id: expect.stringMatching(/^la_m/), direction: "debit", amount: 650 },
      { ledger_account_id: "la_platform_ars", direction: "credit", amount: 650 },
    ]);
    // The operator's retry, after yet another change: the stored assignment replays, no second fee.
    await setPricing(merchant.id, 1_000);
    expect((await assign(paymentId, { customer_id: customer.id, merchant_id: merchant.id })).status).toBe(200);
    expect(await paymentFee(paymentId)).toBe(650);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 30_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 29_350 });
    expect(await platformBalance()).toBe(platformBefore + 650n);
    await expectInvariants();
  });

  it("a bank reversal takes the whole amount back and keeps the fee: the merchant owes it", async () => {
    const { merchant, customer, reference } = await pricedCustomer(250);
    const event = transferEvent({ amount: 20_000, concepto: reference });
    expect((await sendBankEvent(event)).status).toBe(200);
    const platformAfterCredit = await platformBalance();
    expect((await sendBankEvent(reversalOf(event.data.bank_transaction_id))).status).toBe(200);
    expect(await paymentOf(merchant.api_key, event.data.bank_transaction_id)).toMatchObject({ status: "reversed", fee_amount: 500 });
    expect(await objectBalance(customer.id)).toMatchObject({ available: 0 });
    expect(await merchantLedgerBalance(merchant.id)).toBe(-500);
    expect(await platformBalance()).toBe(platformAfterCredit);
    await expectInvariants();
  });

  it("a merchant in the red after a reversal still receives cash-ins with a fee (the transaction nets amount − fee ≥ 0)", async () => {
    const merchant = await createMerchant();
    await setPricing(merchant.id, 0, 90);
    const unassigned = (amount: number) => transferEvent({ amount, concepto: merchant.reference, sender: { cuit: null, name: "X", cbu: null } });
    const first = unassigned(1_000);
    expect((await sendBankEvent(first)).status).toBe(200);
    expect((await sendBankEvent(reversalOf(first.data.bank_transaction_id))).status).toBe(200);
    expect(await merchantLedgerBalance(merchant.id)).toBe(-90);
    // Credited one entry at a time (D1's trigger judges each, in order): the fee comes first
    // (see commissionEntries), −90 − 90 = −180, which the overdraft guard would refuse but for
    // the fee entry's may_overdraw; then the credit, −180 + 100 = −80.
    const second = unassigned(100);
    expect((await sendBankEvent(second)).status).toBe(200);
    expect(await paymentOf(merchant.api_key, second.data.bank_transaction_id)).toMatchObject({ status: "credited", fee_amount: 90 });
    expect(await merchantLedgerBalance(merchant.id)).toBe(-80);
    // And through the customer route, likewise. The group commit's entries skip the trigger
    // (aggregated) and it moves each account by its net, so this leg checks the net arithmetic
    // only; it could not fail for want of may_overdraw.
    const customer = await createCustomer(merchant.api_key);
    const third = transferEvent({ amount: 100, concepto: await depositReference(merchant.api_key, customer.id) });
    expect((await sendBankEvent(third)).status).toBe(200);
    expect(await merchantLedgerBalance(merchant.id)).toBe(-70);
    await expectInvariants();
  });
});

describe("the customer is credited in full, the merchant holds amount − fee", () => {
  // By design (docs/MONEY.md "Commission"): the customer's balance is the memo, the merchant's
  // balance account is the real money, and a payout needs both. So a customer cannot withdraw
  // all of a priced cash-in until its merchant holds the fee from elsewhere.
  it("a payout of the full amount is 422 insufficient_funds and moves nothing, until the merchant has the money; then it passes", async () => {
    const merchant = await createMerchant();
    await setPricing(merchant.id, 150);
    const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    await fund(merchant, customer.id, 10_000);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 10_000, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 9_850, reserved: 0 });

    const refused = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 10_000 });
    expect(refused.status).toBe(422);
    expect(await refused.json()).toMatchObject({ code: "insufficient_funds" });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 10_000, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 9_850, reserved: 0 });
    // What the merchant does hold can be paid out.
    const partial = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 9_850 });
    expect(partial.status).toBe(201);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 0, reserved: 9_850 });

    // Another customer's cash-in brings the merchant money (4,000 − 60): the rest now passes.
    const other = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    await fund(merchant, other.id, 4_000);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 3_940, reserved: 9_850 });
    const rest = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 150 });
    expect(rest.status).toBe(201);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 0, reserved: 10_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 3_790, reserved: 10_000 });
    await expectInvariants();
  });

  it("a single payout of the full amount passes once the merchant holds it", async () => {
    const merchant = await createMerchant();
    await setPricing(merchant.id, 150);
    const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    await fund(merchant, customer.id, 10_000);
    expect((await postPayout(merchant.api_key, { customer_id: customer.id, amount: 10_000 })).status).toBe(422);
    const other = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    await fund(merchant, other.id, 200); // 200 − 3 = 197 ≥ the 150 missing
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 10_047 });
    expect((await postPayout(merchant.api_key, { customer_id: customer.id, amount: 10_000 })).status).toBe(201);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 47, reserved: 10_000 });
    await expectInvariants();
  });
});

describe("the merchant_row_writes metric on the per-cash-in path", () => {
  it("counts each entry on the merchant's row: two for a cash-in that paid a fee, one without, none for a replay (found by review)", async () => {
    const priced = await createMerchant();
    await setPricing(priced.id, 100);
    const unpriced = await createMerchant();
    const merchantOnly = (merchant: { reference: string }) => transferEvent({ amount: 5_000, concepto: merchant.reference, sender: { cuit: null, name: "X", cbu: null } });
    const writesOf = async (event: ReturnType<typeof merchantOnly>) => {
      const before = counters.merchant_row_writes;
      expect((await sendBankEvent(event)).status).toBe(200);
      return counters.merchant_row_writes - before;
    };
    const paid = merchantOnly(priced);
    expect(await writesOf(paid)).toBe(2);
    expect(await writesOf(merchantOnly(unpriced))).toBe(1);
    expect(await writesOf(paid)).toBe(0); // the redelivery inserts nothing
  });
});

describe("the payments sweep checks the fee", () => {
  it("a payment whose fee_amount differs from its ledger fee turns payments_match_ledger red, and green once restored", async () => {
    const { merchant, reference } = await pricedCustomer(100);
    const event = transferEvent({ amount: 10_000, concepto: reference });
    expect((await sendBankEvent(event)).status).toBe(200);
    const paymentId = await paymentIdOf(event.data.bank_transaction_id);
    await expectInvariants();
    const { invariantsAfterFullPass } = await import("../money");
    for (const corrupted of [101, 0]) {
      await env.DB.prepare("UPDATE payments SET fee_amount = ? WHERE id = ?").bind(corrupted, paymentId).run();
      try {
        const report = await invariantsAfterFullPass();
        const red = report.checks.filter((check) => !check.ok);
        expect(red.map((check) => check.name)).toEqual(["payments_match_ledger"]);
        expect(red[0]!.detail).toContain(`${paymentId}: lt_${paymentId} has`);
      } finally {
        await env.DB.prepare("UPDATE payments SET fee_amount = 100 WHERE id = ?").bind(paymentId).run();
      }
    }
    await expectInvariants();
    expect(merchant.id).toBeTruthy();
  });
});
