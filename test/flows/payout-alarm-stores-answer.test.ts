/**
 * Whoever writes a customer payout pending completes its Idempotency-Key with the 201 in the
 * same batch, so the key can never later store a refusal for a payout that exists. Before,
 * only the request's first batch did: the object's alarm (replaying the projection after a
 * crash) and a retry whose reservation was replayed wrote the row with the key still in flight
 * and no answer, and a retry refused before its reservation (say 422 invalid_destination: the
 * bank's holder lookup changed) then stored that refusal under the key of a live payout, which
 * the key replayed forever while the bank paid it.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import type { IdempotencyClaim } from "../../src/context";
import { derivedId } from "../../src/crypto";
import { armFault, disarmFaults, InjectedFault } from "../../src/faults";
import { createPayout } from "../../src/payouts/create-payout";
import { expectInvariants, fundedCustomer, getPayout, objectBalance, postPayout, runAccountAlarm } from "../money";
import { keyRecord, stalledClaim } from "../stalled-claim";

afterEach(() => disarmFaults());

const body = (customerId: string) => ({ customer_id: customerId, amount: 1_000 });

/** A claims the key (its lock already expired, so a retry may take it over) and crashes after its reservation, before D1. */
async function crashedAfterReserve() {
  const { merchant, customer } = await fundedCustomer(1_500);
  const claim = await stalledClaim(merchant.id, "/v1/payouts", body(customer.id));
  const payoutId = await derivedId("po", `${merchant.id}:${claim.key}:${claim.claim_id}`);
  armFault("payout.after_customer_reserve");
  await expect(attempt(merchant.id, claim, customer.id)).rejects.toBeInstanceOf(InjectedFault);
  disarmFaults();
  expect(await payoutStatus(payoutId)).toBeNull();
  return { merchant, customer, claim, payoutId };
}

function attempt(merchantId: string, claim: IdempotencyClaim, customerId: string) {
  return createPayout(env, merchantId, claim, { ...body(customerId), currency: "ARS", destination_cbu: null, description: null });
}

async function payoutStatus(payoutId: string) {
  return (await env.DB.prepare("SELECT status FROM payouts WHERE id = ?").bind(payoutId).first<{ status: string }>())?.status ?? null;
}

/** What the middleware runs to store a refusal of a retry under the claim (its `mine`: only while in flight); the number of rows it changed. */
async function middlewareStoresRefusal(claim: IdempotencyClaim): Promise<number> {
  const result = await env.DB.prepare(
    "UPDATE idempotency_keys SET state = 'completed', response_status = 422, response_body = '{\"code\":\"invalid_destination\"}' WHERE caller = ? AND key = ? AND claim_id = ? AND state = 'in_flight'",
  )
    .bind(claim.scope, claim.key, claim.claim_id)
    .run();
  return result.meta.changes;
}

/** The key answers the live payout's 201 (replayed, byte for byte what it stored), and the payout is GET's. */
async function expectKeyAnswersPayout(apiKey: string, customerId: string, claim: IdempotencyClaim, payoutId: string) {
  const record = await keyRecord(claim);
  expect(record).toMatchObject({ state: "completed", response_status: 201 });
  expect(JSON.parse(record!.response_body!)).toMatchObject({ id: payoutId, object: "payout", status: "pending", amount: 1_000, customer_id: customerId });
  // The stored body is the payout_objects view of the row: exactly what GET renders of it.
  expect(JSON.parse(record!.response_body!)).toEqual((await getPayout(apiKey, payoutId)).body);
  expect(await middlewareStoresRefusal(claim)).toBe(0);
  const replay = await postPayout(apiKey, body(customerId), claim.key);
  expect(replay.status).toBe(201);
  expect(replay.headers.get("idempotent-replayed")).toBe("true");
  expect(await replay.text()).toBe(record!.response_body);
}

describe("the batch that writes a customer payout pending stores its 201 under the key", () => {
  it("the object's alarm, after a crash between the reservation and D1: the payout and the key's 201 together, so a later refusal cannot be stored", async () => {
    const { merchant, customer, claim, payoutId } = await crashedAfterReserve();
    await runAccountAlarm(customer.id);
    expect(await payoutStatus(payoutId)).toBe("pending");
    await expectKeyAnswersPayout(merchant.api_key, customer.id, claim, payoutId);
    expect(await objectBalance(customer.id)).toEqual({ available: 500, reserved: 1_000 });
    await expectInvariants();
  });

  it("a retry whose reservation is replayed: its batch stores the 201, even if it then crashes before answering", async () => {
    const { merchant, customer, claim, payoutId } = await crashedAfterReserve();
    // Retry B (the claim taken over: same claim, same payout id) finds A's reservation and
    // writes the row, then dies before its answer reaches the middleware.
    armFault("payout.after_projection");
    await expect(attempt(merchant.id, claim, customer.id)).rejects.toBeInstanceOf(InjectedFault);
    disarmFaults();
    expect(await payoutStatus(payoutId)).toBe("pending");
    await expectKeyAnswersPayout(merchant.api_key, customer.id, claim, payoutId);
    expect(await objectBalance(customer.id)).toEqual({ available: 500, reserved: 1_000 });
    await expectInvariants();
  });

  it("a retry whose reservation is replayed answers exactly the body its batch stored", async () => {
    const { merchant, customer, claim, payoutId } = await crashedAfterReserve();
    const created = await attempt(merchant.id, claim, customer.id);
    expect(created).toMatchObject({ stored: { status: 201 } });
    const record = await keyRecord(claim);
    expect(record).toMatchObject({ state: "completed", response_status: 201 });
    expect("stored" in created && created.stored?.body).toBe(record!.response_body);
    expect(JSON.parse(record!.response_body!)).toMatchObject({ id: payoutId, status: "pending" });
  });
});
