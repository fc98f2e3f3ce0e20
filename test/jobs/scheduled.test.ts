import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { armFault, disarmFaults } from "../../src/faults";
import worker from "../../src/index";
import { dailyCron } from "../../src/jobs/scheduled";
import { api, bearer, operatorHeaders } from "../helpers";
import { balanceOf, expectInvariants, fundedCustomer, postPayout } from "../money";

async function tick(cron: string, scheduledTime: number) {
  await worker.scheduled(createScheduledController({ cron, scheduledTime }), env, createExecutionContext());
}

describe("the cron", () => {
  it("starts exactly one reconciliation of the previous Buenos Aires business day, however often the daily trigger fires", async () => {
    const at = Date.parse("2026-03-03T03:15:00Z"); // 00:15 on 3 March in Buenos Aires
    await tick(dailyCron, at);
    await tick(dailyCron, at); // a retried trigger
    const response = await api("/v1/admin/reconciliations?date=2026-03-02", { headers: operatorHeaders() });
    const runs = (await response.json()) as { data: { date: string; trigger: string; status: string }[] };
    expect(runs.data.filter((run) => run.trigger === "cron")).toEqual([expect.objectContaining({ date: "2026-03-02", status: "running" })]);
  });

  it("the five-minute trigger starts no reconciliation but repairs an interrupted payout", async () => {
    const before = await api("/v1/admin/reconciliations?limit=100", { headers: operatorHeaders() });
    const count = ((await before.json()) as { data: unknown[] }).data.length;

    const { merchant, customer } = await fundedCustomer(30_000);
    const payout = (await (await postPayout(merchant.api_key, { customer_id: customer.id, amount: 10_000 })).json()) as { id: string };
    armFault("transition.after_ledger");
    expect((await api(`/v1/payouts/${payout.id}/cancel`, { method: "POST", headers: bearer(merchant.api_key) })).status).toBe(500);
    disarmFaults();
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 20_000, reserved: 10_000 });

    await tick("*/5 * * * *", Date.now() + 2 * 60_000); // two minutes later
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 30_000, reserved: 0 });
    const after = await api("/v1/admin/reconciliations?limit=100", { headers: operatorHeaders() });
    expect(((await after.json()) as { data: unknown[] }).data.length).toBe(count);
    await expectInvariants();
  });
});
