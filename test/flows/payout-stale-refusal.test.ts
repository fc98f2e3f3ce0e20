/**
 * A customer payout's Idempotency-Key never replays a refusal for a payout that exists (the
 * stale-422 hole a transfer's key had). Driven step by step: attempt A claims the key and stalls
 * before reserving; retry B takes the claim over (same payout id), finds the customer short and
 * stores 422; money arrives; A resumes: the customer's object reserves, D1 is written. Before,
 * A made a pending payout while the key kept replaying B's 422. Now the projection carries the
 * claim, D1 writes the payout only while the key is in flight (else it records it rejected,
 * 'superseded', in the same batch), and the reservation is released by the rejection's path.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import type { IdempotencyClaim } from "../../src/context";
import { derivedId } from "../../src/crypto";
import { armFault, disarmFaults, InjectedFault } from "../../src/faults";
import { createPayout } from "../../src/payouts/create-payout";
import type { TestMerchant } from "../helpers";
import { expectInvariants, fund, fundedCustomer, getPayout, merchantBalance, objectBalance, postPayout, runAccountAlarm } from "../money";
import { keyRecord, stalledClaim } from "../stalled-claim";

afterEach(() => disarmFaults());

/** A's own run of the route's work, under its stalled claim. */
function attemptA(merchant: TestMerchant, claim: IdempotencyClaim, customerId: string) {
  return createPayout(env, merchant.id, claim, { customer_id: customerId, amount: 1_000, currency: "ARS", destination_cbu: null, description: null });
}

async function payoutRow(payoutId: string) {
  return env.DB.prepare("SELECT status, failure_reason FROM payouts WHERE id = ?").bind(payoutId).first<{ status: string; failure_reason: string | null }>();
}

async function ledgerOf(payoutId: string): Promise<number> {
  return (await env.DB.prepare("SELECT COUNT(*) AS n FROM ledger_transactions WHERE ledgerable_id = ?").bind(payoutId).first<{ n: number }>())!.n;
}

/** Nothing of the payout anywhere: rejected in D1 (superseded), no ledger, both balances whole, the key's 422 replayed as stored. */
async function expectNothingMoved(merchant: TestMerchant, customerId: string, claim: IdempotencyClaim, payoutId: string, refusal: string) {
  expect(await payoutRow(payoutId)).toEqual({ status: "rejected", failure_reason: "superseded" });
  expect(await ledgerOf(payoutId)).toBe(0);
  expect(await objectBalance(customerId)).toEqual({ available: 1_500, reserved: 0 });
  expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 1_500, reserved: 0 });
  expect(await keyRecord(claim)).toMatchObject({ state: "completed", response_status: 422, response_body: refusal });
  const replay = await postPayout(merchant.api_key, { customer_id: customerId, amount: 1_000 }, claim.key);
  expect(replay.status).toBe(422);
  expect(replay.headers.get("idempotent-replayed")).toBe("true");
  expect(await replay.text()).toBe(refusal);
  expect((await getPayout(merchant.api_key, payoutId)).status).toBe(404); // a rejected payout is never shown
}

/** B refuses (the customer is short) and stores 422; then the money arrives. Returns the stored refusal. */
async function refusedThenFunded(merchant: TestMerchant, customerId: string, claim: IdempotencyClaim): Promise<string> {
  const refused = await postPayout(merchant.api_key, { customer_id: customerId, amount: 1_000 }, claim.key);
  expect(refused.status).toBe(422);
  const refusal = await refused.text();
  await fund(merchant, customerId, 1_000);
  return refusal;
}

async function setUp() {
  const { merchant, customer } = await fundedCustomer(500);
  const claim = await stalledClaim(merchant.id, "/v1/payouts", { customer_id: customer.id, amount: 1_000 });
  const payoutId = await derivedId("po", `${merchant.id}:${claim.key}:${claim.claim_id}`);
  return { merchant, customer, claim, payoutId };
}

describe("a customer payout's stored refusal agrees with what exists", () => {
  it("a 422 stored by a taken-over retry before the stalled attempt reserved: the attempt moves nothing, its reservation is released once, the key keeps replaying the 422", async () => {
    const { merchant, customer, claim, payoutId } = await setUp();
    const refusal = await refusedThenFunded(merchant, customer.id, claim);
    const outcomes: unknown[] = [await attemptA(merchant, claim, customer.id)];
    await expectNothingMoved(merchant, customer.id, claim, payoutId, refusal);
    // A again (its own retry: the reservation replays, released) and the object's alarm: still nothing, nothing released twice.
    outcomes.push(await attemptA(merchant, claim, customer.id));
    await runAccountAlarm(customer.id);
    await expectNothingMoved(merchant, customer.id, claim, payoutId, refusal);
    await expectInvariants();
    expect(outcomes).toEqual([{ superseded: true }, { superseded: true }]);
  });

  it("a crash between D1's rejection and the release: the object's alarm releases it, once", async () => {
    const { merchant, customer, claim, payoutId } = await setUp();
    const refusal = await refusedThenFunded(merchant, customer.id, claim);
    armFault("payout.after_rejection");
    await expect(attemptA(merchant, claim, customer.id)).rejects.toBeInstanceOf(InjectedFault);
    expect(await objectBalance(customer.id)).toEqual({ available: 500, reserved: 1_000 }); // still reserved, for now
    await runAccountAlarm(customer.id);
    await runAccountAlarm(customer.id);
    await expectNothingMoved(merchant, customer.id, claim, payoutId, refusal);
    expect(await attemptA(merchant, claim, customer.id)).toEqual({ superseded: true });
    await expectNothingMoved(merchant, customer.id, claim, payoutId, refusal);
    await expectInvariants();
  });

  it("a crash after the reservation, before D1: the object's alarm replays the projection, which is guarded by the claim too: no payout, released", async () => {
    const { merchant, customer, claim, payoutId } = await setUp();
    const refusal = await refusedThenFunded(merchant, customer.id, claim);
    armFault("payout.after_customer_reserve");
    await expect(attemptA(merchant, claim, customer.id)).rejects.toBeInstanceOf(InjectedFault);
    expect(await payoutRow(payoutId)).toBeNull();
    await runAccountAlarm(customer.id);
    await expectNothingMoved(merchant, customer.id, claim, payoutId, refusal);
    await expectInvariants();
  });

  it("the stalled attempt first, while the key is in flight: it makes the payout and stores its 201, which the retry replays", async () => {
    const { merchant, customer, claim, payoutId } = await setUp();
    await fund(merchant, customer.id, 1_000);
    const created = await attemptA(merchant, claim, customer.id);
    expect(created).toMatchObject({ stored: { status: 201 } });
    const stored = "stored" in created && created.stored ? created.stored.body : "";
    expect(JSON.parse(stored)).toMatchObject({ id: payoutId, status: "pending" });
    expect(await keyRecord(claim)).toEqual({ state: "completed", response_status: 201, response_body: stored });
    const replay = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 }, claim.key);
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(((await replay.json()) as { id: string }).id).toBe(payoutId);
    expect(await objectBalance(customer.id)).toEqual({ available: 500, reserved: 1_000 });
    await expectInvariants();
  });

  // Every order of the three steps, each driven to completion before the next.
  const steps = ["retry", "money", "attempt"] as const;
  const orders = steps.flatMap((a) => steps.flatMap((b) => steps.filter((c) => c !== a && c !== b && a !== b).map((c) => [a, b, c])));
  for (const order of orders) {
    it(`retry, money and the stalled attempt in the order ${order.join(", ")}: the key's answer matches the payouts that exist`, async () => {
      const { merchant, customer, claim, payoutId } = await setUp();
      const run = {
        retry: async () => void (await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 }, claim.key)),
        money: async () => void (await fund(merchant, customer.id, 1_000)),
        attempt: async () => void (await attemptA(merchant, claim, customer.id).catch(() => null)), // a refusal throws: the route's 422
      };
      for (const step of order) await run[step]();
      await runAccountAlarm(customer.id);
      const final = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 }, claim.key);
      const live = (await payoutRow(payoutId))?.status === "pending";
      expect(final.status).toBe(live ? 201 : 422);
      expect(await objectBalance(customer.id)).toEqual(live ? { available: 500, reserved: 1_000 } : { available: 1_500, reserved: 0 });
      expect(await merchantBalance(merchant.api_key)).toMatchObject(live ? { available: 500, reserved: 1_000 } : { available: 1_500, reserved: 0 });
      await expectInvariants();
    });
  }
});
