/**
 * A release the reserve cannot cover is refused whole and retried: its own file, because it
 * forges a movement out of the reserve that the invariants would rightly call unaccounted.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { releaseDueReserveHolds } from "../../src/reserves/release-holds";
import { api, bearer } from "../helpers";
import { merchantBalance } from "../money";
import { createdPayout, holdOf, payingMerchant, postMerchantPayout, reserveBalance } from "./helpers";

/** Another movement (an operator's transfer, say) takes `amount` out of the merchant's reserve. */
async function drainReserve(merchantId: string, amount: number, tag: string): Promise<void> {
  const id = `lt_test_drain_${tag}`;
  await env.DB.batch([
    env.DB.prepare("INSERT INTO ledger_transactions (id, status, description, effective_at, created_at, updated_at) VALUES (?, 'posted', 'test: reserve moved', 0, 0, 0)").bind(id),
    env.DB.prepare(
      `INSERT INTO ledger_entries (id, transaction_id, ledger_account_id, direction, amount, status, created_at) VALUES
       (?1 || ':0', ?1, ?2, 'debit', ?4, 'posted', 0), (?1 || ':1', ?1, ?3, 'credit', ?4, 'posted', 0)`,
    ).bind(id, `la_r${merchantId.slice(4)}_ars`, `la_m${merchantId.slice(4)}_ars`, amount),
  ]);
}

describe("releases (the cron)", () => {
  it("a reserve that cannot cover its release keeps the hold until it can", async () => {
    const merchant = await payingMerchant(10_000, { type: "percentage", percentage: 10, holding_days: 0 });
    const payout = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 1_000 }));
    // Another movement (an operator's transfer, say) took the reserve's money first.
    await env.DB.batch([
      env.DB.prepare("INSERT INTO ledger_transactions (id, status, description, effective_at, created_at, updated_at) VALUES (?, 'posted', 'test: reserve drained', 0, 0, 0)").bind(`lt_test_drain_${payout.id}`),
      env.DB.prepare(
        `INSERT INTO ledger_entries (id, transaction_id, ledger_account_id, direction, amount, status, created_at) VALUES
         (?1 || ':0', ?1, ?2, 'debit', 100, 'posted', 0), (?1 || ':1', ?1, ?3, 'credit', 100, 'posted', 0)`,
      ).bind(`lt_test_drain_${payout.id}`, `la_r${merchant.id.slice(4)}_ars`, `la_m${merchant.id.slice(4)}_ars`),
    ]);
    const report = await releaseDueReserveHolds(env, Date.now() + 1);
    expect(report.refused).toBeGreaterThanOrEqual(1);
    expect(await holdOf(payout.id)).toMatchObject({ status: "held" });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 0, reserved: 0 });
  });
});

describe("a failed or canceled payout whose reserve cannot cover its withholding", () => {
  it("is canceled all the same; the hold becomes due and the cron returns it once the reserve can cover it", async () => {
    const merchant = await payingMerchant(10_000, { type: "fixed", amount: 300, holding_days: 0 });
    const payout = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 1_000 }));
    expect(payout.withheld_amount).toBe(300);
    expect((await holdOf(payout.id))!.release_at).toBeNull(); // a fixed reserve: never due by itself
    await drainReserve(merchant.id, 300, payout.id);
    const canceled = await api(`/v1/payouts/${payout.id}/cancel`, { method: "POST", headers: bearer(merchant.api_key) });
    expect(canceled.status).toBe(200);
    expect(await canceled.json()).toMatchObject({ status: "canceled" });
    // The net came back (9,000 + 700 + the 300 drained into it); the withholding could not.
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 10_000, reserved: 0 });
    const hold = await holdOf(payout.id);
    expect(hold).toMatchObject({ status: "held" });
    expect(hold!.release_at).not.toBeNull();
    expect(await env.DB.prepare("SELECT 1 FROM ledger_transactions WHERE id = ?").bind(`lt_unwithhold_${payout.id}`).first()).toBeNull();

    expect(await releaseDueReserveHolds(env, Date.now() + 1)).toMatchObject({ released: 0 });
    expect(await holdOf(payout.id)).toMatchObject({ status: "held" });
    // Money comes back into the reserve (a withholding of another payout): the cron returns the hold.
    const refill = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 2_000 }));
    expect(refill.withheld_amount).toBe(300);
    expect(await releaseDueReserveHolds(env, Date.now() + 1)).toMatchObject({ released: 1 });
    expect(await holdOf(payout.id)).toMatchObject({ status: "released" });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 0, reserved: 0 });
  });
});
