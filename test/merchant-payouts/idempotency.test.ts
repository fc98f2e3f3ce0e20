/**
 * Merchant payouts are idempotent by the Idempotency-Key's claim, like customer payouts (API §1):
 * the same key and body replay, another body is 422, a forged log that makes a retry carry
 * other data for the same payout id is 409 conflict and moves nothing; a crash after the batch
 * leaves a payout that a retry (or the repair job) queues; concurrent requests never pay twice.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/crypto";
import { armFault, disarmFaults } from "../../src/faults";
import { repair } from "../../src/jobs/repair";
import { api, bearer } from "../helpers";
import { drainPayoutQueue, expectInvariants, getPayout, merchantBalance, postPayout, fundedCustomer, sendBankEvent, settle, uniqueId } from "../money";
import { createdPayout, patchMerchant, payingMerchant, postMerchantPayout, reserveBalance, fundMerchant, setPolicy } from "./helpers";

afterEach(() => disarmFaults());

async function payoutCount(merchantId: string): Promise<number> {
  return (await env.DB.prepare("SELECT COUNT(*) AS n FROM payouts WHERE merchant_id = ?").bind(merchantId).first<{ n: number }>())!.n;
}

describe("merchant payout idempotency", () => {
  it("same key, same body: replays the first answer; same key, another amount or currency: 422; nothing moves twice", async () => {
    const merchant = await payingMerchant(10_000, { type: "percentage", percentage: 10, holding_days: 1 });
    const key = uniqueId("idem");
    const first = await postMerchantPayout(merchant.api_key, { amount: 1_000 }, key);
    const body = await createdPayout(first);
    const replay = await postMerchantPayout(merchant.api_key, { amount: 1_000 }, key);
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.json()).toEqual(body);
    for (const other of [{ amount: 1_001 }, { amount: 1_000, currency: "USD" }]) {
      const response = await postMerchantPayout(merchant.api_key, other, key);
      expect(response.status, JSON.stringify(other)).toBe(422);
      expect(((await response.json()) as { code: string }).code).toBe("idempotency_key_reused");
    }
    expect(await payoutCount(merchant.id)).toBe(1);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 9_000, reserved: 900 });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 100, reserved: 0 });
    await expectInvariants();
  });

  it("concurrent requests with one key: one payout, the others in flight or replayed", async () => {
    const merchant = await payingMerchant(10_000);
    const key = uniqueId("idem");
    const responses = await Promise.all(Array.from({ length: 6 }, () => postMerchantPayout(merchant.api_key, { amount: 2_000 }, key)));
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 201).length).toBeGreaterThanOrEqual(1);
    expect(statuses.every((status) => status === 201 || status === 409)).toBe(true);
    expect(await payoutCount(merchant.id)).toBe(1);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 8_000, reserved: 2_000 });
  });

  it("a forged log that gives a retry other data for the same payout id is 409 conflict, and moves nothing", async () => {
    const merchant = await payingMerchant(10_000, { type: "percentage", percentage: 10, holding_days: 1 });
    const key = uniqueId("idem");
    const body = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 1_000 }, key));
    // The key's record is made to look like a request that crashed (a 5xx): a retry runs again,
    // under the same claim (so the same payout id), and its body is rewritten to the new one's.
    const other = JSON.stringify({ amount: 3_000 });
    await env.DB.prepare("UPDATE idempotency_keys SET state = 'in_flight', response_status = NULL, response_body = NULL, locked_until = 0, fingerprint = ? WHERE caller = ? AND key = ?")
      .bind(await requestFingerprint("/v1/merchant/payouts", other), merchant.id, key)
      .run();
    const conflict = await api("/v1/merchant/payouts", { method: "POST", headers: { ...bearer(merchant.api_key), "content-type": "application/json", "idempotency-key": key }, body: other });
    expect(conflict.status).toBe(409);
    expect(((await conflict.json()) as { code: string }).code).toBe("conflict");
    expect(await payoutCount(merchant.id)).toBe(1);
    expect((await getPayout(merchant.api_key, body.id)).body).toMatchObject({ amount: 1_000, withheld_amount: 100 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 9_000, reserved: 900 });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 100, reserved: 0 });
    await expectInvariants();
  });

  it("a crash after the batch: the retry with the same key replays the 201 the batch stored with the payout; the repair job queues it", async () => {
    const merchant = await payingMerchant(10_000, { type: "percentage", percentage: 10, holding_days: 1 });
    const key = uniqueId("idem");
    armFault("merchant_payout.after_batch");
    const crashed = await postMerchantPayout(merchant.api_key, { amount: 2_000 }, key);
    expect(crashed.status).toBe(500);
    expect(await payoutCount(merchant.id)).toBe(1);
    const retried = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 2_000 }, key));
    expect(retried).toMatchObject({ amount: 2_000, withheld_amount: 200, status: "pending" });
    expect(await payoutCount(merchant.id)).toBe(1);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 8_000, reserved: 1_800 });

    // Nobody retries this one: the repair job re-queues the idle pending payout, and it completes.
    armFault("merchant_payout.after_batch");
    expect((await postMerchantPayout(merchant.api_key, { amount: 1_000 })).status).toBe(500);
    const orphan = await env.DB.prepare("SELECT id FROM payouts WHERE merchant_id = ? AND id <> ?").bind(merchant.id, retried.id).first<{ id: string }>();
    const report = await repair(env, Date.now() + 3_600_000);
    expect(report.requeued).toBeGreaterThanOrEqual(1);
    await drainPayoutQueue([orphan!.id, retried.id]);
    expect((await settle(orphan!.id, "completed")).status).toBe(200);
    expect((await settle(retried.id, "completed")).status).toBe(200);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 7_000, reserved: 0 });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 300, reserved: 0 });
    await expectInvariants();
  });

  it("a crash after the queue claimed it: the queue's retry submits it, and the bank pays once", async () => {
    const merchant = await payingMerchant(10_000);
    const payout = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 1_000 }));
    armFault("payout.after_claim");
    await drainPayoutQueue([payout.id]); // claimed, crashed before the bank: the queue retries
    await drainPayoutQueue([payout.id], 2);
    expect((await settle(payout.id, "completed")).status).toBe(200);
    expect((await getPayout(merchant.api_key, payout.id)).body.status).toBe("completed");
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 9_000, reserved: 0 });
    await expectInvariants();
  });
});

describe("merchant payout completion after a crash", () => {
  it("a payout.completed that died after D1: the bank's redelivery replays it, one event, nothing moves twice", async () => {
    const merchant = await payingMerchant(10_000, { type: "percentage", percentage: 10, holding_days: 1 });
    const payout = await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 4_000 }));
    await drainPayoutQueue([payout.id]);
    const event = { id: uniqueId("evt"), type: "payout.completed", created_at: new Date().toISOString(), data: { payout_id: payout.id, bank_transaction_id: uniqueId("bt") } };
    armFault("transition.after_ledger");
    expect((await sendBankEvent(event)).status).toBe(500);
    expect((await sendBankEvent(event)).status).toBe(200);
    expect((await getPayout(merchant.api_key, payout.id)).body.status).toBe("completed");
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 6_000, reserved: 0 });
    expect(await reserveBalance(merchant.id)).toEqual({ available: 400, reserved: 0 });
    const events = await env.DB.prepare("SELECT COUNT(*) AS n FROM events WHERE object_id = ? AND type = 'payout.completed'").bind(payout.id).first<{ n: number }>();
    expect(events!.n).toBe(1);
    // The customer saga's marker never applies to a merchant payout.
    const row = await env.DB.prepare("SELECT customer_sync FROM payouts WHERE id = ?").bind(payout.id).first<{ customer_sync: string | null }>();
    expect(row!.customer_sync).toBeNull();
    await expectInvariants();
  });
});

describe("merchant payouts among customer payouts", () => {
  it("concurrent merchant and customer payouts on one balance account never overdraw it", async () => {
    const { merchant, customer } = await fundedCustomer(6_000); // the merchant's balance account: 6,000
    const payoutCbu = customer.cbu!; // any valid CBU
    expect((await patchMerchant(merchant.id, { payout_cbu: payoutCbu })).status).toBe(200);
    expect((await setPolicy(merchant.id, { type: "percentage", percentage: 25, holding_days: 1 })).status).toBe(201);
    const requests = [
      ...Array.from({ length: 5 }, () => postMerchantPayout(merchant.api_key, { amount: 1_000 })),
      ...Array.from({ length: 5 }, () => postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 })),
    ];
    const statuses = (await Promise.all(requests)).map((response) => response.status);
    expect(statuses.every((status) => status === 201 || status === 422)).toBe(true);
    expect(statuses.filter((status) => status === 201)).toHaveLength(6);
    const balance = await merchantBalance(merchant.api_key);
    expect(balance.available).toBe(0);
    await expectInvariants();
  });

  it("a customer payout no longer finds the money a merchant payout took, and the other way round", async () => {
    const { merchant, customer } = await fundedCustomer(1_000);
    expect((await patchMerchant(merchant.id, { payout_cbu: customer.cbu })).status).toBe(200);
    await createdPayout(await postMerchantPayout(merchant.api_key, { amount: 600 }));
    expect((await postPayout(merchant.api_key, { customer_id: customer.id, amount: 500 })).status).toBe(422);
    await fundMerchant(merchant, 100);
    expect((await postPayout(merchant.api_key, { customer_id: customer.id, amount: 500 })).status).toBe(201);
    expect((await postMerchantPayout(merchant.api_key, { amount: 1 })).status).toBe(422);
    await expectInvariants();
  });
});

/** The idempotency middleware's fingerprint of a request: its method, path and raw body. */
function requestFingerprint(path: string, body: string): Promise<string> {
  return sha256Hex(`POST ${path}\n${body}`);
}
