/**
 * A fixed policy version whose amount the reserve already holds is reached at once (API §12,
 * review item 4): the POST emits reserve_account.threshold_reached in the batch that writes the
 * version, with threshold_reached_at set, exactly once per version whatever runs concurrently;
 * a payout under it then withholds nothing and emits nothing; an Idempotency-Key replay of the
 * POST replays without a second event.
 */
import { describe, expect, it } from "vitest";
import { api, json, operatorHeaders } from "../helpers";
import { expectInvariants, uniqueId } from "../money";
import { createdPayout, eventsOfType, payingMerchant, postMerchantPayout, reserveBalance, setPolicy } from "./helpers";

const THRESHOLD = "reserve_account.threshold_reached";

interface PolicyBody {
  id: string;
  type: string;
  amount: number | null;
  threshold_reached_at: string | null;
}

async function policyFrom(response: Response): Promise<PolicyBody> {
  const body = (await response.json()) as PolicyBody;
  expect(response.status, JSON.stringify(body)).toBe(201);
  return body;
}

/** A merchant whose reserve holds `held` (withheld by one payout under a fixed policy of that amount), its event emitted. */
async function merchantWithReserve(held: number) {
  const merchant = await payingMerchant(100_000, { type: "fixed", amount: held, holding_days: 0 });
  expect(await createdPayout(await postMerchantPayout(merchant.api_key, { amount: held }))).toMatchObject({ withheld_amount: held });
  expect(await reserveBalance(merchant.id)).toEqual({ available: held, reserved: 0 });
  expect(await eventsOfType(merchant.id, THRESHOLD)).toHaveLength(1);
  return merchant;
}

async function eventsFor(merchantId: string, policyId: string) {
  return (await eventsOfType(merchantId, THRESHOLD)).filter((event) => event.object_id === policyId);
}

describe("POST a fixed reserve policy the reserve already holds", () => {
  it("below or at the reserve: reached at once, one event in the same write; a later payout withholds nothing and emits nothing", async () => {
    const merchant = await merchantWithReserve(1_000);
    const lower = await policyFrom(await setPolicy(merchant.id, { type: "fixed", amount: 800, holding_days: 0 }));
    expect(lower.threshold_reached_at).not.toBeNull();
    const events = await eventsFor(merchant.id, lower.id);
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]!.data).object).toMatchObject({ id: `ba_r${merchant.id.slice(4)}_ars`, kind: "reserve", available: 1_000, currency: "ARS" });
    const shown = (await (await api(`/v1/merchants/${merchant.id}/reserve-policy`, { headers: operatorHeaders() })).json()) as PolicyBody;
    expect(shown).toMatchObject({ id: lower.id, threshold_reached_at: lower.threshold_reached_at });

    const payout = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 2_000 }));
    expect(payout.withheld_amount).toBe(0);
    expect(await eventsFor(merchant.id, lower.id)).toHaveLength(1);

    // Exactly the amount held is reached (available ≥ amount).
    const equal = await policyFrom(await setPolicy(merchant.id, { type: "fixed", amount: 1_000, holding_days: 0 }));
    expect(equal.threshold_reached_at).not.toBeNull();
    expect(await eventsFor(merchant.id, equal.id)).toHaveLength(1);
    expect(await eventsOfType(merchant.id, THRESHOLD)).toHaveLength(3); // the first version's, and one per version since
    await expectInvariants();
  });

  it("above the reserve, or a percentage policy: not reached by the POST; the payout that reaches it emits the event, once", async () => {
    const merchant = await merchantWithReserve(1_000);
    const percentage = await policyFrom(await setPolicy(merchant.id, { type: "percentage", percentage: 5, holding_days: 0 }));
    expect(percentage.threshold_reached_at).toBeNull();
    expect(await eventsFor(merchant.id, percentage.id)).toHaveLength(0);

    const higher = await policyFrom(await setPolicy(merchant.id, { type: "fixed", amount: 1_001, holding_days: 0 }));
    expect(higher.threshold_reached_at).toBeNull();
    expect(await eventsFor(merchant.id, higher.id)).toHaveLength(0);
    expect(await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 500 }))).toMatchObject({ withheld_amount: 1 });
    expect(await eventsFor(merchant.id, higher.id)).toHaveLength(1);
    await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 500 }));
    expect(await eventsFor(merchant.id, higher.id)).toHaveLength(1);
    await expectInvariants();
  });

  it("an Idempotency-Key replay replays the same version and emits no second event", async () => {
    const merchant = await merchantWithReserve(1_000);
    const key = uniqueId("idem");
    const post = () => api(`/v1/merchants/${merchant.id}/reserve-policy`, json({ type: "fixed", amount: 700, holding_days: 0 }, { ...operatorHeaders(), "idempotency-key": key }));
    const first = await policyFrom(await post());
    const replay = await post();
    expect(replay.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await policyFrom(replay)).toEqual(first);
    expect(first.threshold_reached_at).not.toBeNull();
    expect(await eventsFor(merchant.id, first.id)).toHaveLength(1);
    expect(await eventsOfType(merchant.id, THRESHOLD)).toHaveLength(2);
  });

  it("concurrent POSTs: one event per version, each version marked exactly when its event exists", async () => {
    const merchant = await merchantWithReserve(1_000);
    const versions = await Promise.all(
      [400, 500, 600, 1_000, 1_200, 2_000].map((amount) => setPolicy(merchant.id, { type: "fixed", amount, holding_days: 0 }).then(policyFrom)),
    );
    for (const version of versions) {
      const reached = (version.amount ?? Infinity) <= 1_000;
      expect(version.threshold_reached_at !== null, `${version.amount}`).toBe(reached);
      expect(await eventsFor(merchant.id, version.id), `${version.amount}`).toHaveLength(reached ? 1 : 0);
    }
    expect(await eventsOfType(merchant.id, THRESHOLD)).toHaveLength(1 + 4);
  });

  it("concurrent with payouts: the new version is reached once, by the POST or by a payout, and the reserve never passes the old target", async () => {
    // Old version: target 3_000, the reserve holds 1_000. New version: 1_500, posted while payouts run.
    const merchant = await payingMerchant(1_000_000, { type: "fixed", amount: 3_000, holding_days: 0 });
    expect(await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 1_000 }))).toMatchObject({ withheld_amount: 1_000 });
    const [version] = await Promise.all([
      setPolicy(merchant.id, { type: "fixed", amount: 1_500, holding_days: 0 }).then(policyFrom),
      ...Array.from({ length: 6 }, () => postMerchantPayout(merchant.api_key, { amount: 400 }).then(createdPayout)),
    ]);
    const reserve = (await reserveBalance(merchant.id)).available;
    expect(reserve).toBeLessThanOrEqual(3_000);
    // 6 × 400 = 2_400 of payouts: enough to reach 1_500 whichever version each ran under.
    expect(reserve).toBeGreaterThanOrEqual(1_500);
    const shown = (await (await api(`/v1/merchants/${merchant.id}/reserve-policy`, { headers: operatorHeaders() })).json()) as PolicyBody;
    expect(shown.id).toBe(version.id);
    expect(shown.threshold_reached_at).not.toBeNull();
    expect(await eventsFor(merchant.id, version.id)).toHaveLength(1);
    // After the new version is reached, nothing more is withheld.
    expect(await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 400 }))).toMatchObject({ withheld_amount: 0 });
    expect(await eventsFor(merchant.id, version.id)).toHaveLength(1);
    await expectInvariants();
  });
});
