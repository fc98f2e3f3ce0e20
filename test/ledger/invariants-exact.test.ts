/**
 * The invariants add amounts exactly past 2^53. Totals of the platform's accounts pass it long
 * before any one balance does: here the merchants' unassigned funds add up to 2^53 + 1, a
 * customer holds 1, and the settlement account to 2^53 + 2, every balance on its own a safe
 * integer. As floats, 1 + (2^53 + 1) rounds to 2^53 ≠ 2^53 + 2: a false alarm. Relies on this
 * file's own D1 (the settlement account starts at zero).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { platformAccountId } from "../../src/ledger/accounts";
import { limits } from "../../src/limits";
import { createMerchant, randomCbu, type TestMerchant } from "../helpers";
import { expectInvariants, fundedCustomer, sendBankEvent, transferEvent } from "../money";

/** A cash-in with the merchant's reference from a sender with no CUIT: the merchant's unassigned funds. */
async function unassignedCashIn(merchant: TestMerchant, amount: number): Promise<void> {
  const event = transferEvent({ amount, concepto: `pago ${merchant.reference}`, sender: { cuit: null, name: "Sin CUIT", cbu: randomCbu() } });
  expect((await sendBankEvent(event)).status).toBe(200);
}

async function cachedTotals(accountId: string): Promise<{ posted_debits: string; posted_credits: string }> {
  return (await env.DB.prepare("SELECT CAST(posted_debits AS TEXT) AS posted_debits, CAST(posted_credits AS TEXT) AS posted_credits FROM ledger_accounts WHERE id = ?")
    .bind(accountId)
    .first<{ posted_debits: string; posted_credits: string }>())!;
}

describe("GET /v1/admin/invariants past 2^53", () => {
  it("does not false-alarm when the platform's totals pass 2^53", async () => {
    const settlement = platformAccountId.settlement("ARS");
    expect(await cachedTotals(settlement)).toEqual({ posted_debits: "0", posted_credits: "0" });

    const largest = limits.amount_max; // 10^14, the most one transfer may carry
    const [first, second] = [await createMerchant(), await createMerchant()];
    for (let index = 0; index < 45; index++) {
      await unassignedCashIn(first!, largest);
      await unassignedCashIn(second!, largest);
    }
    const rest = 2n ** 53n + 1n - 90n * BigInt(largest); // 7,199,254,740,993
    await unassignedCashIn(second!, Number(rest));
    await fundedCustomer(1);

    // Unassigned funds 2^53 + 1 in all (each merchant's a safe integer), the settlement account 2^53 + 2.
    const { results } = await env.DB.prepare(
      "SELECT CAST(SUM(posted_credits - posted_debits) AS TEXT) AS total FROM ledger_accounts WHERE kind = 'merchant_unassigned'",
    ).all<{ total: string }>();
    expect(results[0]!.total).toBe((2n ** 53n + 1n).toString());
    expect((await cachedTotals(settlement)).posted_debits).toBe((2n ** 53n + 2n).toString());

    await expectInvariants();
  });
});
