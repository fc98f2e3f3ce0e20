/**
 * Sweep runs (API §12): the cron moves each sweep's excess at most once per Buenos Aires day,
 * whatever the cron does, and reports each run by exactly one event.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { armFault, disarmFaults } from "../../src/faults";
import { runSweeps } from "../../src/sweeps/run-sweeps";
import { sweepLimits } from "../../src/sweeps/limits";
import { executeTransfer } from "../../src/transfers/execute-transfer";
import { transferView, type TransferRow } from "../../src/transfers/transfer-row";
import { api, bearer, createMerchant, operatorHeaders } from "../helpers";
import { expectInvariants, fund, fundedCustomer, postPayout } from "../money";
import { available, buenosAires, createSweep, getSweep, merchantBa, onlySweep, platformBa, postSweep, reserveBa, runsOf, sweepBody, sweepEvents, tick, type SweepResponse } from "./sweep-helpers";

afterEach(() => disarmFaults());

const minute = 60_000;

/** A merchant whose balance account holds `amount`, and a sweep on it (target: the platform unless said). */
async function sweptMerchant(amount: number, overrides: Parameters<typeof createSweep>[2] = {}) {
  const { merchant, customer } = await fundedCustomer(amount);
  const source = merchantBa(merchant.id);
  const sweep = await createSweep(merchant.api_key, source, overrides);
  return { merchant, customer, source, sweep };
}

describe("when a sweep runs", () => {
  it("moves the excess over trigger_amount once at its Buenos Aires time, and nothing more that day however often the cron ticks", async () => {
    const { merchant, source, sweep } = await sweptMerchant(30_000, { trigger_amount: 10_000 });
    const target = await available(platformBa);
    expect(await runSweeps(env, buenosAires("2027-02-01T22:00"))).toMatchObject({ completed: expect.any(Number) });
    expect(await available(source)).toBe(10_000);
    expect(await available(platformBa)).toBe(target + 20_000);
    for (const local of ["2027-02-01T22:05", "2027-02-01T23:55", "2027-02-02T00:00", "2027-02-02T21:59"]) await runSweeps(env, buenosAires(local));
    expect(await available(source)).toBe(10_000);
    expect(await runsOf(sweep.id)).toEqual([expect.objectContaining({ business_day: "2027-02-01", status: "completed", amount: 20_000, transfer_id: `tr_sweep_${sweep.id.slice(3)}_20270201` })]);

    const events = await sweepEvents(sweep.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: "balance_account.sweep.completed", merchant_id: merchant.id });
    const shown = await getSweep(bearer(merchant.api_key), source, sweep.id);
    expect(events[0]!.data.object).toEqual(shown); // the sweep as GET shows it, this run as last_run
    expect(shown.last_run).toMatchObject({ business_day: "2027-02-01", status: "completed", amount: 20_000, failure_reason: null });
    expect(events[0]!.data.transfer).toMatchObject({
      id: shown.last_run!.transfer_id,
      kind: "sweep",
      from_balance_account: source,
      to_balance_account: platformBa,
      amount: 20_000,
      currency: "ARS",
      metadata: { sweep_id: sweep.id, sweep_run_id: shown.last_run!.id, sweep_type: "push", business_day: "2027-02-01", initiated_by: source },
    });
    // …exactly as GET /v1/transfers/{id} shows it.
    const transfer = await env.DB.prepare("SELECT * FROM transfers WHERE id = ?").bind(shown.last_run!.transfer_id).first<TransferRow>();
    expect(events[0]!.data.transfer).toEqual(transferView(transfer!));
    // The merchant sees its event.
    const listed = (await (await api("/v1/events?type=balance_account.sweep.completed&limit=100", { headers: bearer(merchant.api_key) })).json()) as { data: { id: string }[] };
    expect(listed.data.map((event) => event.id)).toEqual([events[0]!.id]);

    // The next day's occurrence sweeps what arrived since.
    await runSweeps(env, buenosAires("2027-02-02T22:00"));
    expect((await runsOf(sweep.id)).map((run) => [run.business_day, run.status])).toEqual([["2027-02-01", "completed"], ["2027-02-02", "skipped"]]);
    await expectInvariants();
  });

  it("the first run is the first occurrence after creation: not the same day's earlier time", async () => {
    const { source, sweep: probe, merchant } = await sweptMerchant(10_000);
    // Its time is two hours after its creation, in Buenos Aires wall-clock minutes.
    const created = Date.parse(probe.created_at as string);
    const time = new Date(created + 2 * 60 * minute - 3 * 60 * minute).toISOString().slice(11, 16);
    await api(`/v1/balance-accounts/${source}/sweeps/${probe.id}`, { method: "DELETE", headers: bearer(merchant.api_key) });
    const sweep = await createSweep(merchant.api_key, source, { schedule: { type: "daily", time } });
    const occurrence = Math.floor((created + 2 * 60 * minute) / minute) * minute;
    await runSweeps(env, occurrence - 1);
    expect(await runsOf(sweep.id)).toEqual([]);
    await runSweeps(env, occurrence);
    expect(await runsOf(sweep.id)).toEqual([expect.objectContaining({ status: "completed", amount: 10_000 })]);
  });

  it("a repeated or concurrent tick moves the money once and emits one event", async () => {
    const { source, sweep } = await sweptMerchant(40_000);
    const target = await available(platformBa);
    const at = buenosAires("2027-02-10T22:00");
    await Promise.all(Array.from({ length: 6 }, (_, index) => runSweeps(env, at + index)));
    await runSweeps(env, at + 5 * minute);
    expect(await available(source)).toBe(0);
    expect(await available(platformBa)).toBe(target + 40_000);
    expect(await runsOf(sweep.id)).toEqual([expect.objectContaining({ status: "completed", amount: 40_000 })]);
    expect((await sweepEvents(sweep.id)).map((event) => event.type)).toEqual(["balance_account.sweep.completed"]);
    await expectInvariants();
  });

  it("runs through the cron's own entry; a late tick runs the latest occurrence, after midnight too (a 23:58 sweep run at 00:00 is the day before's)", async () => {
    const { merchant, customer, source, sweep } = await sweptMerchant(12_345, { schedule: { type: "daily", time: "23:58" } });
    // No tick reached the 19th's 23:58: the 20th's 23:55 tick runs it, late.
    await tick(buenosAires("2027-02-20T23:55"));
    expect(await runsOf(sweep.id)).toEqual([expect.objectContaining({ business_day: "2027-02-19", status: "completed", amount: 12_345 })]);
    await fund(merchant, customer.id, 5_000);
    // The next tick after 23:58 is 00:00 on the 21st: it runs the 20th's occurrence.
    await tick(buenosAires("2027-02-21T00:00"));
    await tick(buenosAires("2027-02-21T00:05"));
    expect((await runsOf(sweep.id)).map((run) => [run.business_day, run.amount])).toEqual([["2027-02-19", 12_345], ["2027-02-20", 5_000]]);
    expect(await available(source)).toBe(0);
    expect(await sweepEvents(sweep.id)).toHaveLength(2);
  });

  it("an occurrence no tick reached before the next one came is not made up", async () => {
    const { merchant, customer, sweep } = await sweptMerchant(1_000);
    await runSweeps(env, buenosAires("2027-03-01T22:00"));
    await fund(merchant, customer.id, 2_000);
    await runSweeps(env, buenosAires("2027-03-04T22:30")); // the 2nd's and 3rd's occurrences were missed
    expect((await runsOf(sweep.id)).map((run) => [run.business_day, run.amount])).toEqual([["2027-03-01", 1_000], ["2027-03-04", 2_000]]);
  });

  it("a deleted sweep never runs", async () => {
    const { merchant, source, sweep } = await sweptMerchant(7_000);
    expect((await api(`/v1/balance-accounts/${source}/sweeps/${sweep.id}`, { method: "DELETE", headers: bearer(merchant.api_key) })).status).toBe(200);
    for (const local of ["2027-03-10T22:00", "2027-03-11T22:00"]) await runSweeps(env, buenosAires(local));
    expect(await runsOf(sweep.id)).toEqual([]);
    expect(await available(source)).toBe(7_000);
    expect(await sweepEvents(sweep.id)).toEqual([]);
  });

  it("nothing to move (available ≤ trigger_amount) records a skipped run: no transfer, no event, nothing moves", async () => {
    const { merchant, source, sweep } = await sweptMerchant(5_000, { trigger_amount: 5_000 });
    const empty = await createMerchant();
    const idle = await createSweep(empty.api_key, merchantBa(empty.id));
    await runSweeps(env, buenosAires("2027-03-15T22:00"));
    expect(await available(source)).toBe(5_000);
    for (const id of [sweep.id, idle.id]) {
      expect(await runsOf(id)).toEqual([expect.objectContaining({ business_day: "2027-03-15", status: "skipped", amount: 0, transfer_id: null })]);
      expect(await sweepEvents(id)).toEqual([]);
    }
    expect((await getSweep(bearer(merchant.api_key), source, sweep.id)).last_run).toMatchObject({ status: "skipped", amount: 0, transfer_id: null });
  });
});

describe("push and pull", () => {
  it("both move the money from the sweep's account to its target; initiated_by names who asked", async () => {
    const receiver = await createMerchant();
    const target = merchantBa(receiver.id);
    const push = await sweptMerchant(3_000, { sweep_type: "push", target_balance_account: target });
    const pull = await sweptMerchant(4_000, { sweep_type: "pull", target_balance_account: target });
    await runSweeps(env, buenosAires("2027-03-20T22:00"));
    expect(await available(push.source)).toBe(0);
    expect(await available(pull.source)).toBe(0);
    expect(await available(target)).toBe(7_000);
    const [pushed] = await sweepEvents(push.sweep.id);
    const [pulled] = await sweepEvents(pull.sweep.id);
    expect(pushed!.data.transfer).toMatchObject({ from_balance_account: push.source, to_balance_account: target, amount: 3_000, metadata: expect.objectContaining({ sweep_type: "push", initiated_by: push.source }) });
    expect(pulled!.data.transfer).toMatchObject({ from_balance_account: pull.source, to_balance_account: target, amount: 4_000, metadata: expect.objectContaining({ sweep_type: "pull", initiated_by: target }) });
    await expectInvariants();
  });

  it("the operator's sweep of the platform's account moves the platform's excess and reports to the platform (no merchant's event)", async () => {
    // Money in the platform's balance account: a merchant's transfer to it.
    const { merchant: payer } = await fundedCustomer(5_000);
    const order = { id: `tr_test_${Date.now()}`, kind: "transfer", from_balance_account: merchantBa(payer.id), to_balance_account: platformBa, amount: 5_000, currency: "ARS", description: null, initiated_by: payer.id };
    expect((await executeTransfer(env, order, Date.now())).result).toBe("created");
    const receiver = await createMerchant();
    const platform = await available(platformBa);
    expect(platform).toBeGreaterThanOrEqual(5_000);
    const response = await postSweep(operatorHeaders(), platformBa, sweepBody({ target_balance_account: reserveBa(receiver.id), trigger_amount: platform - 1_000 }));
    expect(response.status).toBe(201);
    const sweep = (await response.json()) as SweepResponse;
    await onlySweep(sweep.id); // no other sweep moves the platform's balance in this tick
    await runSweeps(env, buenosAires("2027-03-21T22:00"));
    expect(await available(reserveBa(receiver.id))).toBe(1_000);
    expect(await available(platformBa)).toBe(platform - 1_000);
    const events = await sweepEvents(sweep.id);
    expect(events.map((event) => [event.type, event.merchant_id])).toEqual([["balance_account.sweep.completed", null]]);
    await expectInvariants();
  });
});

describe("failures and crashes", () => {
  it("money that left between the claim and the transfer fails the run with insufficient_funds (no overdraft), once, not retried that day", async () => {
    const { merchant, customer, source, sweep } = await sweptMerchant(30_000);
    const at = buenosAires("2027-04-01T22:00");
    await onlySweep(sweep.id);
    armFault("sweep.after_claim"); // the run is claimed for 30 000; the invocation dies before the transfer
    await runSweeps(env, at);
    expect(await runsOf(sweep.id)).toEqual([expect.objectContaining({ status: "pending", amount: 30_000 })]);
    // Meanwhile a payout takes a third of it from the merchant's balance account.
    expect((await postPayout(merchant.api_key, { customer_id: customer.id, amount: 10_000 })).status).toBe(201);
    expect(await available(source)).toBe(20_000);
    await runSweeps(env, at + 5 * minute); // within the lease: the claimer may still be alive
    expect(await runsOf(sweep.id)).toEqual([expect.objectContaining({ status: "pending" })]);
    await runSweeps(env, at + sweepLimits.pending_run_lease_ms);
    expect(await runsOf(sweep.id)).toEqual([expect.objectContaining({ status: "failed", amount: 30_000, attempts: 2 })]);
    expect(await available(source)).toBe(20_000);
    const events = await sweepEvents(sweep.id);
    expect(events.map((event) => event.type)).toEqual(["balance_account.sweep.failed"]);
    expect(events[0]!.data.object.last_run).toMatchObject({ status: "failed", failure_reason: "insufficient_funds" });
    expect(events[0]!.data.transfer).toBeNull();
    await runSweeps(env, at + 2 * 60 * minute);
    expect(await runsOf(sweep.id)).toHaveLength(1);
    expect(await sweepEvents(sweep.id)).toHaveLength(1);
    await expectInvariants();
  });

  it("a crash after the transfer: a tick after the lease replays it (the money moves once) and writes the outcome and its one event", async () => {
    const { source, sweep } = await sweptMerchant(25_000);
    const target = await available(platformBa);
    const at = buenosAires("2027-04-05T22:00");
    await onlySweep(sweep.id);
    armFault("sweep.after_transfer");
    await runSweeps(env, at);
    expect(await available(source)).toBe(0);
    expect(await runsOf(sweep.id)).toEqual([expect.objectContaining({ status: "pending" })]);
    expect(await sweepEvents(sweep.id)).toEqual([]);
    await Promise.all([runSweeps(env, at + sweepLimits.pending_run_lease_ms), runSweeps(env, at + sweepLimits.pending_run_lease_ms + 1)]);
    expect(await runsOf(sweep.id)).toEqual([expect.objectContaining({ status: "completed", amount: 25_000 })]);
    expect(await available(source)).toBe(0);
    expect(await available(platformBa)).toBe(target + 25_000);
    expect((await sweepEvents(sweep.id)).map((event) => event.type)).toEqual(["balance_account.sweep.completed"]);
    await expectInvariants();
  });

  it("a crash after the claim: a tick after the lease makes the transfer with the claimed amount", async () => {
    const { source, sweep } = await sweptMerchant(8_000);
    const at = buenosAires("2027-04-08T22:00");
    await onlySweep(sweep.id);
    armFault("sweep.after_claim");
    await runSweeps(env, at);
    expect(await available(source)).toBe(8_000);
    await runSweeps(env, at + sweepLimits.pending_run_lease_ms);
    expect(await runsOf(sweep.id)).toEqual([expect.objectContaining({ status: "completed", amount: 8_000 })]);
    expect(await available(source)).toBe(0);
    expect(await sweepEvents(sweep.id)).toHaveLength(1);
  });
});
