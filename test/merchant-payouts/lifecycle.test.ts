/**
 * A merchant payout's life through the sandbox bank (API §12): the merchant's own balance
 * account pays `amount`; the reserve policy's share goes to the reserve at once; the bank is
 * sent the rest; completion posts it, a permanent failure or a cancel returns the whole amount
 * to the balance account: the net, and the withholding out of the reserve (returns.test.ts).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bearer, api, createMerchant, randomCbu } from "../helpers";
import { bankAdapter } from "../../src/bank/adapter";
import { loadConfig } from "../../src/env";
import { drainPayoutQueue, expectInvariants, getPayout, merchantBalance, reconcile, settle, today, uniqueId } from "../money";
import { createdPayout, eventsOfType, holdOf, patchMerchant, payingMerchant, postMerchantPayout, reserveBalance, fundMerchant } from "./helpers";

/** What the sandbox bank paid for a payout, from its statement of today. */
async function bankAmountOf(payoutId: string): Promise<number> {
  const page = await bankAdapter(env, loadConfig(env)).statement(today(), null, 1_000);
  return page.lines.find((line) => line.payout_id === payoutId)?.amount ?? -1;
}

describe("POST /v1/merchant/payouts", () => {
  it("without a policy: the whole amount goes to the payout CBU, listed with the merchant's payouts; completed by the bank", async () => {
    const merchant = await payingMerchant(10_000);
    const payout = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 4_000 }));
    expect(payout).toMatchObject({ status: "pending", amount: 4_000, withheld_amount: 0, net_amount: 4_000, customer_id: null, merchant_id: merchant.id, destination_cbu: merchant.payout_cbu });
    expect(payout.id).toMatch(/^po_/);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 6_000, reserved: 4_000 });
    const list = (await (await api("/v1/payouts", { headers: bearer(merchant.api_key) })).json()) as { data: { id: string }[] };
    expect(list.data.map((row) => row.id)).toContain(payout.id);
    expect(await holdOf(payout.id)).toBeNull();

    await drainPayoutQueue([payout.id]);
    expect((await getPayout(merchant.api_key, payout.id)).body.status).toBe("processing");
    expect((await settle(payout.id, "completed")).status).toBe(200);
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "completed", amount: 4_000, net_amount: 4_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 6_000, reserved: 0 });
    expect(await eventsOfType(merchant.id, "payout.completed")).toHaveLength(1);
    await expectInvariants();
  });

  it("percentage: withholds floor(amount × pct) into the reserve at once, sends the bank the net; completion leaves the reserve alone", async () => {
    const merchant = await payingMerchant(10_000, { type: "percentage", percentage: 12.5, holding_days: 30 });
    const payout = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 999 }));
    // floor(999 × 0.125) = 124
    expect(payout).toMatchObject({ amount: 999, withheld_amount: 124, net_amount: 875, status: "pending" });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 10_000 - 999, reserved: 875 });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 124, reserved: 0 });
    const hold = await holdOf(payout.id);
    expect(hold).toMatchObject({ status: "held", amount: 124 });
    const created = await env.DB.prepare("SELECT created_at FROM payouts WHERE id = ?").bind(payout.id).first<{ created_at: number }>();
    expect(hold!.release_at).toBe(created!.created_at + 30 * 86_400_000);

    await drainPayoutQueue([payout.id]);
    expect((await settle(payout.id, "completed")).status).toBe(200);
    expect(await bankAmountOf(payout.id)).toBe(875);
    // Reconciliation compares the bank's debit with the net, not the amount.
    const { report } = await reconcile(today());
    expect(report.discrepancies.filter((found) => found.record_id === payout.id)).toEqual([]);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 10_000 - 999, reserved: 0 });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 124, reserved: 0 });
    const [event] = await eventsOfType(merchant.id, "payout.completed");
    expect(JSON.parse(event!.data).object).toEqual((await getPayout(merchant.api_key, payout.id)).body);
    await expectInvariants();
  });

  it("a permanent failure returns the net and the withholding to the balance account (API §12: the same lifecycle as §7)", async () => {
    const merchant = await payingMerchant(10_000, { type: "percentage", percentage: 10, holding_days: 5 });
    const payout = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 5_000 }));
    expect(payout.withheld_amount).toBe(500);
    await drainPayoutQueue([payout.id]);
    expect((await settle(payout.id, "failed", true)).status).toBe(200);
    expect((await getPayout(merchant.api_key, payout.id)).body.status).toBe("failed");
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 10_000, reserved: 0 });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 0, reserved: 0 });
    expect(await holdOf(payout.id)).toMatchObject({ status: "voided", amount: 500 });
    expect(await eventsOfType(merchant.id, "payout.failed")).toHaveLength(1);
    await expectInvariants();
  });

  it("cancel while pending returns the net and the withholding; canceling again is a replay", async () => {
    const merchant = await payingMerchant(10_000, { type: "percentage", percentage: 1, holding_days: 0 });
    const payout = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 1_000 }));
    expect(payout.withheld_amount).toBe(10);
    const canceled = await api(`/v1/payouts/${payout.id}/cancel`, { method: "POST", headers: bearer(merchant.api_key) });
    expect(canceled.status).toBe(200);
    expect(await canceled.json()).toMatchObject({ status: "canceled", withheld_amount: 10, net_amount: 990 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 10_000, reserved: 0 });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 0, reserved: 0 });
    expect(await holdOf(payout.id)).toMatchObject({ status: "voided", amount: 10 });
    const again = await api(`/v1/payouts/${payout.id}/cancel`, { method: "POST", headers: bearer(merchant.api_key) });
    expect(again.status).toBe(200); // canceling twice is a replay (finishPayout)
    // The queue finds it canceled and sends nothing to the bank.
    await drainPayoutQueue([payout.id]);
    expect((await getPayout(merchant.api_key, payout.id)).body.status).toBe("canceled");
    await expectInvariants();
  });

  it("insufficient funds: 422 and nothing moves, the withholding included", async () => {
    const merchant = await payingMerchant(1_000, { type: "percentage", percentage: 50, holding_days: 1 });
    const response = await postMerchantPayout(merchant.api_key, { amount: 1_001 });
    expect(response.status).toBe(422);
    expect(((await response.json()) as { code: string }).code).toBe("insufficient_funds");
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 1_000, reserved: 0 });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 0, reserved: 0 });
    const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM payouts WHERE merchant_id = ?").bind(merchant.id).first<{ n: number }>();
    expect(rows!.n).toBe(0);
    // Exactly the balance is fine.
    expect((await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 1_000 }))).withheld_amount).toBe(500);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 0, reserved: 500 });
    await expectInvariants();
  });

  it("no payout_cbu: 422 invalid_destination naming payout_cbu, nothing moves; another merchant's payout is 404", async () => {
    const merchant = await createMerchant();
    await fundMerchant(merchant, 1_000);
    const response = await postMerchantPayout(merchant.api_key, { amount: 100 });
    expect(response.status).toBe(422);
    const problem = (await response.json()) as { code: string; errors: { path: string }[] };
    expect(problem.code).toBe("invalid_destination");
    expect(problem.errors[0]!.path).toBe("payout_cbu");
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 1_000, reserved: 0 });

    const other = await payingMerchant(1_000);
    const payout = await createdPayout(await postMerchantPayout(other.api_key, { amount: 100 }));
    expect((await getPayout(merchant.api_key, payout.id)).status).toBe(404);
    // A payout_cbu set later is used by later payouts; one already created keeps its destination.
    const cbu = randomCbu();
    expect((await patchMerchant(other.id, { payout_cbu: cbu })).status).toBe(200);
    expect((await getPayout(other.api_key, payout.id)).body.destination_cbu).toBe(other.payout_cbu);
    expect((await createdPayout(await postMerchantPayout(other.api_key, { amount: 100 }))).destination_cbu).toBe(cbu);
  });

  it("validates the body: amount and currency, unknown fields, and requires an Idempotency-Key", async () => {
    const merchant = await payingMerchant(1_000);
    for (const body of [{}, { amount: 0 }, { amount: 1.5 }, { amount: "100" }, { amount: 100, customer_id: "cus_x" }, { amount: 100, currency: "usd" }]) {
      expect((await postMerchantPayout(merchant.api_key, body)).status, JSON.stringify(body)).toBe(400);
    }
    expect((await postMerchantPayout(merchant.api_key, { amount: 100, currency: "USD" })).status).toBe(400);
    expect((await postMerchantPayout(merchant.api_key, { amount: 100 }, null)).status).toBe(400);
    const operator = await api("/v1/merchant/payouts", { method: "POST", headers: { authorization: `Bearer ${env.ADMIN_API_KEY}`, "content-type": "application/json", "idempotency-key": uniqueId("k") }, body: JSON.stringify({ amount: 1 }) });
    expect(operator.status).toBe(403);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 1_000, reserved: 0 });
  });
});
