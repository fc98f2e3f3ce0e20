/**
 * The payouts sweep checks merchant payouts and reserve holds (API §12): corrupting one row
 * turns exactly the check that owns it red. Its own file: the corruption stays in this D1.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { drainPayoutQueue, invariantsAfterFullPass, settle } from "../money";
import { createdPayout, payingMerchant, postMerchantPayout } from "./helpers";
import { releaseDueReserveHolds } from "../../src/reserves/release-holds";

async function redChecks(): Promise<{ name: string; detail: string }[]> {
  const report = await invariantsAfterFullPass();
  return report.checks.filter((check) => !check.ok).map(({ name, detail }) => ({ name, detail }));
}

describe("invariants over merchant payouts and reserves", () => {
  it("green over every kind of merchant payout; one corrupted row turns exactly its check red", async () => {
    const merchant = await payingMerchant(100_000, { type: "percentage", percentage: 10, holding_days: 0 });
    const completed = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 1_000 }));
    const failed = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 2_000 }));
    const pending = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 3_000 }));
    await drainPayoutQueue([completed.id, failed.id]);
    expect((await settle(completed.id, "completed")).status).toBe(200);
    expect((await settle(failed.id, "failed")).status).toBe(200);
    await releaseDueReserveHolds(env, Date.now() + 1); // holding_days 0: every hold released but the failed payout's, voided by its failure
    const fixed = await payingMerchant(10_000, { type: "fixed", amount: 500, holding_days: 0 });
    const whole = await createdPayout(await postMerchantPayout(fixed.api_key, { amount: 400 }));
    expect(whole.status).toBe("completed");
    expect(await redChecks()).toEqual([]);

    // A hold said held though its release is posted: reserve_holds_match_ledger, and its reserve
    // now holds less than its held holds say (reserve_balances_equal_holds).
    await env.DB.prepare("UPDATE reserve_holds SET status = 'held', released_at = NULL WHERE payout_id = ?").bind(completed.id).run();
    let red = await redChecks();
    expect(red.map((check) => check.name)).toEqual(["reserve_holds_match_ledger", "reserve_balances_equal_holds"]);
    expect(red[1]!.detail).toContain("(difference -100)");
    expect(red[0]!.detail).toContain(completed.id);
    await env.DB.prepare("UPDATE reserve_holds SET status = 'released', released_at = updated_at WHERE payout_id = ?").bind(completed.id).run();
    expect(await redChecks()).toEqual([]);

    // A voided hold said held (its return lt_unwithhold_ stays posted), and a held one said voided (no return posted).
    await env.DB.prepare("UPDATE reserve_holds SET status = 'held', voided_at = NULL WHERE payout_id = ? AND status = 'voided'").bind(failed.id).run();
    red = await redChecks();
    expect(red.map((check) => check.name)).toEqual(["reserve_holds_match_ledger", "reserve_balances_equal_holds"]);
    expect(red[1]!.detail).toContain("(difference -200)");
    expect(red[0]!.detail).toContain(`held, but lt_unwithhold_${failed.id} exists`);
    await env.DB.prepare("UPDATE reserve_holds SET status = 'voided', voided_at = updated_at WHERE payout_id = ?").bind(failed.id).run();
    expect(await redChecks()).toEqual([]);
    await env.DB.prepare("UPDATE reserve_holds SET status = 'voided', released_at = NULL, voided_at = updated_at WHERE payout_id = ?").bind(pending.id).run();
    red = await redChecks();
    expect(red.map((check) => check.name)).toEqual(["reserve_holds_match_ledger"]);
    expect(red[0]!.detail).toContain(`voided, but the payout is pending`);
    expect(red[0]!.detail).toContain(`lt_unwithhold_${pending.id} is missing`);
    await env.DB.prepare("UPDATE reserve_holds SET status = 'released', released_at = updated_at, voided_at = NULL WHERE payout_id = ?").bind(pending.id).run();
    expect(await redChecks()).toEqual([]);

    // A hold of another amount than its withholding.
    await env.DB.prepare("UPDATE reserve_holds SET amount = amount + 1 WHERE payout_id = ?").bind(whole.id).run();
    red = await redChecks();
    expect(red.map((check) => check.name)).toEqual(["reserve_holds_match_ledger", "reserve_balances_equal_holds"]);
    expect(red[1]!.detail).toContain("(difference -1)");
    await env.DB.prepare("UPDATE reserve_holds SET amount = amount - 1 WHERE payout_id = ?").bind(whole.id).run();
    expect(await redChecks()).toEqual([]);

    // A merchant payout whose status no longer matches its ledger transaction: only payouts_match_ledger
    // (the completed one: a failed one's voided hold would also be red, a voided hold's payout being failed or canceled).
    await env.DB.prepare("UPDATE payouts SET status = 'processing' WHERE id = ?").bind(completed.id).run();
    red = await redChecks();
    expect(red.map((check) => check.name)).toEqual(["payouts_match_ledger"]);
    expect(red[0]!.detail).toContain(completed.id);
    await env.DB.prepare("UPDATE payouts SET status = 'completed' WHERE id = ?").bind(completed.id).run();
    expect(await redChecks()).toEqual([]);

    // A pending merchant payout's net amount off by one (amount changed, withholding kept).
    await env.DB.prepare("UPDATE payouts SET amount = amount + 1 WHERE id = ?").bind(pending.id).run();
    red = await redChecks();
    expect(red.map((check) => check.name)).toEqual(["payouts_match_ledger"]);
  });
});
