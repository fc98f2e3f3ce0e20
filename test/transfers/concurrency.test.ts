/**
 * Transfers and customer payouts racing on one merchant account: the no_overdraft trigger in
 * each write's own batch is the only check, so whatever interleaving D1 runs, the sum that
 * leaves the account never exceeds what it held, and the books stay whole.
 */
import { describe, expect, it } from "vitest";
import { createMerchant } from "../helpers";
import { expectInvariants, fundedCustomer, merchantBalance, postPayout } from "../money";
import { availableOf, merchantBa, postTransfer } from "./transfer-helpers";

describe("concurrent transfers and payouts on one account", () => {
  it("never overdraw it: every request is 201 or 422 insufficient_funds, and the account keeps exactly what the successes left", async () => {
    const held = 10_000;
    const { merchant, customer } = await fundedCustomer(held);
    const other = await createMerchant();
    const amount = 1_500;
    const transfers = Array.from({ length: 8 }, () =>
      postTransfer(merchant.api_key, { from_balance_account: merchantBa(merchant.id), to_balance_account: merchantBa(other.id), amount }),
    );
    const payouts = Array.from({ length: 4 }, () => postPayout(merchant.api_key, { customer_id: customer.id, amount }));
    const [transferResponses, payoutResponses] = await Promise.all([Promise.all(transfers), Promise.all(payouts)]);

    for (const response of [...transferResponses, ...payoutResponses]) {
      expect([201, 422]).toContain(response.status);
      if (response.status === 422) expect(((await response.json()) as { code: string }).code).toBe("insufficient_funds");
    }
    const moved = transferResponses.filter((response) => response.status === 201).length * amount;
    const paid = payoutResponses.filter((response) => response.status === 201).length * amount;
    expect(moved + paid).toBeLessThanOrEqual(held);
    // 8 × 1,500 + 4 × 1,500 asked for 18,000: at most six fit, and the last 1,000 never moves.
    expect(moved + paid).toBe(9_000);
    expect(await merchantBalance(merchant.api_key)).toEqual(expect.objectContaining({ available: held - moved - paid, reserved: paid }));
    expect(await availableOf(merchantBa(other.id))).toBe(moved);
    await expectInvariants();
  });
});
