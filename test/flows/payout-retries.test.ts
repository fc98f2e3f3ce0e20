/**
 * A payout's Idempotency-Key across failures and time (API §1, issue 8 items 1 and 5): a key
 * that started keeps its request's fingerprint through a 5xx, a refusal by validation is not
 * recorded, and a key reused after its retention is a new payout that never reaches the old one.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { armFault, disarmFaults } from "../../src/faults";
import { limits } from "../../src/limits";
import { api, bearer, createCustomer, createMerchant, json, operatorHeaders, randomCbu } from "../helpers";
import { balanceOf, expectInvariants, fund, fundedCustomer, getPayout, merchantBalance, postPayout, runAccountAlarm, settle, uniqueId } from "../money";

afterEach(() => disarmFaults());

type Payout = { id: string; status: string; amount: number; customer_id: string };

async function payoutsOf(apiKey: string): Promise<Payout[]> {
  const response = await api("/v1/payouts?limit=100", { headers: bearer(apiKey) });
  return ((await response.json()) as { data: Payout[] }).data;
}

/** Moves a merchant's stored key back past its retention, as if it had been used long ago. */
async function expireKey(merchantId: string, key: string): Promise<void> {
  const result = await env.DB.prepare("UPDATE idempotency_keys SET created_at = ? WHERE caller = ? AND key = ?")
    .bind(Date.now() - limits.idempotency_retention_ms - 60_000, merchantId, key)
    .run();
  expect(result.meta.changes).toBe(1);
}

async function problemCode(response: Response): Promise<string> {
  return ((await response.json()) as { code: string }).code;
}

describe("a payout retried after a 5xx", () => {
  it("with the same body finishes the same payout; then another amount is 422 and moves nothing", async () => {
    const { merchant, customer } = await fundedCustomer(10_000);
    const key = uniqueId("idem");
    armFault("payout.after_customer_reserve");
    expect((await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 }, key)).status).toBe(500);

    const retry = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 }, key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
    const payout = (await retry.json()) as Payout;
    expect(payout).toMatchObject({ status: "pending", amount: 1_000 });
    // One payout, the one the object reserved for: the retry reached the first attempt's id.
    expect((await payoutsOf(merchant.api_key)).map((listed) => listed.id)).toEqual([payout.id]);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 9_000, reserved: 1_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 9_000, reserved: 1_000 });

    const bigger = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 9_000 }, key);
    expect(bigger.status).toBe(422);
    expect(await problemCode(bigger)).toBe("idempotency_key_reused");
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 9_000, reserved: 1_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 9_000, reserved: 1_000 });
    expect(await payoutsOf(merchant.api_key)).toHaveLength(1);
    await expectInvariants();

    expect((await settle(payout.id, "completed")).status).toBe(200);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 9_000, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 9_000, reserved: 0 });
    await expectInvariants();
  });

  it("with another amount straight away is 422: the object's 1,000 is the only reservation, and the alarm finishes it", async () => {
    // Issue 8 item 1: the retry with 10,000 used to get 201 and pay 10,000 against a 1,000 reservation.
    const { merchant, customer } = await fundedCustomer(10_000);
    const key = uniqueId("idem");
    armFault("payout.after_customer_reserve");
    expect((await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 }, key)).status).toBe(500);

    const all = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 10_000 }, key);
    expect(all.status).toBe(422);
    expect(await problemCode(all)).toBe("idempotency_key_reused");
    expect(await payoutsOf(merchant.api_key)).toEqual([]);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 9_000, reserved: 1_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 10_000, reserved: 0 });

    await runAccountAlarm(customer.id); // the first attempt's payout reaches D1 without a retry
    const [payout] = await payoutsOf(merchant.api_key);
    expect(payout).toMatchObject({ amount: 1_000, status: "pending" });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 9_000, reserved: 1_000 });
    expect((await settle(payout!.id, "completed")).status).toBe(200);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 9_000, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 9_000, reserved: 0 });
    // The key still answers with that request: same body → the payout, another → 422.
    const same = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 }, key);
    expect(same.status).toBe(201);
    expect(((await same.json()) as Payout).id).toBe(payout!.id);
    expect((await postPayout(merchant.api_key, { customer_id: customer.id, amount: 10_000 }, key)).status).toBe(422);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 9_000, reserved: 0 });
    await expectInvariants();
  });
});

describe("a payout refused by validation", () => {
  it.each([
    ["a float amount (zod)", { amount: 1.5 }],
    ["a disabled currency", { currency: "USD" }],
    ["no CBU on file and none given", { destination_cbu: undefined }],
  ])("is not recorded (%s): the fixed request with the same key runs", async (_label, broken) => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key); // no CBU on file
    await fund(merchant, customer.id, 10_000);
    const destination_cbu = randomCbu();
    // The customer's own account (API §7), as the bank's account-holder lookup will report it.
    const registered = await api("/v1/sandbox/accounts", json({ cbu: destination_cbu, holder_cuit: customer.cuit, holder_name: customer.name }, operatorHeaders()));
    expect(registered.status).toBe(201);
    const key = uniqueId("idem");
    const refused = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 2_000, destination_cbu, ...broken }, key);
    expect(refused.status).toBe(400);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 10_000, reserved: 0 });

    const fixed = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 2_000, destination_cbu }, key);
    expect(fixed.status).toBe(201);
    expect(fixed.headers.get("idempotent-replayed")).toBeNull();
    expect(await fixed.json()).toMatchObject({ amount: 2_000, destination_cbu });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 8_000, reserved: 2_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 8_000, reserved: 2_000 });
    await expectInvariants();
  });
});

describe("a payout key reused after its retention", () => {
  it("is a new payout: a new id, answered for itself, and the old payout unchanged", async () => {
    const { merchant, customer } = await fundedCustomer(10_000);
    const key = uniqueId("idem");
    const body = { customer_id: customer.id, amount: 1_000 };
    const first = (await (await postPayout(merchant.api_key, body, key)).json()) as Payout;
    expect((await settle(first.id, "completed")).status).toBe(200);
    const before = await getPayout(merchant.api_key, first.id);
    expect(before.body).toMatchObject({ status: "completed" });

    await expireKey(merchant.id, key);
    const reused = await postPayout(merchant.api_key, body, key); // the very same request, two days on
    expect(reused.status).toBe(201);
    expect(reused.headers.get("idempotent-replayed")).toBeNull();
    const second = (await reused.json()) as Payout;
    expect(second.id).not.toBe(first.id);
    expect(second).toMatchObject({ status: "pending", amount: 1_000, customer_id: customer.id });
    expect(await getPayout(merchant.api_key, first.id)).toEqual(before);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 8_000, reserved: 1_000 });

    expect((await settle(second.id, "completed")).status).toBe(200);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 8_000, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 8_000, reserved: 0 });
    await expectInvariants();
  });

  it("for another customer leaves both customers' balances right once both payouts settle", async () => {
    // Issue 8 item 5: the reuse answered the old payout's id, and the new customer's reservation
    // was never settled or released.
    const { merchant, customer: alice } = await fundedCustomer(10_000);
    const bob = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    await fund(merchant, bob.id, 20_000);
    const key = uniqueId("idem");
    const first = (await (await postPayout(merchant.api_key, { customer_id: alice.id, amount: 1_000 }, key)).json()) as Payout;

    await expireKey(merchant.id, key);
    const reused = await postPayout(merchant.api_key, { customer_id: bob.id, amount: 5_000 }, key);
    expect(reused.status).toBe(201);
    const second = (await reused.json()) as Payout;
    expect(second.id).not.toBe(first.id);
    expect(second).toMatchObject({ customer_id: bob.id, amount: 5_000, status: "pending" });
    expect((await getPayout(merchant.api_key, first.id)).body).toMatchObject({ customer_id: alice.id, amount: 1_000, status: "pending" });

    expect((await settle(first.id, "completed")).status).toBe(200);
    expect((await settle(second.id, "completed")).status).toBe(200);
    expect(await balanceOf(merchant.api_key, alice.id)).toMatchObject({ available: 9_000, reserved: 0 });
    expect(await balanceOf(merchant.api_key, bob.id)).toMatchObject({ available: 15_000, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 24_000, reserved: 0 });
    await expectInvariants();
  });
});
