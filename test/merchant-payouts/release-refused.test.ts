/**
 * A release the reserve cannot cover is refused whole and retried: its own file, because it
 * forges a movement out of the reserve that the invariants would rightly call unaccounted.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { releaseDueReserveHolds } from "../../src/reserves/release-holds";
import { createdPayout, holdOf, payingMerchant, postMerchantPayout, reserveBalance } from "./helpers";

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
