/**
 * A release the reserve cannot cover is refused whole and retried: its own file, because it
 * forges a movement out of the reserve that the invariants would rightly call unaccounted.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { limits } from "../../src/limits";
import { releaseDueReserveHolds } from "../../src/reserves/release-holds";
import { api, bearer } from "../helpers";
import { merchantBalance } from "../money";
import { createdPayout, holdOf, payingMerchant, postMerchantPayout, reserveBalance } from "./helpers";

/** Another movement (an operator's transfer, say) takes `amount` out of the merchant's reserve (or, with "in", puts it back). */
async function drainReserve(merchantId: string, amount: number, tag: string, direction: "out" | "in" = "out"): Promise<void> {
  const [reserve, merchant] = [`la_r${merchantId.slice(4)}_ars`, `la_m${merchantId.slice(4)}_ars`];
  const [from, to] = direction === "out" ? [reserve, merchant] : [merchant, reserve];
  const id = `lt_test_drain_${tag}`;
  await env.DB.batch([
    env.DB.prepare("INSERT INTO ledger_transactions (id, status, description, effective_at, created_at, updated_at) VALUES (?, 'posted', 'test: reserve moved', 0, 0, 0)").bind(id),
    env.DB.prepare(
      `INSERT INTO ledger_entries (id, transaction_id, ledger_account_id, direction, amount, status, created_at) VALUES
       (?1 || ':0', ?1, ?2, 'debit', ?4, 'posted', 0), (?1 || ':1', ?1, ?3, 'credit', ?4, 'posted', 0)`,
    ).bind(id, from, to, amount),
  ]);
}

describe("releases (the cron)", () => {
  it("a reserve that cannot cover its release keeps the hold until it can, and then releases it once", async () => {
    const merchant = await payingMerchant(10_000, { type: "percentage", percentage: 10, holding_days: 0 });
    const payout = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 1_000 }));
    await drainReserve(merchant.id, 100, payout.id);
    const report = await releaseDueReserveHolds(env, Date.now() + 1);
    expect(report.refused).toBeGreaterThanOrEqual(1);
    expect(await holdOf(payout.id)).toMatchObject({ status: "held" });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 0, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 9_100 });

    // The money comes back into the reserve: the next attempt (after its backoff) releases the hold, once.
    await drainReserve(merchant.id, 100, `refill_${payout.id}`, "in");
    const later = Date.now() + limits.reserve_release_backoff_max_ms + 1;
    await releaseDueReserveHolds(env, later);
    await releaseDueReserveHolds(env, later);
    expect(await holdOf(payout.id)).toMatchObject({ status: "released" });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 0, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 9_100 });
    const releases = await env.DB.prepare("SELECT COUNT(*) AS n FROM ledger_entries WHERE transaction_id = ?").bind(`lt_release_${payout.id}`).first<{ n: number }>();
    expect(releases).toEqual({ n: 2 });
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

    await releaseDueReserveHolds(env, Date.now() + 1);
    expect(await holdOf(payout.id)).toMatchObject({ status: "held" });
    // Money comes back into the reserve (a withholding of another payout): the cron returns the
    // hold at its next attempt (refused once: it waits out its backoff).
    const refill = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 2_000 }));
    expect(refill.withheld_amount).toBe(300);
    await releaseDueReserveHolds(env, Date.now() + limits.reserve_release_backoff_max_ms + 1);
    expect(await holdOf(payout.id)).toMatchObject({ status: "released" });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 0, reserved: 0 });
  });
});

describe("refused releases do not starve the others", () => {
  const perTick = limits.reserve_releases_per_tick;
  afterEach(() => {
    (limits as { reserve_releases_per_tick: number }).reserve_releases_per_tick = perTick;
  });

  it("a refused hold is retried with backoff: another merchant's due hold is released while it waits, and it is released once the reserve can cover it", async () => {
    const starved = await payingMerchant(10_000, { type: "percentage", percentage: 10, holding_days: 0 });
    const refused: string[] = [];
    for (const amount of [1_000, 1_000, 1_000]) refused.push((await createdPayout(await postMerchantPayout(starved.api_key, { amount }))).id);
    await drainReserve(starved.id, 300, `starve_${starved.id}`);
    const other = await payingMerchant(10_000, { type: "percentage", percentage: 10, holding_days: 0 });
    const due = await createdPayout(await postMerchantPayout(other.api_key, { amount: 1_000 }));
    // The refused holds are older: without backoff they fill every tick's LIMIT forever.
    (limits as { reserve_releases_per_tick: number }).reserve_releases_per_tick = 2;
    const tick = Date.now() + 1;
    for (let i = 0; i < 5 && (await holdOf(due.id))!.status === "held"; i++) await releaseDueReserveHolds(env, tick);
    expect(await holdOf(due.id)).toMatchObject({ status: "released" });
    for (const id of refused) {
      const hold = await env.DB.prepare("SELECT status, attempts, next_attempt_at FROM reserve_holds WHERE payout_id = ?").bind(id).first<{ status: string; attempts: number; next_attempt_at: number }>();
      expect(hold).toMatchObject({ status: "held", attempts: 1, next_attempt_at: tick + limits.reserve_release_backoff_base_ms });
    }
    // Still refused at its next attempt: it waits twice as long.
    (limits as { reserve_releases_per_tick: number }).reserve_releases_per_tick = perTick;
    await releaseDueReserveHolds(env, tick + limits.reserve_release_backoff_base_ms);
    expect(await env.DB.prepare("SELECT attempts, next_attempt_at FROM reserve_holds WHERE payout_id = ?").bind(refused[0]).first()).toEqual({
      attempts: 2,
      next_attempt_at: tick + 3 * limits.reserve_release_backoff_base_ms,
    });

    // The reserve gets its money back: each hold is released at its next attempt, once.
    await drainReserve(starved.id, 300, `refill_${starved.id}`, "in");
    const later = tick + 2 * limits.reserve_release_backoff_max_ms;
    for (let i = 0; i < 3; i++) await releaseDueReserveHolds(env, later);
    for (const id of refused) expect(await holdOf(id)).toMatchObject({ status: "released" });
    expect(await reserveBalance(starved.id)).toEqual({ available: 0, reserved: 0 });
    expect(await merchantBalance(starved.api_key)).toMatchObject({ available: 7_300, reserved: 2_700 });
  });
});
