/**
 * The invariants over reserves (API §12): each reserve's balance equals its held holds plus the
 * transfers into it minus those out of it (reserve_balances_equal_holds, the ledger-accounts
 * sweep); a hold's amount and policy are its payout's (reserve_holds_match_ledger); no hold is
 * long past its release date (reserve_holds_released_on_time). Realistic flows keep them green;
 * each corruption they are for turns red exactly the checks that must notice it, naming the row,
 * and restored, everything is green again. Its own file: the corruptions stay in this D1.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { limits } from "../../src/limits";
import { releaseDueReserveHolds } from "../../src/reserves/release-holds";
import { api, bearer } from "../helpers";
import { drainPayoutQueue, expectInvariants, invariantsAfterFullPass, settle, type InvariantsReport } from "../money";
import { merchantBa, postTransfer, reserveBa } from "../transfers/transfer-helpers";
import { createdPayout, holdOf, payingMerchant, postMerchantPayout, reserveBalance, type MerchantPayout } from "./helpers";

const HOUR_MS = 3_600_000;
const reserveChecks = ["reserve_holds_match_ledger", "reserve_balances_equal_holds", "reserve_holds_released_on_time"];

const run = (sql: string, ...params: unknown[]) => env.DB.prepare(sql).bind(...params).run();
const failing = (report: InvariantsReport) => Object.fromEntries(report.checks.filter((check) => !check.ok).map((check) => [check.name, check.detail]));

/** `corrupt` turns exactly the checks of `red` red, each detail containing its texts; `restore` makes every check green again. */
async function expectCaught(corrupt: () => Promise<unknown>, restore: () => Promise<unknown>, red: Record<string, string[]>): Promise<void> {
  await corrupt();
  try {
    const failed = failing(await invariantsAfterFullPass());
    expect(Object.keys(failed).sort()).toEqual(Object.keys(red).sort());
    for (const [name, texts] of Object.entries(red)) for (const text of texts) expect(failed[name]).toContain(text);
  } finally {
    await restore();
  }
  await expectInvariants();
}

/** A movement no API makes (nothing transfers out of a reserve): a posted transaction between the merchant and its reserve. */
async function forgeReserveMovement(merchantId: string, amount: number, direction: "out" | "in"): Promise<void> {
  const [reserve, merchant] = [`la_r${merchantId.slice(4)}_ars`, `la_m${merchantId.slice(4)}_ars`];
  const [from, to] = direction === "out" ? [reserve, merchant] : [merchant, reserve];
  const id = `lt_test_forged_${direction}_${merchantId}`;
  await env.DB.batch([
    env.DB.prepare("INSERT INTO ledger_transactions (id, status, description, effective_at, created_at, updated_at) VALUES (?, 'posted', 'test: reserve moved', 0, 0, 0)").bind(id),
    env.DB.prepare(
      `INSERT INTO ledger_entries (id, transaction_id, ledger_account_id, direction, amount, status, created_at) VALUES
       (?1 || ':0', ?1, ?2, 'debit', ?4, 'posted', 0), (?1 || ':1', ?1, ?3, 'credit', ?4, 'posted', 0)`,
    ).bind(id, from, to, amount),
  ]);
}

async function transfer(from: string, to: string, amount: number): Promise<void> {
  const response = await postTransfer(null, { from_balance_account: from, to_balance_account: to, amount, currency: "ARS" });
  expect(response.status, await response.clone().text()).toBe(201);
}

let percentage: Awaited<ReturnType<typeof payingMerchant>>;
let held: MerchantPayout; // pending payout, its hold held (holding 30 days)
let unwithheld: MerchantPayout; // withheld nothing (no policy)

beforeAll(async () => {
  // Every movement in and out of a reserve, all green: withholding (percentage and fixed, whole
  // included), release, return on failure and on cancel, operator transfers in (nothing may
  // transfer out of a reserve), and concurrent payouts.
  percentage = await payingMerchant(1_000_000, { type: "percentage", percentage: 10, holding_days: 30 });
  held = await createdPayout(await postMerchantPayout(percentage.api_key, { amount: 10_000 }));
  const completed = await createdPayout(await postMerchantPayout(percentage.api_key, { amount: 20_000 }));
  const failed = await createdPayout(await postMerchantPayout(percentage.api_key, { amount: 3_000 }));
  const canceled = await createdPayout(await postMerchantPayout(percentage.api_key, { amount: 4_000 }));
  await drainPayoutQueue([completed.id, failed.id]);
  expect((await settle(completed.id, "completed")).status).toBe(200);
  expect((await settle(failed.id, "failed")).status).toBe(200);
  expect((await api(`/v1/payouts/${canceled.id}/cancel`, { method: "POST", headers: bearer(percentage.api_key) })).status).toBe(200);
  await Promise.all(Array.from({ length: 6 }, () => postMerchantPayout(percentage.api_key, { amount: 1_001 }).then(createdPayout)));
  await transfer(merchantBa(percentage.id), reserveBa(percentage.id), 5_000);
  // A transfer out of a reserve is refused, whoever asks: the equation has no "out" term.
  const out = await postTransfer(null, { from_balance_account: reserveBa(percentage.id), to_balance_account: merchantBa(percentage.id), amount: 1, currency: "ARS" });
  expect(out.status).toBe(400);
  // The completed payout's hold is released (its date moved to now, as 30 days later).
  await run("UPDATE reserve_holds SET release_at = ? WHERE payout_id = ?", Date.now() - 1, completed.id);
  expect(await releaseDueReserveHolds(env, Date.now())).toEqual({ released: 1, refused: 0 });
  expect(await holdOf(completed.id)).toMatchObject({ status: "released" });
  expect(await holdOf(failed.id)).toMatchObject({ status: "voided" });
  expect(await holdOf(canceled.id)).toMatchObject({ status: "voided" });
  // Held: 1_000 (held) + 6 × 100 (concurrent); + 5_000 in.
  expect(await reserveBalance(percentage.id)).toEqual({ available: 1_000 + 600 + 5_000, reserved: 0 });

  const fixed = await payingMerchant(10_000, { type: "fixed", amount: 500, holding_days: 0 });
  expect(await createdPayout(await postMerchantPayout(fixed.api_key, { amount: 400 }))).toMatchObject({ status: "completed", withheld_amount: 400 });
  await createdPayout(await postMerchantPayout(fixed.api_key, { amount: 400 }));
  await transfer(merchantBa(fixed.id), reserveBa(fixed.id), 300); // the operator tops the buffer up

  const plain = await payingMerchant(10_000);
  unwithheld = await createdPayout(await postMerchantPayout(plain.api_key, { amount: 1_000 }));
  expect(unwithheld.withheld_amount).toBe(0);

  const report = await invariantsAfterFullPass();
  expect(failing(report)).toEqual({});
  for (const name of reserveChecks) expect(report.checks.find((check) => check.name === name)?.ok, name).toBe(true);
});

describe("reserve_balances_equal_holds and reserve_holds_match_ledger", () => {
  it("a reserve moved without a hold (its balance changed directly): red, naming the reserve and the difference", async () => {
    const reserveLa = `la_r${percentage.id.slice(4)}_ars`;
    const merchantLa = `la_m${percentage.id.slice(4)}_ars`;
    // 77 from the merchant's balance account to its reserve, with no entries: settlement still adds up.
    await expectCaught(
      () => env.DB.batch([
        env.DB.prepare("UPDATE ledger_accounts SET posted_credits = posted_credits + 77 WHERE id = ?").bind(reserveLa),
        env.DB.prepare("UPDATE ledger_accounts SET posted_debits = posted_debits + 77 WHERE id = ?").bind(merchantLa),
      ]),
      () => env.DB.batch([
        env.DB.prepare("UPDATE ledger_accounts SET posted_credits = posted_credits - 77 WHERE id = ?").bind(reserveLa),
        env.DB.prepare("UPDATE ledger_accounts SET posted_debits = posted_debits - 77 WHERE id = ?").bind(merchantLa),
      ]),
      { reserve_balances_equal_holds: [reserveBa(percentage.id), "difference +77"], balances_equal_entries: [reserveLa, merchantLa] },
    );
  });

  it("a hold whose money went back without its release (held hold deleted): red, naming the reserve; the payout names its missing hold", async () => {
    const hold = await env.DB.prepare("SELECT * FROM reserve_holds WHERE payout_id = ?").bind(held.id).first<Record<string, unknown>>();
    await expectCaught(
      () => run("DELETE FROM reserve_holds WHERE payout_id = ?", held.id),
      () => {
        const columns = Object.keys(hold!);
        return run(`INSERT INTO reserve_holds (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`, ...columns.map((column) => hold![column]));
      },
      { reserve_balances_equal_holds: [reserveBa(percentage.id), "difference +1000"], reserve_holds_match_ledger: [`${held.id}: withheld 1000, but has no hold`] },
    );
  });

  it("a hold without its money (a payout that withheld nothing): red on its reserve and on the payout", async () => {
    const reserveOfPlain = reserveBa(unwithheld.merchant_id);
    await expectCaught(
      () =>
        run(
          "INSERT INTO reserve_holds (payout_id, merchant_id, policy_id, amount, currency, status, release_at, created_at, updated_at) VALUES (?, ?, 'rp_forged', 250, 'ARS', 'held', NULL, 0, 0)",
          unwithheld.id,
          unwithheld.merchant_id,
        ),
      () => run("DELETE FROM reserve_holds WHERE payout_id = ?", unwithheld.id),
      { reserve_balances_equal_holds: [reserveOfPlain, "difference -250"], reserve_holds_match_ledger: [`${unwithheld.id}: withheld nothing, but has a hold of 250`] },
    );
  });

  it("a hold whose amount disagrees with its payout's withheld_amount: red on the hold and on its reserve", async () => {
    await expectCaught(
      () => run("UPDATE reserve_holds SET amount = amount + 5 WHERE payout_id = ?", held.id),
      () => run("UPDATE reserve_holds SET amount = amount - 5 WHERE payout_id = ?", held.id),
      { reserve_holds_match_ledger: [held.id, "hold of 1005 ARS"], reserve_balances_equal_holds: [reserveBa(percentage.id), "difference -5"] },
    );
  });

  it("a hold under another policy than its payout was withheld under: only reserve_holds_match_ledger", async () => {
    const payout = await env.DB.prepare("SELECT reserve_policy_id FROM payouts WHERE id = ?").bind(held.id).first<{ reserve_policy_id: string }>();
    expect(payout!.reserve_policy_id).toMatch(/^rp_/);
    await expectCaught(
      () => run("UPDATE reserve_holds SET policy_id = 'rp_other' WHERE payout_id = ?", held.id),
      () => run("UPDATE reserve_holds SET policy_id = ? WHERE payout_id = ?", payout!.reserve_policy_id, held.id),
      { reserve_holds_match_ledger: [`${held.id}: hold under policy rp_other, but the payout was withheld under ${payout!.reserve_policy_id}`] },
    );
  });

  it("a pending entry on a reserve: red (nothing pending ever touches a reserve)", async () => {
    const reserveLa = `la_r${percentage.id.slice(4)}_ars`;
    await expectCaught(
      () => run("UPDATE ledger_accounts SET pending_credits = pending_credits + 9 WHERE id = ?", reserveLa),
      () => run("UPDATE ledger_accounts SET pending_credits = pending_credits - 9 WHERE id = ?", reserveLa),
      {
        reserve_balances_equal_holds: [reserveBa(percentage.id), "pending credits 9"],
        balances_equal_entries: [reserveLa],
        liabilities_equal_settlement: ["ARS"],
      },
    );
  });
});

describe("reserve_holds_released_on_time", () => {
  it("a held hold more than 25 hours past its release date is red, naming its payout; 24 hours is not yet", async () => {
    expect(limits.reserve_hold_overdue_ms).toBe(25 * HOUR_MS);
    const original = (await holdOf(held.id))!.release_at;
    await run("UPDATE reserve_holds SET release_at = ? WHERE payout_id = ?", Date.now() - 24 * HOUR_MS, held.id);
    expect(failing(await invariantsAfterFullPass())).toEqual({});
    await expectCaught(
      () => run("UPDATE reserve_holds SET release_at = ? WHERE payout_id = ?", Date.now() - 26 * HOUR_MS, held.id),
      () => run("UPDATE reserve_holds SET release_at = ? WHERE payout_id = ?", original, held.id),
      { reserve_holds_released_on_time: [held.id, "0 refused releases"] },
    );
  });

  it("a release the reserve keeps refusing (money forged out of it) goes red with its attempts; money back in, the cron releases it", async () => {
    // Last in this file: the forged movements stay (ledger_transactions_accounted rightly red).
    const merchant = await payingMerchant(100_000, { type: "percentage", percentage: 10, holding_days: 0 });
    const payout = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 10_000 }));
    await forgeReserveMovement(merchant.id, 1_000, "out");
    const dueLongAgo = Date.now() - 26 * HOUR_MS;
    await run("UPDATE reserve_holds SET release_at = ? WHERE payout_id = ?", dueLongAgo, payout.id);
    expect(await releaseDueReserveHolds(env, Date.now())).toMatchObject({ refused: 1 });
    let failed = failing(await invariantsAfterFullPass());
    expect(Object.keys(failed).sort()).toEqual(["ledger_transactions_accounted", "reserve_balances_equal_holds", "reserve_holds_released_on_time"]);
    expect(failed.reserve_holds_released_on_time).toContain(`${payout.id} (due ${new Date(dueLongAgo).toISOString()}, 1 refused releases)`);
    expect(failed.reserve_balances_equal_holds).toContain(`${reserveBa(merchant.id)} (merchant ${merchant.id}): balance 0 ≠ held holds 1000 + transfers in 0 = 1000 (difference -1000)`);

    // The money back in the reserve: the next attempt releases the hold; only the forgeries stay red.
    await forgeReserveMovement(merchant.id, 1_000, "in");
    expect(await releaseDueReserveHolds(env, Date.now() + limits.reserve_release_backoff_max_ms + 1)).toMatchObject({ released: 1 });
    expect(await holdOf(payout.id)).toMatchObject({ status: "released" });
    failed = failing(await invariantsAfterFullPass());
    expect(Object.keys(failed)).toEqual(["ledger_transactions_accounted"]);
  });
});
