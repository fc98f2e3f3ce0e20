/**
 * A transfer's Idempotency-Key never replays a refusal for a transfer that exists. The
 * interleaving: attempt A claims the key and stalls before its batch; its lock expires; retry B
 * takes the claim over (same claim id, so the same transfer id), finds the balance short and
 * stores 422; money arrives; A's batch then runs. Before, A's batch made the transfer and the
 * key kept replaying B's 422 (A's in-batch 201 wrote only over an in-flight key). Now the
 * transfer is written only while the key is in flight (src/transfers/transfer-under-key.ts).
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import type { IdempotencyClaim } from "../../src/context";
import { sha256Hex } from "../../src/crypto";
import { ApiError, statusOf } from "../../src/errors";
import { armFault, disarmFaults, InjectedFault } from "../../src/faults";
import { supersededAnswer } from "../../src/middleware/idempotency";
import { executeTransfer, type TransferOrder } from "../../src/transfers/execute-transfer";
import { executeTransferUnderKey, transferIdOf } from "../../src/transfers/transfer-under-key";
import { api, createMerchant, type TestMerchant } from "../helpers";
import { expectInvariants, fund, fundedCustomer, uniqueId } from "../money";
import { availableOf, headersOf, listAll, merchantBa, postTransfer, type TransferBody } from "./transfer-helpers";

afterEach(() => disarmFaults());

/** Attempt A's claim: started with `body`, its lock expired while it stalls before its batch. */
async function stalledClaim(merchant: TestMerchant, body: Record<string, unknown>): Promise<IdempotencyClaim> {
  const claim = { scope: merchant.id, key: uniqueId("idem"), claim_id: uniqueId("claim") };
  const fingerprint = await sha256Hex(`POST /v1/transfers\n${JSON.stringify(body)}`);
  await env.DB.prepare("INSERT INTO idempotency_keys (caller, key, claim_id, fingerprint, state, locked_until, created_at) VALUES (?, ?, ?, ?, 'in_flight', 0, ?)")
    .bind(claim.scope, claim.key, claim.claim_id, fingerprint, Date.now())
    .run();
  return claim;
}

/** The order the route builds for `body` under `claim`. */
async function routeOrder(merchant: TestMerchant, claim: IdempotencyClaim, body: { from_balance_account: string; to_balance_account: string; amount: number }): Promise<TransferOrder> {
  return { id: await transferIdOf(claim), kind: "transfer", ...body, currency: "ARS", description: null, initiated_by: merchant.id };
}

async function transferExists(id: string): Promise<boolean> {
  return (await env.DB.prepare("SELECT 1 FROM transfers WHERE id = ?").bind(id).first()) !== null;
}

async function expectReplayed422(merchant: TestMerchant, body: Record<string, unknown>, key: string) {
  const replay = await postTransfer(merchant.api_key, body, key);
  expect(replay.status).toBe(422);
  expect(replay.headers.get("idempotent-replayed")).toBe("true");
  expect(((await replay.json()) as { code: string }).code).toBe("insufficient_funds");
}

describe("a transfer's stored refusal agrees with what exists", () => {
  it("a 422 stored by a taken-over retry before the stalled attempt's batch: that batch moves nothing, and the key keeps replaying the 422", async () => {
    const { merchant, customer } = await fundedCustomer(500);
    const other = await createMerchant();
    const body = { from_balance_account: merchantBa(merchant.id), to_balance_account: merchantBa(other.id), amount: 1_000 };
    const claim = await stalledClaim(merchant, body);

    // Retry B takes the claim over and is refused: the key completes with its 422.
    const refused = await postTransfer(merchant.api_key, body, claim.key);
    expect(refused.status).toBe(422);
    await fund(merchant, customer.id, 1_000); // now the balance would cover it

    // A resumes with its batch, as the route runs it.
    const order = await routeOrder(merchant, claim, body);
    expect(await executeTransferUnderKey(env, claim, order, Date.now())).toEqual({ result: "superseded" });

    expect(await transferExists(order.id)).toBe(false);
    expect(await availableOf(merchantBa(merchant.id))).toBe(1_500);
    expect(await availableOf(merchantBa(other.id))).toBe(0);
    expect((await listAll<TransferBody>("/v1/transfers", merchant.api_key)).data).toEqual([]);
    await expectReplayed422(merchant, body, claim.key);
    // The same batch again (A retried by its own code), and a crash right after it: still nothing.
    armFault("transfer.after_batch");
    await expect(executeTransferUnderKey(env, claim, order, Date.now())).rejects.toBeInstanceOf(InjectedFault);
    expect(await transferExists(order.id)).toBe(false);
    expect(await availableOf(merchantBa(merchant.id))).toBe(1_500);
    await expectReplayed422(merchant, body, claim.key);
    // Another body under the key is still 422 idempotency_key_reused, and moves nothing.
    const reused = await postTransfer(merchant.api_key, { ...body, amount: 500 }, claim.key);
    expect(reused.status).toBe(422);
    expect(((await reused.json()) as { code: string }).code).toBe("idempotency_key_reused");
    expect(await availableOf(merchantBa(merchant.id))).toBe(1_500);
    await expectInvariants();
  });

  it("the stalled attempt's batch first, while the key is in flight: it makes the transfer and completes the key with its 201, which a later refusal cannot replace", async () => {
    const { merchant } = await fundedCustomer(1_000);
    const other = await createMerchant();
    const body = { from_balance_account: merchantBa(merchant.id), to_balance_account: merchantBa(other.id), amount: 1_000 };
    const claim = await stalledClaim(merchant, body);
    const order = await routeOrder(merchant, claim, body);

    const outcome = await executeTransferUnderKey(env, claim, order, Date.now());
    expect(outcome).toMatchObject({ result: "created", answered: true });
    // A retry of the same body replays the 201 of that very transfer.
    const replay = await postTransfer(merchant.api_key, body, claim.key);
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    const transfer = (await replay.json()) as TransferBody;
    expect(transfer.id).toBe(order.id);
    const got = await api(`/v1/transfers/${order.id}`, { headers: headersOf(merchant.api_key) });
    expect(await got.json()).toEqual(transfer);
    expect(await availableOf(merchantBa(merchant.id))).toBe(0);
    await expectInvariants();
  });

  // Every order of the three steps, each driven to completion before the next: retry B through
  // the API, the money arriving, and stalled attempt A's batch. (It replaces a Promise.all of
  // them, which passed with the guard removed: its I/O happened never to run A's batch between
  // the refusal and the money.) Without the guard, "retry, money, batch" fails here.
  const steps = ["retry", "money", "batch"] as const;
  const orders = steps.flatMap((a) => steps.flatMap((b) => steps.filter((c) => c !== a && c !== b && a !== b).map((c) => [a, b, c])));
  for (const order of orders) {
    it(`attempts under one key in the order ${order.join(", ")}: the key's answer matches the transfers that exist`, async () => {
      const { merchant, customer } = await fundedCustomer(500);
      const other = await createMerchant();
      const body = { from_balance_account: merchantBa(merchant.id), to_balance_account: merchantBa(other.id), amount: 1_000 };
      const claim = await stalledClaim(merchant, body);
      const transferOrder = await routeOrder(merchant, claim, body);
      const run = {
        retry: async () => void (await postTransfer(merchant.api_key, body, claim.key)),
        money: async () => void (await fund(merchant, customer.id, 1_000)),
        batch: async () => void (await executeTransferUnderKey(env, claim, transferOrder, Date.now())),
      };
      for (const step of order) await run[step]();
      const final = await postTransfer(merchant.api_key, body, claim.key);
      const exists = await transferExists(transferOrder.id);
      expect(final.status).toBe(exists ? 201 : 422);
      if (exists) expect(((await final.json()) as TransferBody).id).toBe(transferOrder.id);
      expect(await availableOf(merchantBa(merchant.id))).toBe(exists ? 500 : 1_500);
      expect((await listAll<TransferBody>("/v1/transfers", merchant.api_key)).data).toHaveLength(exists ? 1 : 0);
      await expectInvariants();
    });
  }

  it("a batch whose key's record expired (pruned) while it ran moves nothing and answers 503 unavailable (retry with the key), not 409 in flight", async () => {
    const { merchant } = await fundedCustomer(2_000);
    const other = await createMerchant();
    const body = { from_balance_account: merchantBa(merchant.id), to_balance_account: merchantBa(other.id), amount: 1_000 };
    const claim = await stalledClaim(merchant, body);
    await env.DB.prepare("DELETE FROM idempotency_keys WHERE caller = ? AND key = ?").bind(claim.scope, claim.key).run();
    const order = await routeOrder(merchant, claim, body);
    expect(await executeTransferUnderKey(env, claim, order, Date.now())).toEqual({ result: "superseded" });
    expect(await transferExists(order.id)).toBe(false);
    const answer = await supersededAnswer(env.DB, claim).catch((error: unknown) => error);
    expect(answer).toBeInstanceOf(ApiError);
    expect((answer as ApiError).code).toBe("unavailable");
    expect(statusOf((answer as ApiError).code)).toBe(503);
    // The retry the answer asks for claims the key afresh and makes the transfer once.
    const retry = await postTransfer(merchant.api_key, body, claim.key);
    expect(retry.status).toBe(201);
    expect(await availableOf(merchantBa(merchant.id))).toBe(1_000);
    await expectInvariants();
  });
});

describe("executeTransfer's onlyWhile", () => {
  it("is the row's guard: false with no row is superseded (nothing moved); a row already made under the same data still replays", async () => {
    const { merchant } = await fundedCustomer(2_000);
    const other = await createMerchant();
    const order: TransferOrder = {
      id: uniqueId("tr").replace(/[^a-z0-9_]/g, "").toLowerCase(),
      kind: "transfer",
      from_balance_account: merchantBa(merchant.id),
      to_balance_account: merchantBa(other.id),
      amount: 700,
      currency: "ARS",
      description: null,
      initiated_by: "operator",
    };
    const never = { sql: "0", params: [] };
    expect(await executeTransfer(env, order, Date.now(), { onlyWhile: never })).toEqual({ result: "superseded" });
    expect(await availableOf(merchantBa(merchant.id))).toBe(2_000);
    expect((await executeTransfer(env, order, Date.now())).result).toBe("created");
    expect((await executeTransfer(env, order, Date.now(), { onlyWhile: never })).result).toBe("replayed");
    expect((await executeTransfer(env, { ...order, amount: 701 }, Date.now(), { onlyWhile: never })).result).toBe("conflict");
    expect(await availableOf(merchantBa(merchant.id))).toBe(1_300);
    await expectInvariants();
  });
});
