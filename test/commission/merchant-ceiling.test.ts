/**
 * A merchant near 2^53 − 1 receives a cash-in whose net (amount − fee) fits but whose amount
 * alone does not. The group commit judges each account's net; the one-by-one path (D1's entry
 * trigger, one entry at a time, in order) must judge the same net, so the commission pair is
 * posted before the merchant's credit. With the fee after the credit (found by review), the
 * merchant-only route answered 422, an alarm replaying a group that died took the customer's
 * credit back, and the operator's assignment was refused, where the group commit accepted.
 * Both paths then refuse alike the cash-in whose net does not fit. (Its own file: it fills a
 * merchant to the ceiling in this file's database.)
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { paymentIdOf } from "../../src/cashins/receive-transfer";
import { armFault, disarmFaults } from "../../src/faults";
import { api, createCustomer, createMerchant, json, operatorHeaders, randomCbu, randomCuit } from "../helpers";
import { depositReference, drainGroupCommit, expectInvariants, objectBalance, runAccountAlarm, sendBankEvent, transferEvent } from "../money";
import { merchantLedgerBalance, paymentFee, platformBalance, setPricing } from "./commission-helpers";

const MAX = Number.MAX_SAFE_INTEGER;
const largest = 100_000_000_000_000; // 10^14, the largest amount the contract accepts

afterEach(() => disarmFaults());

async function paymentCount(bankTransactionId: string): Promise<number> {
  return (await env.DB.prepare("SELECT COUNT(*) AS n FROM payments WHERE bank_transaction_id = ?").bind(bankTransactionId).first<{ n: number }>())!.n;
}

describe("a merchant near 2^53 − 1, a cash-in of 1,000 with a fee of 900 (net 100)", () => {
  it("is accepted by the group commit, the one-by-one path, an alarm's replay and the operator's assignment alike, and refused alike once the net does not fit", async () => {
    const merchant = await createMerchant();
    const customers = [];
    for (let index = 0; index < 10; index++) customers.push(await createCustomer(merchant.api_key));
    const references = await Promise.all(customers.map((customer) => depositReference(merchant.api_key, customer.id)));
    // Fill the merchant (no pricing yet) to MAX − 450 with real cash-ins, so the books stay whole.
    const start = MAX - 450;
    for (let round = 0; round < 9; round++) {
      const deliveries = references.map((reference) => sendBankEvent(transferEvent({ amount: largest, concepto: reference })));
      expect((await Promise.all(deliveries)).map((response) => response.status)).toEqual(Array(10).fill(200));
    }
    expect((await sendBankEvent(transferEvent({ amount: start - 90 * largest, concepto: references[0]! }))).status).toBe(200);
    expect(await merchantLedgerBalance(merchant.id)).toBe(start);
    await setPricing(merchant.id, 0, 900);
    const platformStart = await platformBalance();
    const cashIn = (reference: string) => transferEvent({ amount: 1_000, concepto: reference });
    const merchantOnly = () => transferEvent({ amount: 1_000, concepto: merchant.reference, sender: { cuit: null, name: "X", cbu: null } });

    // 1. Customer route, group commit: MAX − 450 + 100.
    const grouped = cashIn(references[1]!);
    expect((await sendBankEvent(grouped)).status).toBe(200);
    expect(await paymentFee(await paymentIdOf(grouped.data.bank_transaction_id))).toBe(900);
    expect(await merchantLedgerBalance(merchant.id)).toBe(MAX - 350);

    // 2. Merchant-only route, one batch through the entry trigger: MAX − 350 + 1,000 alone would not fit.
    const single = merchantOnly();
    expect((await sendBankEvent(single)).status).toBe(200);
    expect(await paymentFee(await paymentIdOf(single.data.bank_transaction_id))).toBe(900);
    expect(await merchantLedgerBalance(merchant.id)).toBe(MAX - 250);

    // 3. Customer route, the group dies inside its batch: the customer's alarm replays it one by one.
    const replayed = cashIn(references[2]!);
    const customerBefore = (await objectBalance(customers[2]!.id)).available;
    armFault("groupcommit.inside_batch");
    expect((await sendBankEvent(replayed, { drain: false })).status).toBe(200);
    await drainGroupCommit();
    disarmFaults();
    expect(await paymentCount(replayed.data.bank_transaction_id)).toBe(0);
    await runAccountAlarm(customers[2]!.id);
    expect(await paymentFee(await paymentIdOf(replayed.data.bank_transaction_id))).toBe(900);
    expect((await objectBalance(customers[2]!.id)).available).toBe(customerBefore + 1_000); // not taken back
    expect(await merchantLedgerBalance(merchant.id)).toBe(MAX - 150);

    // 4. The operator assigns a quarantined cash-in to one of the merchant's customers (one batch).
    const quarantined = transferEvent({ amount: 1_000, concepto: "sin referencia", sender: { cuit: randomCuit(), name: "Q", cbu: randomCbu() } });
    expect((await sendBankEvent(quarantined)).status).toBe(200);
    const quarantinedId = await paymentIdOf(quarantined.data.bank_transaction_id);
    const assigned = await api(`/v1/admin/quarantine/${quarantinedId}/assign`, json({ customer_id: customers[3]!.id, merchant_id: merchant.id }, operatorHeaders()));
    expect(assigned.status).toBe(200);
    expect(await assigned.json()).toMatchObject({ status: "credited", fee_amount: 900 });
    expect(await merchantLedgerBalance(merchant.id)).toBe(MAX - 50);
    expect(await platformBalance()).toBe(platformStart + 4n * 900n);
    await expectInvariants();

    // 5. Now MAX − 50 + 100 does not fit: both paths refuse it whole, nothing moves.
    const overGrouped = cashIn(references[4]!);
    expect((await sendBankEvent(overGrouped)).status).toBe(200); // acknowledged, refused by the group a moment later
    expect(await paymentCount(overGrouped.data.bank_transaction_id)).toBe(0);
    const overSingle = merchantOnly();
    expect((await sendBankEvent(overSingle)).status).toBe(422);
    expect(await paymentCount(overSingle.data.bank_transaction_id)).toBe(0);
    expect(await merchantLedgerBalance(merchant.id)).toBe(MAX - 50);
    expect(await platformBalance()).toBe(platformStart + 4n * 900n);
    await expectInvariants();
  });
});
