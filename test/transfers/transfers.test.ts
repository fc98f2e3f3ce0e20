/**
 * POST /v1/transfers and top-ups (API §12) through the public API: who may move what, the
 * refusals naming their field, insufficient funds, the idempotency matrix, a crash after the
 * write, and the transfer's own data behind the log (409 when the log is bypassed).
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/crypto";
import { armFault, disarmFaults } from "../../src/faults";
import { merchantAccount, openAccountStatement } from "../../src/ledger/accounts";
import { api, createMerchant, expectFieldError, expectNoInternals } from "../helpers";
import { expectInvariants, fundedCustomer, uniqueId } from "../money";
import { availableOf, headersOf, listAll, merchantBa, platformBa, postTopUp, postTransfer, reserveBa, type TransferBody } from "./transfer-helpers";

afterEach(() => disarmFaults());

async function problemOf(response: Response) {
  const text = await response.text();
  expectNoInternals(text);
  return JSON.parse(text) as { code: string; detail: string; errors?: { path: string }[] };
}

describe("who may move what", () => {
  it("a merchant moves from its own balance account to another merchant's: both see the transfer, a third merchant gets 404 as for a missing id", async () => {
    const { merchant: a } = await fundedCustomer(10_000);
    const b = await createMerchant();
    const c = await createMerchant();
    const response = await postTransfer(a.api_key, { from_balance_account: merchantBa(a.id), to_balance_account: merchantBa(b.id), amount: 2_500, description: "supplier" });
    expect(response.status).toBe(201);
    const transfer = (await response.json()) as TransferBody;
    expect(transfer).toMatchObject({
      object: "transfer",
      status: "completed",
      kind: "transfer",
      from_balance_account: merchantBa(a.id),
      to_balance_account: merchantBa(b.id),
      amount: 2_500,
      currency: "ARS",
      description: "supplier",
      metadata: {},
    });
    expect(transfer.id).toMatch(/^tr_[0-9a-f]{32}$/);
    expect(await availableOf(merchantBa(a.id))).toBe(7_500);
    expect(await availableOf(merchantBa(b.id))).toBe(2_500);

    for (const key of [a.api_key, b.api_key, null]) {
      const got = await api(`/v1/transfers/${transfer.id}`, { headers: headersOf(key) });
      expect(got.status).toBe(200);
      expect(await got.json()).toEqual(transfer);
    }
    const foreign = await api(`/v1/transfers/${transfer.id}`, { headers: headersOf(c.api_key) });
    const missing = await api("/v1/transfers/tr_00000000000000000000000000000000", { headers: headersOf(c.api_key) });
    expect(foreign.status).toBe(404);
    expect(missing.status).toBe(404);
    expect((await problemOf(foreign)).detail).toBe((await problemOf(missing)).detail);

    expect((await listAll<TransferBody>("/v1/transfers", a.api_key)).data.map((row) => row.id)).toEqual([transfer.id]);
    expect((await listAll<TransferBody>("/v1/transfers", b.api_key)).data.map((row) => row.id)).toEqual([transfer.id]);
    expect((await listAll<TransferBody>("/v1/transfers", c.api_key)).data).toEqual([]);
    expect((await listAll<TransferBody>("/v1/transfers", null, `balance_account=${merchantBa(b.id)}`)).data.map((row) => row.id)).toEqual([transfer.id]);
    await expectInvariants();
  });

  it("a merchant may not move from another merchant's account (404 exactly as a missing one), nor from the platform's or its own reserve, nor into a reserve (its own: 400; another's: 404 byte for byte as a missing id)", async () => {
    const { merchant: a } = await fundedCustomer(10_000);
    const { merchant: b } = await fundedCustomer(10_000);
    const others = await postTransfer(a.api_key, { from_balance_account: merchantBa(b.id), to_balance_account: merchantBa(a.id), amount: 100 });
    const nobody = await postTransfer(a.api_key, { from_balance_account: "ba_mnobody_ars", to_balance_account: merchantBa(a.id), amount: 100 });
    expect(others.status).toBe(404);
    expect(nobody.status).toBe(404);
    const [othersProblem, nobodyProblem] = [await problemOf(others), await problemOf(nobody)];
    expect(othersProblem).toEqual(nobodyProblem);
    expect(othersProblem.errors?.map((error) => error.path)).toEqual(["from_balance_account"]);
    const platform = await postTransfer(a.api_key, { from_balance_account: platformBa(), to_balance_account: merchantBa(a.id), amount: 100 });
    expect(platform.status).toBe(404);

    await expectFieldError(await postTransfer(a.api_key, { from_balance_account: reserveBa(a.id), to_balance_account: merchantBa(a.id), amount: 100 }), "from_balance_account");
    await expectFieldError(await postTransfer(a.api_key, { from_balance_account: merchantBa(a.id), to_balance_account: reserveBa(a.id), amount: 100 }), "to_balance_account");
    // Another's reserve says nothing more than a missing id: the same 404, byte for byte.
    const othersReserve = await postTransfer(a.api_key, { from_balance_account: merchantBa(a.id), to_balance_account: reserveBa(b.id), amount: 100 });
    const missingTo = await postTransfer(a.api_key, { from_balance_account: merchantBa(a.id), to_balance_account: "ba_rnobody_ars", amount: 100 });
    expect([othersReserve.status, missingTo.status]).toEqual([404, 404]);
    const othersReserveText = await othersReserve.text();
    expect(othersReserveText).toBe(await missingTo.text());
    expect((JSON.parse(othersReserveText) as { errors: { path: string }[] }).errors.map((error) => error.path)).toEqual(["to_balance_account"]);
    // Neither a customer's nor the settlement's ledger account is a balance account.
    const settlement = await postTransfer(a.api_key, { from_balance_account: merchantBa(a.id), to_balance_account: "ba_settlement_ars", amount: 100 });
    expect(settlement.status).toBe(404);
    expect((await problemOf(settlement)).errors?.map((error) => error.path)).toEqual(["to_balance_account"]);
    expect(await availableOf(merchantBa(a.id))).toBe(10_000);
    expect(await availableOf(merchantBa(b.id))).toBe(10_000);
  });

  it("the operator moves between any two balance accounts, into a reserve too, but never out of a reserve", async () => {
    const { merchant: a } = await fundedCustomer(10_000);
    const b = await createMerchant();
    const toPlatform = await postTransfer(null, { from_balance_account: merchantBa(a.id), to_balance_account: platformBa(), amount: 3_000 });
    expect(toPlatform.status).toBe(201);
    const toB = await postTransfer(null, { from_balance_account: platformBa(), to_balance_account: merchantBa(b.id), amount: 1_000 });
    expect(toB.status).toBe(201);
    const toReserve = await postTransfer(null, { from_balance_account: merchantBa(a.id), to_balance_account: reserveBa(a.id), amount: 2_000 });
    expect(toReserve.status).toBe(201);
    await expectFieldError(await postTransfer(null, { from_balance_account: reserveBa(a.id), to_balance_account: merchantBa(a.id), amount: 1 }), "from_balance_account");
    expect(await availableOf(merchantBa(a.id))).toBe(5_000);
    expect(await availableOf(reserveBa(a.id))).toBe(2_000);
    expect(await availableOf(merchantBa(b.id))).toBe(1_000);
    await expectInvariants();
  });
});

describe("validation", () => {
  it("names the field: same account, amounts, a currency not the accounts', unknown fields, the missing key", async () => {
    const { merchant } = await fundedCustomer(10_000);
    const other = await createMerchant();
    const base = { from_balance_account: merchantBa(merchant.id), to_balance_account: merchantBa(other.id), amount: 100 };
    await expectFieldError(await postTransfer(merchant.api_key, { ...base, to_balance_account: base.from_balance_account }), "to_balance_account");
    for (const amount of [0, -5, 1.5, "100", null, 100_000_000_000_001]) {
      await expectFieldError(await postTransfer(merchant.api_key, { ...base, amount }), "amount");
    }
    await expectFieldError(await postTransfer(merchant.api_key, { ...base, currency: "USD" }), "currency", "unsupported_currency");
    await expectFieldError(await postTransfer(merchant.api_key, { ...base, extra: 1 }), "extra");
    await expectFieldError(await postTransfer(merchant.api_key, base, null), "header.Idempotency-Key");
    // An account in another currency (opened directly: only ARS is enabled here).
    await openAccountStatement(env.DB, merchantAccount(other.id, "USD"), Date.now()).run();
    // To the operator, and to the merchant about its own account, the precise 400; to a
    // merchant about another's, the 404 of a missing id, byte for byte (its currency unsaid).
    const foreignUsd = { ...base, to_balance_account: merchantBa(other.id, "USD") };
    await expectFieldError(await postTransfer(null, foreignUsd), "currency");
    await openAccountStatement(env.DB, merchantAccount(merchant.id, "USD"), Date.now()).run();
    await expectFieldError(await postTransfer(merchant.api_key, { ...base, to_balance_account: merchantBa(merchant.id, "USD") }), "currency");
    const foreign = await postTransfer(merchant.api_key, foreignUsd);
    const missing = await postTransfer(merchant.api_key, { ...base, to_balance_account: "ba_mnobody_usd" });
    expect([foreign.status, missing.status]).toEqual([404, 404]);
    const foreignText = await foreign.text();
    expect(foreignText).toBe(await missing.text());
    expect(foreignText).not.toContain("USD");
    expect(await availableOf(merchantBa(merchant.id))).toBe(10_000);
  });
});

describe("insufficient funds", () => {
  it("422 and nothing moves when the source's available lacks the amount; the answer is kept under its key", async () => {
    const { merchant } = await fundedCustomer(500);
    const other = await createMerchant();
    const key = uniqueId("idem");
    const body = { from_balance_account: merchantBa(merchant.id), to_balance_account: merchantBa(other.id), amount: 501 };
    const refused = await postTransfer(merchant.api_key, body, key);
    expect(refused.status).toBe(422);
    expect((await problemOf(refused)).code).toBe("insufficient_funds");
    const again = await postTransfer(merchant.api_key, body, key);
    expect(again.status).toBe(422);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await availableOf(merchantBa(merchant.id))).toBe(500);
    expect((await listAll<TransferBody>("/v1/transfers", merchant.api_key)).data).toEqual([]);
    expect((await postTransfer(merchant.api_key, { ...body, amount: 500 })).status).toBe(201);
    expect(await availableOf(merchantBa(merchant.id))).toBe(0);
    await expectInvariants();
  });
});

describe("balance overflow", () => {
  it("a transfer taking the destination past 2^53 − 1 is 422 invalid_state naming no internals, nothing moves, the key replays it; what still fits moves", async () => {
    const { merchant } = await fundedCustomer(1_000);
    const other = await createMerchant();
    const to = merchantAccount(other.id, "ARS").id;
    // Only D1 can hold such a balance here: raise the destination's cached credits directly,
    // and take them back at the end so the invariants hold again.
    const injected = Number.MAX_SAFE_INTEGER - 100;
    const shift = (delta: number) => env.DB.prepare("UPDATE ledger_accounts SET posted_credits = posted_credits + ? WHERE id = ?").bind(delta, to).run();
    await shift(injected);
    try {
      const key = uniqueId("idem");
      const body = { from_balance_account: merchantBa(merchant.id), to_balance_account: merchantBa(other.id), amount: 101 };
      const refused = await postTransfer(merchant.api_key, body, key);
      expect(refused.status).toBe(422);
      const problem = await problemOf(refused);
      expect(problem.code).toBe("invalid_state");
      expect(problem.detail).toContain(String(Number.MAX_SAFE_INTEGER));
      const again = await postTransfer(merchant.api_key, body, key);
      expect(again.status).toBe(422);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(await availableOf(merchantBa(merchant.id))).toBe(1_000);
      expect(await availableOf(merchantBa(other.id))).toBe(injected);
      expect((await listAll<TransferBody>("/v1/transfers", merchant.api_key)).data).toEqual([]);
      expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM ledger_entries WHERE ledger_account_id = ?").bind(to).first("n")).toBe(0);

      expect((await postTransfer(merchant.api_key, { ...body, amount: 100 })).status).toBe(201);
      expect(await availableOf(merchantBa(other.id))).toBe(Number.MAX_SAFE_INTEGER);
    } finally {
      await shift(-injected);
    }
    expect(await availableOf(merchantBa(other.id))).toBe(100);
    await expectInvariants();
  });
});

describe("idempotency", () => {
  it("the same key and body replays the first answer (Idempotent-Replayed) and moves once; any field changed is 422 idempotency_key_reused", async () => {
    const { merchant } = await fundedCustomer(10_000);
    const other = await createMerchant();
    const third = await createMerchant();
    const key = uniqueId("idem");
    const body = { from_balance_account: merchantBa(merchant.id), to_balance_account: merchantBa(other.id), amount: 1_000, currency: "ARS", description: "a" };
    const first = await postTransfer(merchant.api_key, body, key);
    expect(first.status).toBe(201);
    const firstBody = await first.text();
    const replay = await postTransfer(merchant.api_key, body, key);
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await replay.text()).toBe(firstBody);

    const changed = [{ amount: 1_001 }, { to_balance_account: merchantBa(third.id) }, { from_balance_account: merchantBa(other.id) }, { description: "b" }, { description: null }];
    for (const change of changed) {
      const response = await postTransfer(merchant.api_key, { ...body, ...change }, key);
      expect(response.status, JSON.stringify(change)).toBe(422);
      expect((await problemOf(response)).code).toBe("idempotency_key_reused");
    }
    expect(await availableOf(merchantBa(merchant.id))).toBe(9_000);
    expect(await availableOf(merchantBa(other.id))).toBe(1_000);
    await expectInvariants();
  });

  it("the same key at once: one transfer, moved once", async () => {
    const { merchant } = await fundedCustomer(10_000);
    const other = await createMerchant();
    const key = uniqueId("idem");
    const body = { from_balance_account: merchantBa(merchant.id), to_balance_account: merchantBa(other.id), amount: 1_000 };
    const responses = await Promise.all(Array.from({ length: 6 }, () => postTransfer(merchant.api_key, body, key)));
    const statuses = responses.map((response) => response.status);
    expect(statuses.every((status) => status === 201 || status === 409)).toBe(true);
    const ids = new Set(await Promise.all(responses.filter((response) => response.status === 201).map(async (response) => ((await response.json()) as TransferBody).id)));
    expect(ids.size).toBe(1);
    expect(await availableOf(merchantBa(merchant.id))).toBe(9_000);
    expect((await listAll<TransferBody>("/v1/transfers", merchant.api_key)).data).toHaveLength(1);
    await expectInvariants();
  });

  it("a request that outlived its key's lock cannot store a stale 422 over the transfer a retry made: the key completes in the transfer's batch", async () => {
    const { merchant } = await fundedCustomer(10_000);
    const other = await createMerchant();
    const key = uniqueId("idem");
    const body = { from_balance_account: merchantBa(merchant.id), to_balance_account: merchantBa(other.id), amount: 1_000 };
    // Attempt A holds the claim, still running, its lock expired (it will answer 422 later).
    const fingerprint = await sha256Hex(`POST /v1/transfers\n${JSON.stringify(body)}`);
    const claimId = uniqueId("claim");
    await env.DB.prepare("INSERT INTO idempotency_keys (caller, key, claim_id, fingerprint, state, locked_until, created_at) VALUES (?, ?, ?, ?, 'in_flight', 0, ?)")
      .bind(merchant.id, key, claimId, fingerprint, Date.now())
      .run();
    // Retry B takes the claim over and moves; it dies right after its batch (before any write
    // after the handler), as a slow isolate would be overtaken.
    armFault("transfer.after_batch");
    expect((await postTransfer(merchant.api_key, body, key)).status).toBe(500);
    expect(await availableOf(merchantBa(other.id))).toBe(1_000);
    // A now stores its refusal exactly as the middleware does: only over an in-flight claim.
    const stale = JSON.stringify({ code: "insufficient_funds" });
    await env.DB.prepare(
      "UPDATE idempotency_keys SET state = 'completed', response_status = 422, response_body = ? WHERE caller = ? AND key = ? AND claim_id = ? AND state = 'in_flight'",
    )
      .bind(stale, merchant.id, key, claimId)
      .run();
    // The key answers the transfer that exists, never A's 422.
    const replay = await postTransfer(merchant.api_key, body, key);
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    const transfer = (await replay.json()) as TransferBody;
    const got = await api(`/v1/transfers/${transfer.id}`, { headers: headersOf(merchant.api_key) });
    expect(await got.json()).toEqual(transfer);
    expect((await listAll<TransferBody>("/v1/transfers", merchant.api_key)).data.map((row) => row.id)).toEqual([transfer.id]);
    expect(await availableOf(merchantBa(merchant.id))).toBe(9_000);
    await expectInvariants();
  });

  it("a crash after the write: the retry with the same body finds the same transfer; another body is 422 by the log and 409 by the transfer's own data if the log is bypassed", async () => {
    const { merchant } = await fundedCustomer(10_000);
    const other = await createMerchant();
    const key = uniqueId("idem");
    const body = { from_balance_account: merchantBa(merchant.id), to_balance_account: merchantBa(other.id), amount: 1_000 };
    armFault("transfer.after_batch");
    expect((await postTransfer(merchant.api_key, body, key)).status).toBe(500);
    expect(await availableOf(merchantBa(merchant.id))).toBe(9_000);

    const bigger = { ...body, amount: 5_000 };
    expect((await postTransfer(merchant.api_key, bigger, key)).status).toBe(422);
    // Defence in depth: the log's record made to carry the bigger request's fingerprint, as if
    // the log had failed to tell them apart. The transfer id (same claim) still refuses other data.
    const fingerprint = await sha256Hex(`POST /v1/transfers\n${JSON.stringify(bigger)}`);
    // (The crashed attempt completed the key with its 201 in the transfer's batch: reopen it too.)
    await env.DB.prepare("UPDATE idempotency_keys SET fingerprint = ?, state = 'in_flight', locked_until = 0, response_status = NULL, response_body = NULL WHERE key = ?")
      .bind(fingerprint, key)
      .run();
    const forged = await postTransfer(merchant.api_key, bigger, key);
    expect(forged.status).toBe(409);
    expect((await problemOf(forged)).code).toBe("conflict");
    expect(await availableOf(merchantBa(merchant.id))).toBe(9_000);

    // The log's record restored: the first body, retried, answers the transfer the crash left.
    const original = await sha256Hex(`POST /v1/transfers\n${JSON.stringify(body)}`);
    await env.DB.prepare("UPDATE idempotency_keys SET fingerprint = ?, state = 'in_flight', locked_until = 0, response_status = NULL, response_body = NULL WHERE key = ?")
      .bind(original, key)
      .run();
    const retry = await postTransfer(merchant.api_key, body, key);
    expect(retry.status).toBe(201);
    expect(((await retry.json()) as TransferBody).amount).toBe(1_000);
    expect(await availableOf(merchantBa(merchant.id))).toBe(9_000);
    expect(await availableOf(merchantBa(other.id))).toBe(1_000);
    expect((await listAll<TransferBody>("/v1/transfers", merchant.api_key)).data).toHaveLength(1);
    await expectInvariants();
  });
});

describe("top-ups", () => {
  it("from the platform's balance account by default, or a named source; never a reserve; operator only; Idempotency-Key required", async () => {
    const { merchant: funder } = await fundedCustomer(10_000);
    const merchant = await createMerchant();
    // The platform's account has money only once something moved there.
    expect((await postTransfer(null, { from_balance_account: merchantBa(funder.id), to_balance_account: platformBa(), amount: 4_000 })).status).toBe(201);
    // Other tests of this file share the platform's account: what it holds now.
    const platformBefore = await availableOf(platformBa());

    const topUp = await postTopUp(merchant.id, { amount: 1_500 });
    expect(topUp.status).toBe(201);
    expect(await topUp.json()).toMatchObject({ kind: "top_up", status: "completed", from_balance_account: platformBa(), to_balance_account: merchantBa(merchant.id), amount: 1_500 });
    const fromFunder = await postTopUp(merchant.id, { amount: 500, source: merchantBa(funder.id), description: "advance" });
    expect(fromFunder.status).toBe(201);
    expect(await availableOf(merchantBa(merchant.id))).toBe(2_000);
    expect(await availableOf(platformBa())).toBe(platformBefore - 1_500);

    const tooMuch = await postTopUp(merchant.id, { amount: platformBefore - 1_500 + 1 });
    expect(tooMuch.status).toBe(422);
    expect((await problemOf(tooMuch)).code).toBe("insufficient_funds");
    await expectFieldError(await postTopUp(merchant.id, { amount: 1, source: reserveBa(funder.id) }), "source");
    await expectFieldError(await postTopUp(merchant.id, { amount: 1, source: merchantBa(merchant.id) }), "source");
    await expectFieldError(await postTopUp(merchant.id, { amount: 0 }), "amount");
    await expectFieldError(await postTopUp(merchant.id, { amount: 1 }, null), "header.Idempotency-Key");
    expect((await postTopUp("mer_nobody", { amount: 1 })).status).toBe(404);
    const missingSource = await postTopUp(merchant.id, { amount: 1, source: "ba_mnobody_ars" });
    expect(missingSource.status).toBe(404);
    expect((await problemOf(missingSource)).errors?.map((error) => error.path)).toEqual(["source"]);
    expect((await postTopUp(merchant.id, { amount: 1 }, uniqueId("idem"), merchant.api_key)).status).toBe(403);

    const listed = await listAll<TransferBody>("/v1/transfers", merchant.api_key, "kind=top_up");
    expect(listed.data.map((row) => row.amount).sort((x, y) => x - y)).toEqual([500, 1_500]);
    await expectInvariants();
  });
});
