/**
 * A merchant payout that fails permanently or is canceled gives back its whole amount (API §12:
 * "the same lifecycle as section 7"): the net (lt_<id> archived) and the withholding, out of the
 * reserve (lt_unwithhold_<id>, its hold voided), in the same batch and exactly once.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, bearer } from "../helpers";
import { drainPayoutQueue, expectInvariants, merchantBalance, sendBankEvent, settle, uniqueId } from "../money";
import { releaseDueReserveHolds } from "../../src/reserves/release-holds";
import { createdPayout, holdOf, payingMerchant, postMerchantPayout, reserveBalance } from "./helpers";

const cancel = (apiKey: string, payoutId: string) => api(`/v1/payouts/${payoutId}/cancel`, { method: "POST", headers: bearer(apiKey) });

async function ledgerTransaction(id: string) {
  return env.DB.prepare("SELECT status FROM ledger_transactions WHERE id = ?").bind(id).first<{ status: string }>();
}

describe("a failed or canceled merchant payout returns its withholding", () => {
  it("cancel under a fixed policy: the merchant gets the full amount back and the reserve its previous balance; concurrent and repeated cancels move once", async () => {
    const merchant = await payingMerchant(10_000, { type: "fixed", amount: 1_500, holding_days: 0 });
    // A first payout fills 1,000 of the target and completes: that withholding stays.
    const first = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 1_000 }));
    expect(first.withheld_amount).toBe(1_000);
    const second = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 2_000 }));
    expect(second.withheld_amount).toBe(500);
    expect(await reserveBalance(merchant.id)).toEqual({ available: 1_500, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 7_000 });

    const responses = await Promise.all([cancel(merchant.api_key, second.id), cancel(merchant.api_key, second.id), cancel(merchant.api_key, second.id)]);
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200]);
    expect((await cancel(merchant.api_key, second.id)).status).toBe(200);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 9_000, reserved: 0 });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 1_000, reserved: 0 });
    expect(await holdOf(second.id)).toMatchObject({ status: "voided", amount: 500 });
    expect(await holdOf(first.id)).toMatchObject({ status: "held", amount: 1_000 });
    expect(await ledgerTransaction(`lt_unwithhold_${second.id}`)).toEqual({ status: "posted" });
    expect(await ledgerTransaction(`lt_unwithhold_${first.id}`)).toBeNull();
    await expectInvariants();
  });

  it("a permanent failure, repeated by the bank (the same event, and another event for it), returns the withholding once", async () => {
    const merchant = await payingMerchant(10_000, { type: "percentage", percentage: 20, holding_days: 30 });
    const payout = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 5_000 }));
    expect(payout.withheld_amount).toBe(1_000);
    await drainPayoutQueue([payout.id]);
    const event = { id: uniqueId("evt"), type: "payout.failed", created_at: new Date().toISOString(), data: { payout_id: payout.id, permanent: true, reason: "closed account" } };
    expect((await sendBankEvent(event)).status).toBe(200);
    expect((await sendBankEvent(event)).status).toBe(200);
    expect((await sendBankEvent({ ...event, id: uniqueId("evt") })).status).toBe(200);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 10_000, reserved: 0 });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 0, reserved: 0 });
    expect(await holdOf(payout.id)).toMatchObject({ status: "voided" });
    // A voided hold is never released by the cron.
    expect(await releaseDueReserveHolds(env, Date.now() + 31 * 86_400_000)).toMatchObject({ refused: 0 });
    expect(await holdOf(payout.id)).toMatchObject({ status: "voided" });
    expect(await ledgerTransaction(`lt_release_${payout.id}`)).toBeNull();
    await expectInvariants();
  });

  it("a hold the cron already released moves nothing more when the payout then fails", async () => {
    const merchant = await payingMerchant(10_000, { type: "percentage", percentage: 10, holding_days: 0 });
    const payout = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 2_000 }));
    await drainPayoutQueue([payout.id]);
    await releaseDueReserveHolds(env, Date.now() + 1);
    expect(await holdOf(payout.id)).toMatchObject({ status: "released" });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 8_200, reserved: 1_800 });
    expect((await settle(payout.id, "failed", true)).status).toBe(200);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 10_000, reserved: 0 });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 0, reserved: 0 });
    expect(await holdOf(payout.id)).toMatchObject({ status: "released" });
    expect(await ledgerTransaction(`lt_unwithhold_${payout.id}`)).toBeNull();
    await expectInvariants();
  });

  it("a completed payout keeps its withholding in the reserve", async () => {
    const merchant = await payingMerchant(10_000, { type: "percentage", percentage: 10, holding_days: 30 });
    const payout = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 2_000 }));
    await drainPayoutQueue([payout.id]);
    expect((await settle(payout.id, "completed")).status).toBe(200);
    expect(await reserveBalance(merchant.id)).toEqual({ available: 200, reserved: 0 });
    expect(await holdOf(payout.id)).toMatchObject({ status: "held" });
    await expectInvariants();
  });
});
