import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, bearer, createCustomer, createMerchant, json, randomCbu } from "../helpers";
import {
  balanceOf,
  drainPayoutQueue,
  expectInvariants,
  fund,
  fundedCustomer,
  getPayout,
  merchantBalance,
  postPayout,
  sendBankEvent,
  settle,
  uniqueId,
} from "../money";

type Payout = { id: string; status: string; amount: number; destination_cbu: string; failure_reason: string | null };

describe("creating a payout", () => {
  it("reserves on the customer and the merchant, and answers 201 pending", async () => {
    const { merchant, customer } = await fundedCustomer(100_000);
    const response = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 30_000, currency: "ARS", description: "retiro" });
    expect(response.status).toBe(201);
    const payout = (await response.json()) as Payout;
    expect(payout).toMatchObject({ status: "pending", amount: 30_000, destination_cbu: customer.cbu, description: "retiro" });
    expect(payout.id).toMatch(/^po_/);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 70_000, reserved: 30_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 70_000, reserved: 30_000 });
    const seen = (await (await api(`/v1/customers/${customer.id}`, { headers: bearer(merchant.api_key) })).json()) as { last_merchant_id: string };
    expect(seen.last_merchant_id).toBe(merchant.id);
    await expectInvariants();
  });

  it("replays the same payout for the same Idempotency-Key and never reserves twice", async () => {
    const { merchant, customer } = await fundedCustomer(50_000);
    const key = uniqueId("idem");
    const body = { customer_id: customer.id, amount: 20_000, currency: "ARS" };
    const first = await postPayout(merchant.api_key, body, key);
    const second = await postPayout(merchant.api_key, body, key);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(await second.json()).toEqual(await first.json());
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 30_000, reserved: 20_000 });
  });

  it("requires an Idempotency-Key", async () => {
    const { merchant, customer } = await fundedCustomer(10_000);
    const response = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 }, null);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "invalid_request", errors: [{ path: "header.Idempotency-Key" }] });
  });

  it("refuses with 422 insufficient_funds when the customer lacks the funds, and moves nothing", async () => {
    const { merchant, customer } = await fundedCustomer(10_000);
    const response = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 10_001 });
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({ code: "insufficient_funds" });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 10_000, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 10_000, reserved: 0 });
  });

  it("refuses when the merchant lacks the funds though the customer has them (money came through another merchant)", async () => {
    const rich = await createMerchant();
    const poor = await createMerchant();
    const customer = await createCustomer(rich.api_key, { cbu: randomCbu() });
    await createCustomer(poor.api_key, { cuit: customer.cuit, name: customer.name });
    await fund(rich, customer.id, 50_000);
    const response = await postPayout(poor.api_key, { customer_id: customer.id, amount: 20_000 });
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({ code: "insufficient_funds" });
    expect(await balanceOf(rich.api_key, customer.id)).toMatchObject({ available: 50_000, reserved: 0 });
    expect(await merchantBalance(poor.api_key)).toMatchObject({ available: 0, reserved: 0 });
    const seen = (await (await api(`/v1/customers/${customer.id}`, { headers: bearer(rich.api_key) })).json()) as { last_merchant_id: string };
    expect(seen.last_merchant_id).toBe(rich.id); // a refused payout is no operation of the poor merchant
    const list = await api("/v1/payouts", { headers: bearer(poor.api_key) });
    expect(((await list.json()) as { data: unknown[] }).data).toHaveLength(0); // the rejected attempt is never shown
    await expectInvariants();
  });

  it("makes the paying merchant the customer's last_merchant_id", async () => {
    const first = await createMerchant();
    const second = await createMerchant();
    const customer = await createCustomer(first.api_key, { cbu: randomCbu() });
    await createCustomer(second.api_key, { cuit: customer.cuit, name: customer.name });
    await fund(first, customer.id, 20_000);
    const other = await createCustomer(second.api_key, { cbu: randomCbu() });
    await fund(second, other.id, 20_000); // the second merchant's balance covers a payout
    expect((await postPayout(second.api_key, { customer_id: customer.id, amount: 5_000 })).status).toBe(201);
    const seenBy = async (merchant: { api_key: string }) =>
      ((await (await api(`/v1/customers/${customer.id}`, { headers: bearer(merchant.api_key) })).json()) as { last_merchant_id: string | null }).last_merchant_id;
    expect(await seenBy(second)).toBe(second.id);
    // Which other merchant the customer uses is not the first merchant's business (API §4).
    expect(await seenBy(first)).toBeNull();
  });

  it("lets exactly 10 of 40 concurrent payouts through a balance worth 10", async () => {
    const { merchant, customer } = await fundedCustomer(10 * 2_500);
    const responses = await Promise.all(
      Array.from({ length: 40 }, () => postPayout(merchant.api_key, { customer_id: customer.id, amount: 2_500 })),
    );
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(10);
    expect(statuses.filter((status) => status === 422)).toHaveLength(30);
    expect(await balanceOf(merchant.api_key, customer.id)).toEqual(expect.objectContaining({ available: 0, reserved: 25_000 }));
    expect(await merchantBalance(merchant.api_key)).toEqual(expect.objectContaining({ available: 0, reserved: 25_000 }));
    await expectInvariants();
  });

  it("never overdraws the merchant when payouts of many customers race for its balance", async () => {
    const merchant = await createMerchant();
    const customers = await Promise.all(Array.from({ length: 4 }, () => createCustomer(merchant.api_key, { cbu: randomCbu() })));
    for (const customer of customers) await fund(merchant, customer.id, 10_000);
    // Another merchant's payouts cannot touch this one's balance; here each customer pays out
    // their whole balance twice over: only one of each pair fits.
    const responses = await Promise.all(
      customers.flatMap((customer) => [1, 2].map(() => postPayout(merchant.api_key, { customer_id: customer.id, amount: 10_000 }))),
    );
    expect(responses.filter((response) => response.status === 201)).toHaveLength(4);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 0, reserved: 40_000 });
    await expectInvariants();
  });
});

describe("a payout's life", () => {
  async function pendingPayout(amount = 40_000) {
    const { merchant, customer } = await fundedCustomer(100_000);
    const response = await postPayout(merchant.api_key, { customer_id: customer.id, amount });
    expect(response.status).toBe(201);
    return { merchant, customer, payout: (await response.json()) as Payout };
  }

  it("is submitted by the queue (processing), then completed: the reservation is consumed", async () => {
    const { merchant, customer, payout } = await pendingPayout();
    const result = await drainPayoutQueue([payout.id]);
    expect(result.explicitAcks).toHaveLength(1);
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "processing" });
    const reservedAt = ((await merchantBalance(merchant.api_key)) as unknown as { updated_at: string }).updated_at;
    await new Promise((resolve) => setTimeout(resolve, 5));
    const settled = await settle(payout.id, "completed");
    expect(settled.status).toBe(200);
    expect(settled.body.delivery.status).toBe(200);
    const done = (await getPayout(merchant.api_key, payout.id)).body;
    expect(done).toMatchObject({ status: "completed" });
    expect(done.bank_transaction_id).toMatch(/^bt_/);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 60_000, reserved: 0 });
    const completedBalance = (await merchantBalance(merchant.api_key)) as unknown as { available: number; reserved: number; updated_at: string };
    expect(completedBalance).toMatchObject({ available: 60_000, reserved: 0 });
    expect(Date.parse(completedBalance.updated_at)).toBeGreaterThan(Date.parse(reservedAt)); // the balance changed when the reservation was consumed
    await expectInvariants();
  });

  it("returns the funds to both balances when the bank fails it permanently", async () => {
    const { merchant, customer, payout } = await pendingPayout();
    await drainPayoutQueue([payout.id]);
    expect((await settle(payout.id, "failed", true)).status).toBe(200);
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "failed" });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 100_000, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 100_000, reserved: 0 });
    await expectInvariants();
  });

  it("retries a non-permanent failure: resubmitted, then completed once", async () => {
    const { merchant, customer, payout } = await pendingPayout();
    await drainPayoutQueue([payout.id]);
    expect((await settle(payout.id, "failed", false)).status).toBe(200);
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "processing" });
    await drainPayoutQueue([payout.id], 2);
    expect((await settle(payout.id, "completed")).status).toBe(200);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 60_000, reserved: 0 });
    await expectInvariants();
  });

  it("retries the bank's transient submission errors through the queue, and fails a permanent rejection", async () => {
    const bank = env.SANDBOX_BANK.get(env.SANDBOX_BANK.idFromName("sandbox"));
    const { merchant, customer, payout } = await pendingPayout();
    await bank.planSubmissionFailures("transient", 1);
    const retried = await drainPayoutQueue([payout.id]);
    expect(retried.retryMessages).toHaveLength(1);
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "processing" });
    await bank.planSubmissionFailures("permanent", 1);
    const rejected = await drainPayoutQueue([payout.id], 2);
    expect(rejected.explicitAcks).toHaveLength(1);
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "failed" });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 100_000, reserved: 0 });
    await expectInvariants();
  });

  it("cancels while pending, returning the funds; a second cancel changes nothing", async () => {
    const { merchant, customer, payout } = await pendingPayout();
    const canceled = await api(`/v1/payouts/${payout.id}/cancel`, { method: "POST", headers: bearer(merchant.api_key) });
    expect(canceled.status).toBe(200);
    expect(await canceled.json()).toMatchObject({ status: "canceled" });
    const again = await api(`/v1/payouts/${payout.id}/cancel`, { method: "POST", headers: bearer(merchant.api_key) });
    expect(again.status).toBe(200);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 100_000, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 100_000, reserved: 0 });
    await drainPayoutQueue([payout.id]); // a late queue message does not revive it
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "canceled" });
    await expectInvariants();
  });

  it("lets exactly one of a cancel and the queue's claim win when they race", async () => {
    for (let round = 0; round < 5; round++) {
      const { merchant, customer, payout } = await pendingPayout();
      const [canceled] = await Promise.all([
        api(`/v1/payouts/${payout.id}/cancel`, { method: "POST", headers: bearer(merchant.api_key) }),
        drainPayoutQueue([payout.id]),
      ]);
      const final = (await getPayout(merchant.api_key, payout.id)).body as { status: string };
      if (canceled.status === 200) {
        expect(final.status).toBe("canceled");
        expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 100_000, reserved: 0 });
        const bank = env.SANDBOX_BANK.get(env.SANDBOX_BANK.idFromName("sandbox"));
        expect(await bank.settlePayout(payout.id, "completed", true)).toMatchObject({ ok: false, reason: "unknown_payout" }); // never sent
      } else {
        expect(canceled.status).toBe(422);
        expect(final.status).toBe("processing");
        expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 60_000, reserved: 40_000 });
      }
    }
    await expectInvariants();
  });

  it("refuses to cancel once submitted (422 invalid_state)", async () => {
    const { merchant, payout } = await pendingPayout();
    await drainPayoutQueue([payout.id]);
    const response = await api(`/v1/payouts/${payout.id}/cancel`, { method: "POST", headers: bearer(merchant.api_key) });
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({ code: "invalid_state" });
  });

  it("settles once when the bank repeats payout.completed, and stores an event for an unknown payout as failed", async () => {
    const { merchant, customer, payout } = await pendingPayout();
    await drainPayoutQueue([payout.id]);
    const event = { id: uniqueId("evt"), type: "payout.completed", created_at: new Date().toISOString(), data: { payout_id: payout.id, bank_transaction_id: uniqueId("bt") } };
    expect((await sendBankEvent(event)).status).toBe(200);
    expect((await sendBankEvent(event)).status).toBe(200);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 60_000, reserved: 0 });
    const unknown = await sendBankEvent({ ...event, id: uniqueId("evt"), data: { payout_id: "po_nope", bank_transaction_id: "bt_x" } });
    expect(unknown.status).toBe(422);
    await expectInvariants();
  });

  it("hides payouts from other merchants (404) and lists only the caller's", async () => {
    const { merchant, payout } = await pendingPayout();
    const other = await createMerchant();
    expect((await getPayout(other.api_key, payout.id)).status).toBe(404);
    expect((await api(`/v1/payouts/${payout.id}/cancel`, { method: "POST", headers: bearer(other.api_key) })).status).toBe(404);
    const mine = (await (await api("/v1/payouts", { headers: bearer(merchant.api_key) })).json()) as { data: Payout[] };
    expect(mine.data.map((item) => item.id)).toEqual([payout.id]);
    const theirs = (await (await api("/v1/payouts", { headers: bearer(other.api_key) })).json()) as { data: Payout[] };
    expect(theirs.data).toEqual([]);
  });
});

describe("bad payout input moves nothing", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ["a float amount", { amount: 10.5 }, "amount"],
    ["a string amount", { amount: "1000" }, "amount"],
    ["zero", { amount: 0 }, "amount"],
    ["a negative amount", { amount: -5 }, "amount"],
    ["more than 10^14", { amount: 100_000_000_000_001 }, "amount"],
    ["a missing amount", { amount: undefined }, "amount"],
    ["an invalid destination CBU", { destination_cbu: "2810590940090418135201" }, "destination_cbu"],
    ["an unknown field", { tip: 5 }, "tip"],
  ];
  for (const [name, override, field] of cases) {
    it(`answers 400 naming ${field} for ${name}`, async () => {
      const { merchant, customer } = await fundedCustomer(10_000);
      const response = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000, ...override });
      expect(response.status).toBe(400);
      const problem = (await response.json()) as { code: string; errors: { path: string }[] };
      expect(problem.code).toBe("invalid_request");
      expect(problem.errors.map((error) => error.path)).toContain(field);
      expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 10_000, reserved: 0 });
    });
  }

  it("answers 400 unsupported_currency for a currency not enabled", async () => {
    const { merchant, customer } = await fundedCustomer(10_000);
    const response = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000, currency: "USD" });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "unsupported_currency" });
  });

  it("answers 404 for an unknown or unlinked customer", async () => {
    const { merchant } = await fundedCustomer(0);
    const stranger = await fundedCustomer(0);
    for (const customerId of ["cus_doesnotexist", stranger.customer.id]) {
      const response = await postPayout(merchant.api_key, { customer_id: customerId, amount: 1_000 });
      expect(response.status).toBe(404);
    }
  });

  it("answers 400 when the customer has no CBU and none is given", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    await fund(merchant, customer.id, 5_000);
    const response = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ errors: [{ path: "destination_cbu" }] });
  });

  it("answers 403 to the operator key (payouts belong to a merchant)", async () => {
    const response = await api("/v1/payouts", json({ customer_id: "cus_x", amount: 1 }, { ...bearer(env.ADMIN_API_KEY!), "idempotency-key": "k" }));
    expect(response.status).toBe(403);
  });
});
