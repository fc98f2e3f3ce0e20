/**
 * Reserve policies (API §12): validation and replacement; percentage holds released by the cron
 * exactly once whatever the cron does; fixed targets reached once, with one event per policy.
 */
import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { releaseDueReserveHolds, releaseHold } from "../../src/reserves/release-holds";
import { api, createMerchant, operatorHeaders } from "../helpers";
import { drainPayoutQueue, expectInvariants, merchantBalance, settle } from "../money";
import { createdPayout, eventsOfType, holdOf, payingMerchant, postMerchantPayout, reserveBalance, setPolicy } from "./helpers";

const DAY_MS = 86_400_000;

async function tick(scheduledTime: number): Promise<void> {
  await worker.scheduled(createScheduledController({ cron: "*/5 * * * *", scheduledTime }), env, createExecutionContext());
}

async function releaseAt(payoutId: string): Promise<number> {
  return (await holdOf(payoutId))!.release_at!;
}

describe("POST /v1/merchants/{id}/reserve-policy", () => {
  it("validates each field and names it; a valid policy is stored in basis points and shown as a percentage", async () => {
    const merchant = await createMerchant();
    const refused: [Record<string, unknown>, string][] = [
      [{ type: "percentage", holding_days: 1 }, "percentage"],
      [{ type: "percentage", percentage: 0, holding_days: 1 }, "percentage"],
      [{ type: "percentage", percentage: -5, holding_days: 1 }, "percentage"],
      [{ type: "percentage", percentage: 100.01, holding_days: 1 }, "percentage"],
      [{ type: "percentage", percentage: 1.234, holding_days: 1 }, "percentage"],
      [{ type: "percentage", percentage: "10", holding_days: 1 }, "percentage"],
      [{ type: "percentage", percentage: 10, amount: 5, holding_days: 1 }, "amount"],
      [{ type: "fixed", holding_days: 1 }, "amount"],
      [{ type: "fixed", amount: 0, holding_days: 1 }, "amount"],
      [{ type: "fixed", amount: 1.5, holding_days: 1 }, "amount"],
      [{ type: "fixed", amount: 100, percentage: 5, holding_days: 1 }, "percentage"],
      [{ type: "fixed", amount: 100 }, "holding_days"],
      [{ type: "fixed", amount: 100, holding_days: -1 }, "holding_days"],
      [{ type: "fixed", amount: 100, holding_days: 3651 }, "holding_days"],
      [{ type: "fixed", amount: 100, holding_days: 1.5 }, "holding_days"],
      [{ type: "rolling", amount: 100, holding_days: 1 }, "type"],
      [{ type: "fixed", amount: 100, holding_days: 1, extra: true }, "extra"],
    ];
    for (const [body, field] of refused) {
      const response = await setPolicy(merchant.id, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      const problem = (await response.json()) as { errors?: { path: string }[] };
      expect(JSON.stringify(problem.errors), JSON.stringify(body)).toContain(field);
    }
    expect((await api(`/v1/merchants/${merchant.id}/reserve-policy`, { headers: operatorHeaders() })).status).toBe(404);

    const created = await setPolicy(merchant.id, { type: "percentage", percentage: 12.25, holding_days: 3650 });
    expect(created.status).toBe(201);
    const policy = (await created.json()) as { id: string };
    expect(policy).toMatchObject({ object: "reserve_policy", type: "percentage", percentage: 12.25, amount: null, currency: "ARS", holding_days: 3650 });
    const stored = await env.DB.prepare("SELECT percentage_bps FROM reserve_policies WHERE merchant_id = ?").bind(merchant.id).first<{ percentage_bps: number }>();
    expect(stored!.percentage_bps).toBe(1225);
    const read = await api(`/v1/merchants/${merchant.id}/reserve-policy`, { headers: operatorHeaders() });
    expect(await read.json()).toEqual(policy);
    expect((await setPolicy("mer_nope", { type: "fixed", amount: 1, holding_days: 0 })).status).toBe(404);
    // Only the operator.
    const asMerchant = await api(`/v1/merchants/${merchant.id}/reserve-policy`, { headers: { authorization: `Bearer ${merchant.api_key}` } });
    expect(asMerchant.status).toBe(403);
  });

  it("replacing a policy affects later payouts only: earlier holds keep their amounts and release dates", async () => {
    const merchant = await payingMerchant(100_000, { type: "percentage", percentage: 10, holding_days: 10 });
    const first = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 1_000 }));
    const firstRelease = await releaseAt(first.id);
    expect((await setPolicy(merchant.id, { type: "percentage", percentage: 50, holding_days: 1 })).status).toBe(201);
    const second = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 1_000 }));
    expect([first.withheld_amount, second.withheld_amount]).toEqual([100, 500]);
    expect(await releaseAt(first.id)).toBe(firstRelease);
    expect(await reserveBalance(merchant.id)).toEqual({ available: 600, reserved: 0 });
    await expectInvariants();
  });
});

describe("releases (the cron)", () => {
  it("releases a hold after holding_days exactly once: early, repeated, concurrent and late ticks", async () => {
    const merchant = await payingMerchant(10_000, { type: "percentage", percentage: 20, holding_days: 2 });
    const payout = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 5_000 }));
    await drainPayoutQueue([payout.id]);
    expect((await settle(payout.id, "completed")).status).toBe(200);
    const due = await releaseAt(payout.id);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 5_000 });

    await tick(due - 1); // a day early: nothing
    expect(await holdOf(payout.id)).toMatchObject({ status: "held" });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 1_000, reserved: 0 });

    // Concurrent ticks at and after the due time, then a late one days later.
    await Promise.all([tick(due), tick(due + 1), releaseDueReserveHolds(env, due + 5)]);
    await tick(due + 7 * DAY_MS);
    expect(await holdOf(payout.id)).toMatchObject({ status: "released" });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 0, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 6_000, reserved: 0 });
    const entries = await env.DB.prepare("SELECT COUNT(*) AS n FROM ledger_entries WHERE transaction_id = ?").bind(`lt_release_${payout.id}`).first<{ n: number }>();
    expect(entries!.n).toBe(2);
    // A release of a hold already released (a tick that read it before another released it) moves nothing.
    expect(await releaseHold(env.DB, { payout_id: payout.id, merchant_id: merchant.id, amount: 1_000, currency: "ARS" }, due + 8 * DAY_MS)).toBe(false);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 6_000 });
    await expectInvariants();
  });
});

describe("fixed reserve", () => {
  it("withholds until the reserve holds the target, whole payouts included; the threshold event once per policy", async () => {
    const merchant = await payingMerchant(100_000, { type: "fixed", amount: 1_500, holding_days: 30 });
    const first = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 1_000 }));
    expect(first).toMatchObject({ withheld_amount: 1_000, net_amount: 0, status: "completed" }); // nothing for the bank
    expect(await holdOf(first.id)).toMatchObject({ status: "held", amount: 1_000, release_at: null });
    expect(await eventsOfType(merchant.id, "reserve_account.threshold_reached")).toHaveLength(0);
    expect(await eventsOfType(merchant.id, "payout.completed")).toHaveLength(1);

    const second = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 2_000 }));
    expect(second).toMatchObject({ withheld_amount: 500, net_amount: 1_500, status: "pending" });
    const third = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 2_000 }));
    expect(third).toMatchObject({ withheld_amount: 0, net_amount: 2_000 });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 1_500, reserved: 0 });
    const events = await eventsOfType(merchant.id, "reserve_account.threshold_reached");
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]!.data).object).toMatchObject({ id: `ba_r${merchant.id.slice(4)}_ars`, kind: "reserve", owner_id: merchant.id, available: 1_500, currency: "ARS" });
    const policy = (await (await api(`/v1/merchants/${merchant.id}/reserve-policy`, { headers: operatorHeaders() })).json()) as { id: string; threshold_reached_at: string | null };
    expect(events[0]!.object_id).toBe(policy.id);
    expect(policy.threshold_reached_at).not.toBeNull();
    // The cron never releases a fixed reserve.
    await tick(Date.now() + 400 * DAY_MS);
    expect(await reserveBalance(merchant.id)).toEqual({ available: 1_500, reserved: 0 });

    // A new policy version with a higher target: withheld again, and its own event once reached.
    expect((await setPolicy(merchant.id, { type: "fixed", amount: 1_600, holding_days: 0 })).status).toBe(201);
    const fourth = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 1_000 }));
    expect(fourth.withheld_amount).toBe(100);
    await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 1_000 }));
    expect(await eventsOfType(merchant.id, "reserve_account.threshold_reached")).toHaveLength(2);
    await expectInvariants();
  });

  it("concurrent payouts never withhold past the target together (computed inside each batch)", async () => {
    const merchant = await payingMerchant(1_000_000, { type: "fixed", amount: 2_500, holding_days: 0 });
    const created = await Promise.all(Array.from({ length: 12 }, () => postMerchantPayout(merchant.api_key, { amount: 1_000 }).then(createdPayout)));
    const withheld = created.map((payout) => payout.withheld_amount);
    expect(withheld.reduce((sum, value) => sum + value, 0)).toBe(2_500);
    expect(withheld.filter((value) => value > 0).sort()).toEqual([1_000, 1_000, 500].sort());
    expect(await reserveBalance(merchant.id)).toEqual({ available: 2_500, reserved: 0 });
    expect(await eventsOfType(merchant.id, "reserve_account.threshold_reached")).toHaveLength(1);
    await expectInvariants();
  });
});
