/**
 * A merchant payout's Idempotency-Key never replays a refusal for a payout that exists (the
 * stale-422 hole a transfer's key had, test/transfers/stale-refusal.test.ts). Driven step by
 * step: attempt A claims the key and stalls before its batch; retry B takes the claim over (same
 * payout id), finds the balance short and stores 422; money arrives; A's batch runs. Before,
 * A's batch wrote a pending payout (and its withholding) while the key kept replaying B's 422.
 * Now the payout row is written only while the key is in flight, every other statement of the
 * batch reads that row, and the batch stores the 201 with the payout.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { derivedId } from "../../src/crypto";
import { armFault, disarmFaults } from "../../src/faults";
import { createMerchantPayout } from "../../src/payouts/create-merchant-payout";
import { expectInvariants, getPayout, merchantBalance } from "../money";
import { keyRecord, stalledClaim } from "../stalled-claim";
import { fundMerchant, payingMerchant, postMerchantPayout, reserveBalance } from "./helpers";

afterEach(() => disarmFaults());

const path = "/v1/merchant/payouts";

async function rowsFor(payoutId: string) {
  const count = async (sql: string) => (await env.DB.prepare(sql).bind(payoutId).first<{ n: number }>())!.n;
  return {
    payouts: await count("SELECT COUNT(*) AS n FROM payouts WHERE id = ?"),
    ledger: await count("SELECT COUNT(*) AS n FROM ledger_transactions WHERE ledgerable_id = ?"),
    holds: await count("SELECT COUNT(*) AS n FROM reserve_holds WHERE payout_id = ?"),
    events: await count("SELECT COUNT(*) AS n FROM events WHERE object_id = ?"),
  };
}

const policies = {
  percentage: { type: "percentage", percentage: 10, holding_days: 1 },
  fixed: { type: "fixed", amount: 300, holding_days: 1 },
};

describe("a merchant payout's stored refusal agrees with what exists", () => {
  for (const [name, policy] of Object.entries(policies)) {
    it(`a 422 stored by a taken-over retry before the stalled attempt's batch: that batch moves nothing, the key keeps replaying the 422 (${name} reserve policy)`, async () => {
      const merchant = await payingMerchant(500, policy);
      const body = { amount: 1_000 };
      const claim = await stalledClaim(merchant.id, path, body);
      const payoutId = await derivedId("po", `${merchant.id}:${claim.key}:${claim.claim_id}`);

      // Retry B takes the claim over and is refused: the key completes with its 422.
      const refused = await postMerchantPayout(merchant.api_key, body, claim.key);
      expect(refused.status).toBe(422);
      const refusal = await refused.text();
      await fundMerchant(merchant, 1_000); // now the balance would cover it

      // A resumes with its batch, as the route runs it; then again (its own retry), armed to crash after it.
      // (Outcomes checked last: what exists is the point.)
      const outcomes = [await createMerchantPayout(env, merchant.id, claim, { amount: 1_000, currency: "ARS" })];
      armFault("merchant_payout.after_batch");
      outcomes.push(await createMerchantPayout(env, merchant.id, claim, { amount: 1_000, currency: "ARS" }).catch((error: unknown) => error as never));

      // No payout, no ledger transaction (net or withholding), no hold, no event; no money moved.
      expect(await rowsFor(payoutId)).toEqual({ payouts: 0, ledger: 0, holds: 0, events: 0 });
      expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 1_500, reserved: 0 });
      expect(await reserveBalance(merchant.id)).toEqual({ available: 0, reserved: 0 });
      expect(await keyRecord(claim)).toMatchObject({ state: "completed", response_status: 422, response_body: refusal });
      const replay = await postMerchantPayout(merchant.api_key, body, claim.key);
      expect(replay.status).toBe(422);
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(await replay.text()).toBe(refusal);
      // Another body under the key is still idempotency_key_reused, and moves nothing.
      const reused = await postMerchantPayout(merchant.api_key, { amount: 500 }, claim.key);
      expect(((await reused.json()) as { code: string }).code).toBe("idempotency_key_reused");
      expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 1_500, reserved: 0 });
      await expectInvariants();
      expect(outcomes).toEqual([{ result: "superseded" }, { result: "superseded" }]);
    });
  }

  it("the stalled attempt's batch first, while the key is in flight: it makes the payout and stores the 201 it answers, byte for byte what a retry replays", async () => {
    const merchant = await payingMerchant(1_000, policies.percentage);
    const body = { amount: 1_000 };
    const claim = await stalledClaim(merchant.id, path, body);
    const outcome = await createMerchantPayout(env, merchant.id, claim, { amount: 1_000, currency: "ARS" });
    expect(outcome.result).toBe("created");
    if (outcome.result !== "created") return;
    expect(outcome.storedBody).not.toBeNull();
    expect(await keyRecord(claim)).toEqual({ state: "completed", response_status: 201, response_body: outcome.storedBody });
    const replay = await postMerchantPayout(merchant.api_key, body, claim.key);
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.text()).toBe(outcome.storedBody);
    // The stored answer is the payout as the API shows it (SQL's json_object = payoutView).
    expect(JSON.parse(outcome.storedBody!)).toEqual((await getPayout(merchant.api_key, outcome.payout.id)).body);
    expect(JSON.parse(outcome.storedBody!)).toMatchObject({ status: "pending", amount: 1_000, withheld_amount: 100, net_amount: 900 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 0, reserved: 900 });
    await expectInvariants();
  });
});

describe("a merchant payout's answer is the one its key stores", () => {
  it("through the API: the first answer, a replay and a read agree to the byte (a payout withheld whole, completed at once, too)", async () => {
    for (const [policy, status] of [[policies.percentage, "pending"], [{ type: "fixed", amount: 5_000, holding_days: 1 }, "completed"]] as const) {
      const merchant = await payingMerchant(2_000, policy);
      const key = `k-${crypto.randomUUID()}`;
      const first = await postMerchantPayout(merchant.api_key, { amount: 1_000 }, key);
      expect(first.status).toBe(201);
      const text = await first.text();
      const replay = await postMerchantPayout(merchant.api_key, { amount: 1_000 }, key);
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      expect(await replay.text()).toBe(text);
      const payout = JSON.parse(text) as { id: string; status: string };
      expect(payout.status).toBe(status);
      expect((await getPayout(merchant.api_key, payout.id)).body).toEqual(payout);
    }
    await expectInvariants();
  });

  it("a crash right after the batch: the key already holds the 201, so the retry replays it (the repair job queues the payout)", async () => {
    const merchant = await payingMerchant(2_000, policies.percentage);
    const key = `k-${crypto.randomUUID()}`;
    armFault("merchant_payout.after_batch");
    expect((await postMerchantPayout(merchant.api_key, { amount: 1_000 }, key)).status).toBe(500);
    const retry = await postMerchantPayout(merchant.api_key, { amount: 1_000 }, key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    const payout = (await retry.json()) as { id: string };
    expect((await getPayout(merchant.api_key, payout.id)).body).toEqual(payout);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 1_000, reserved: 900 });
    await expectInvariants();
  });
});
