import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/crypto";
import { database } from "../../src/db/client";
import { pruneIdempotencyKeys } from "../../src/middleware/idempotency";
import { limits } from "../../src/limits";
import { api, bearer, createMerchant, expectNoInternals, fetchWithFailingBatches, json, operatorHeaders, randomCuit } from "../helpers";

function freshKey(): string {
  return `test-${crypto.randomUUID()}`;
}

interface StoredRow {
  claim_id: string;
  fingerprint: string;
  state: string;
  response_status: number | null;
  response_body: string | null;
  locked_until: number;
  created_at: number;
}

async function storedRows(caller: string, key: string): Promise<StoredRow[]> {
  const { results } = await env.DB.prepare("SELECT * FROM idempotency_keys WHERE caller = ? AND key = ?").bind(caller, key).all<StoredRow>();
  return results;
}

/** Moves a stored key back past its retention, as if it had been used long ago. */
async function expire(caller: string, key: string): Promise<void> {
  await env.DB.prepare("UPDATE idempotency_keys SET created_at = ? WHERE caller = ? AND key = ?")
    .bind(Date.now() - limits.idempotency_retention_ms - 60_000, caller, key)
    .run();
}

async function send(path: string, body: unknown, headers: Record<string, string>) {
  const response = await api(path, json(body, headers));
  return { status: response.status, replayed: response.headers.get("idempotent-replayed"), text: await response.text() };
}

describe("Idempotency-Key on POST /v1/customers", () => {
  it("replays the first response with Idempotent-Replayed: true", async () => {
    const merchant = await createMerchant();
    const headers = { ...bearer(merchant.api_key), "idempotency-key": freshKey() };
    const body = { cuit: randomCuit(), name: "Once" };
    const first = await send("/v1/customers", body, headers);
    expect(first.status).toBe(201);
    expect(first.replayed).toBeNull();
    const second = await send("/v1/customers", body, headers);
    expect(second).toEqual({ status: 201, replayed: "true", text: first.text });
  });

  it("answers 422 idempotency_key_reused for the same key with a different body", async () => {
    const merchant = await createMerchant();
    const headers = { ...bearer(merchant.api_key), "idempotency-key": freshKey() };
    expect((await send("/v1/customers", { cuit: randomCuit(), name: "First" }, headers)).status).toBe(201);
    const reused = await send("/v1/customers", { cuit: randomCuit(), name: "Second" }, headers);
    expect(reused.status).toBe(422);
    expect(JSON.parse(reused.text).code).toBe("idempotency_key_reused");
  });

  it("answers 409 idempotency_key_in_flight while the first request holds the key", async () => {
    const merchant = await createMerchant();
    const key = freshKey();
    const body = JSON.stringify({ cuit: randomCuit(), name: "Slow" });
    const now = Date.now();
    // Exactly what the middleware writes when a first request starts (same fingerprint).
    await env.DB.prepare(
      "INSERT INTO idempotency_keys (caller, key, claim_id, fingerprint, state, locked_until, created_at) VALUES (?, ?, 'claim-slow', ?, 'in_flight', ?, ?)",
    )
      .bind(merchant.id, key, await sha256Hex(`POST /v1/customers\n${body}`), now + 60_000, now)
      .run();
    const response = await api("/v1/customers", {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key, ...bearer(merchant.api_key) },
      body,
    });
    expect(response.status).toBe(409);
    expect(((await response.json()) as { code: string }).code).toBe("idempotency_key_in_flight");
  });

  it("lets exactly one of two concurrent duplicates run", async () => {
    const merchant = await createMerchant();
    const headers = { ...bearer(merchant.api_key), "idempotency-key": freshKey() };
    const body = { cuit: randomCuit(), name: "Twins" };
    const results = await Promise.all([send("/v1/customers", body, headers), send("/v1/customers", body, headers)]);
    const fresh = results.filter((result) => result.status === 201 && result.replayed === null);
    expect(fresh).toHaveLength(1);
    const other = results.find((result) => result !== fresh[0])!;
    if (other.status === 409) expect(JSON.parse(other.text).code).toBe("idempotency_key_in_flight");
    else expect(other).toEqual({ status: 201, replayed: "true", text: fresh[0]!.text });
  });

  it("scopes keys to the caller", async () => {
    const [first, second] = await Promise.all([createMerchant(), createMerchant()]);
    const key = freshKey();
    const a = await send("/v1/customers", { cuit: randomCuit(), name: "A" }, { ...bearer(first.api_key), "idempotency-key": key });
    const b = await send("/v1/customers", { cuit: randomCuit(), name: "B" }, { ...bearer(second.api_key), "idempotency-key": key });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.replayed).toBeNull();
    expect(JSON.parse(a.text).id).not.toBe(JSON.parse(b.text).id);
  });

  it.each([
    ["too long", "k".repeat(256)],
    ["non-ASCII", "clé-é"],
    ["a control character", "a\tb"],
  ])("refuses a key that is %s with 400", async (_label, key) => {
    const merchant = await createMerchant();
    const response = await send("/v1/customers", { cuit: randomCuit(), name: "Key" }, { ...bearer(merchant.api_key), "idempotency-key": key });
    expect(response.status).toBe(400);
    const problem = JSON.parse(response.text) as { code: string; errors: Array<{ path: string }> };
    expect(problem.code).toBe("invalid_request");
    expect(problem.errors[0]?.path).toBe("header.Idempotency-Key");
  });

  it("accepts a key of exactly 255 printable characters", async () => {
    const merchant = await createMerchant();
    const response = await send("/v1/customers", { cuit: randomCuit(), name: "Key" }, { ...bearer(merchant.api_key), "idempotency-key": `~ ${"k".repeat(253)}` });
    expect(response.status).toBe(201);
  });

  it.each([
    ["a field that fails validation", JSON.stringify({ cuit: "20-12345678-0", name: "Bad" })],
    ["malformed JSON", '{"cuit": "20'],
    ["an unknown field", JSON.stringify({ cuit: "20123456786", name: "Bad", balance: 1 })],
  ])("does not record a 400 for %s: the fixed request with the same key runs", async (_label, badBody) => {
    const merchant = await createMerchant();
    const key = freshKey();
    const headers = { "content-type": "application/json", ...bearer(merchant.api_key), "idempotency-key": key };
    const refused = await api("/v1/customers", { method: "POST", headers, body: badBody });
    expect(refused.status).toBe(400);
    expect(refused.headers.get("idempotent-replayed")).toBeNull();
    expect(await storedRows(merchant.id, key)).toEqual([]);
    // The same bad request again is refused again, afresh (not a replay).
    const again = await api("/v1/customers", { method: "POST", headers, body: badBody });
    expect(again.status).toBe(400);
    expect(again.headers.get("idempotent-replayed")).toBeNull();

    const fixed = await send("/v1/customers", { cuit: randomCuit(), name: "Fixed" }, { ...bearer(merchant.api_key), "idempotency-key": key });
    expect(fixed.status).toBe(201);
    expect(fixed.replayed).toBeNull();
    expect(await storedRows(merchant.id, key)).toEqual([expect.objectContaining({ state: "completed", response_status: 201 })]);
  });

  it("keeps the fingerprint after a 5xx, with the lock released: the same body runs again at once, another body is 422", async () => {
    const merchant = await createMerchant();
    const key = freshKey();
    const body = { cuit: randomCuit(), name: "Retry" };
    const failed = await fetchWithFailingBatches(
      "/v1/customers",
      json(body, { ...bearer(merchant.api_key), "idempotency-key": key }),
      "injected D1 outage",
    );
    expect(failed.status).toBe(500);
    expectNoInternals(await failed.text());

    const [afterFailure] = await storedRows(merchant.id, key);
    expect(afterFailure).toMatchObject({ state: "in_flight", locked_until: 0, response_body: null });
    expect(afterFailure!.fingerprint).toBe(await sha256Hex(`POST /v1/customers\n${JSON.stringify(body)}`));

    const other = await send("/v1/customers", { cuit: randomCuit(), name: "Another" }, { ...bearer(merchant.api_key), "idempotency-key": key });
    expect(other.status).toBe(422);
    expect(JSON.parse(other.text).code).toBe("idempotency_key_reused");

    const retried = await send("/v1/customers", body, { ...bearer(merchant.api_key), "idempotency-key": key });
    expect(retried.status).toBe(201);
    expect(retried.replayed).toBeNull();
    const [afterRetry] = await storedRows(merchant.id, key);
    // The retry ran under the same claim: whatever the first attempt derived, it derives again.
    expect(afterRetry).toMatchObject({ state: "completed", response_status: 201, claim_id: afterFailure!.claim_id });
    expect(await send("/v1/customers", body, { ...bearer(merchant.api_key), "idempotency-key": key })).toEqual({ status: 201, replayed: "true", text: retried.text });
  });

  it("keeps a started claim when a retry of it is refused by validation", async () => {
    // A first attempt that started and died (lock expired) with a body that now fails
    // validation: the refusal must not forget the claim, or another body could take the key.
    const merchant = await createMerchant();
    const key = freshKey();
    const body = JSON.stringify({ cuit: "20-12345678-0", name: "Now invalid" });
    await env.DB.prepare(
      "INSERT INTO idempotency_keys (caller, key, claim_id, fingerprint, state, locked_until, created_at) VALUES (?, ?, 'claim-started', ?, 'in_flight', 0, ?)",
    )
      .bind(merchant.id, key, await sha256Hex(`POST /v1/customers\n${body}`), Date.now())
      .run();
    const refused = await api("/v1/customers", { method: "POST", headers: { "content-type": "application/json", ...bearer(merchant.api_key), "idempotency-key": key }, body });
    expect(refused.status).toBe(400);
    expect(await storedRows(merchant.id, key)).toEqual([expect.objectContaining({ claim_id: "claim-started", state: "in_flight", locked_until: 0 })]);
    const other = await send("/v1/customers", { cuit: randomCuit(), name: "Other" }, { ...bearer(merchant.api_key), "idempotency-key": key });
    expect(other.status).toBe(422);
  });

  it("takes over a claim whose request died (lock expired), keeping its claim id", async () => {
    const merchant = await createMerchant();
    const key = freshKey();
    const body = JSON.stringify({ cuit: randomCuit(), name: "Orphan" });
    const now = Date.now();
    await env.DB.prepare(
      "INSERT INTO idempotency_keys (caller, key, claim_id, fingerprint, state, locked_until, created_at) VALUES (?, ?, 'claim-orphan', ?, 'in_flight', ?, ?)",
    )
      .bind(merchant.id, key, await sha256Hex(`POST /v1/customers\n${body}`), now - 1, now - 120_000)
      .run();
    const response = await api("/v1/customers", { method: "POST", headers: { "content-type": "application/json", ...bearer(merchant.api_key), "idempotency-key": key }, body });
    expect(response.status).toBe(201);
    expect(await storedRows(merchant.id, key)).toEqual([expect.objectContaining({ claim_id: "claim-orphan", state: "completed" })]);
  });

  it("claims a key afresh after its retention, with a new claim id, whether the cron pruned it or the claim finds it stale", async () => {
    const merchant = await createMerchant();
    const headers = { ...bearer(merchant.api_key), "idempotency-key": freshKey() };
    const key = headers["idempotency-key"];
    const body = { cuit: randomCuit(), name: "Old" };
    const first = await send("/v1/customers", body, headers);
    expect(first.status).toBe(201);
    const [original] = await storedRows(merchant.id, key);

    // Stale in place: the next claim removes it and inserts a new one.
    await expire(merchant.id, key);
    const afterStale = await send("/v1/customers", body, headers);
    expect(afterStale.replayed).toBeNull();
    expect(afterStale.status).toBe(200); // a new request: the CUIT is now known, so 200 with the same customer
    const [reclaimed] = await storedRows(merchant.id, key);
    expect(reclaimed!.claim_id).not.toBe(original!.claim_id);
    expect(reclaimed!.response_status).toBe(200);

    // Pruned by the cron first: the next claim inserts a new one.
    await expire(merchant.id, key);
    await pruneIdempotencyKeys(database(env.DB), Date.now());
    expect(await storedRows(merchant.id, key)).toEqual([]);
    const afterPrune = await send("/v1/customers", { cuit: randomCuit(), name: "Another body" }, headers);
    expect(afterPrune).toMatchObject({ status: 201, replayed: null });
    const [pruned] = await storedRows(merchant.id, key);
    expect(new Set([original!.claim_id, reclaimed!.claim_id, pruned!.claim_id]).size).toBe(3);
  });
});

describe("Idempotency-Key on POST /v1/merchants", () => {
  it("replays the creation without its secrets, and without creating a second merchant", async () => {
    const headers = { ...operatorHeaders(), "idempotency-key": freshKey() };
    const name = `Idempotent ${crypto.randomUUID()}`;
    const first = await send("/v1/merchants", { name }, headers);
    expect(first.status).toBe(201);
    const created = JSON.parse(first.text) as Record<string, unknown>;
    expect(created.api_key).toMatch(/^vak_/);
    const second = await send("/v1/merchants", { name }, headers);
    expect(second.status).toBe(201);
    expect(second.replayed).toBe("true");
    // Secrets are shown once: the idempotency log never holds them in clear.
    expect(JSON.parse(second.text)).toEqual({ ...created, api_key: null, webhook_secret: null });
    const log = await env.DB.prepare("SELECT response_body FROM idempotency_keys WHERE key = ?").bind(headers["idempotency-key"]).first<{ response_body: string }>();
    expect(log?.response_body).not.toContain(created.api_key as string);
    expect(log?.response_body).not.toContain(created.webhook_secret as string);
    const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM merchants WHERE name = ?").bind(name).first<{ n: number }>();
    expect(count?.n).toBe(1);
  });

  it("answers 422 for the same key with a different body", async () => {
    const headers = { ...operatorHeaders(), "idempotency-key": freshKey() };
    expect((await send("/v1/merchants", { name: "One" }, headers)).status).toBe(201);
    const reused = await send("/v1/merchants", { name: "Two" }, headers);
    expect(reused.status).toBe(422);
    expect(JSON.parse(reused.text).code).toBe("idempotency_key_reused");
  });

  it("answers 409 while the first creation holds the key", async () => {
    const key = freshKey();
    const body = JSON.stringify({ name: "In flight" });
    const now = Date.now();
    await env.DB.prepare(
      "INSERT INTO idempotency_keys (caller, key, claim_id, fingerprint, state, locked_until, created_at) VALUES ('operator', ?, 'claim-in-flight', ?, 'in_flight', ?, ?)",
    )
      .bind(key, await sha256Hex(`POST /v1/merchants\n${body}`), now + 60_000, now)
      .run();
    const response = await api("/v1/merchants", { method: "POST", headers: { "content-type": "application/json", "idempotency-key": key, ...operatorHeaders() }, body });
    expect(response.status).toBe(409);
    expect(((await response.json()) as { code: string }).code).toBe("idempotency_key_in_flight");
  });

  it("keeps the operator's keys apart from a merchant's", async () => {
    const merchant = await createMerchant();
    const key = freshKey();
    expect((await send("/v1/merchants", { name: "Operator's" }, { ...operatorHeaders(), "idempotency-key": key })).status).toBe(201);
    const theirs = await send("/v1/customers", { cuit: randomCuit(), name: "Merchant's" }, { ...bearer(merchant.api_key), "idempotency-key": key });
    expect(theirs.status).toBe(201);
    expect(theirs.replayed).toBeNull();
  });
});
