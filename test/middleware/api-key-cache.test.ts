/**
 * The per-isolate API-key cache (issue 9, the front door): a revoked key keeps working at most
 * limits.api_key_cache_ms, a new key works at once, a key is never served another's entry.
 *
 * Each test drives its own cache through the real middleware (authenticateWith) over the real
 * D1, with a clock it moves by hand: no sleeping. That cache stands for another isolate of the
 * Worker, one that did not serve the DELETE (the isolate that did forgets the key at once, last
 * describe block). Keys are issued and revoked through the real API.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newRouter } from "../../src/context";
import { sha256Hex } from "../../src/crypto";
import { limits } from "../../src/limits";
import { ApiKeyCache, apiKeyCache } from "../../src/middleware/api-key-cache";
import { authenticateWith } from "../../src/middleware/auth";
import { requestContext } from "../../src/middleware/request-context";
import { api, bearer, createMerchant, json, operatorHeaders, randomCuit } from "../helpers";

const ttl_ms = limits.api_key_cache_ms;

/** A cache on a hand-moved clock, and the count of D1 reads it made. */
function isolate(capacity: number = limits.api_key_cache_entries) {
  const clock = { now_ms: 1_000_000 };
  const cache = new ApiKeyCache({ ttl_ms, capacity, now: () => clock.now_ms });
  const app = newRouter();
  app.use("*", requestContext, authenticateWith(cache));
  app.get("/whoami", (c) => c.json(c.get("caller"), 200));
  let reads = 0;
  const counted = {
    ...env,
    DB: {
      prepare: (query: string) => {
        reads++;
        return env.DB.prepare(query);
      },
    } as unknown as D1Database,
  };
  async function whoami(apiKey: string): Promise<{ status: number; caller: { kind: string; merchantId?: string; keyPrefix?: string } | null }> {
    const context = createExecutionContext();
    const response = await app.fetch(new Request("http://api.test/whoami", { headers: bearer(apiKey) }), counted, context);
    await waitOnExecutionContext(context);
    return { status: response.status, caller: response.status === 200 ? await response.json() : null };
  }
  return { clock, cache, whoami, reads: () => reads };
}

async function issueKey(merchantId: string): Promise<string> {
  const response = await api(`/v1/merchants/${merchantId}/api-keys`, { method: "POST", headers: operatorHeaders() });
  expect(response.status).toBe(201);
  return ((await response.json()) as { api_key: string }).api_key;
}

async function revoke(merchantId: string, apiKey: string): Promise<void> {
  const response = await api(`/v1/merchants/${merchantId}/api-keys/${apiKey.slice(0, 12)}`, { method: "DELETE", headers: operatorHeaders() });
  expect(response.status).toBe(200);
}

describe("a revoked key", () => {
  it("keeps working in an isolate that read it only until api_key_cache_ms after that read, then answers 401", async () => {
    const merchant = await createMerchant();
    const { clock, whoami, reads } = isolate();
    expect(await whoami(merchant.api_key)).toEqual({ status: 200, caller: { kind: "merchant", merchantId: merchant.id, keyPrefix: merchant.api_key.slice(0, 12) } });
    const readAt = clock.now_ms;
    expect(reads()).toBe(1);

    await revoke(merchant.id, merchant.api_key);
    // Within the bound: served from memory, no read (this is the stated cost of the cache).
    clock.now_ms = readAt + ttl_ms - 1;
    expect((await whoami(merchant.api_key)).status).toBe(200);
    expect(reads()).toBe(1);
    // At the bound: read again, and refused.
    clock.now_ms = readAt + ttl_ms;
    expect((await whoami(merchant.api_key)).status).toBe(401);
    expect(reads()).toBe(2);
    // And refused from then on, each time from D1 (a refusal is never cached either way).
    expect((await whoami(merchant.api_key)).status).toBe(401);
    expect(reads()).toBe(3);
  });

  it("is refused at once by an isolate that had not read it before the revocation", async () => {
    const merchant = await createMerchant();
    await revoke(merchant.id, merchant.api_key);
    const { whoami } = isolate();
    expect((await whoami(merchant.api_key)).status).toBe(401);
  });

  it("never lives longer by being used: every use within the bound keeps the first read's age", async () => {
    const merchant = await createMerchant();
    const { clock, whoami } = isolate();
    const readAt = clock.now_ms;
    expect((await whoami(merchant.api_key)).status).toBe(200);
    await revoke(merchant.id, merchant.api_key);
    for (const offset of [1, ttl_ms / 2, ttl_ms - 1]) {
      clock.now_ms = readAt + offset;
      expect((await whoami(merchant.api_key)).status).toBe(200);
    }
    clock.now_ms = readAt + ttl_ms;
    expect((await whoami(merchant.api_key)).status).toBe(401);
  });

  it("is read again, not trusted, when the clock goes back", async () => {
    const merchant = await createMerchant();
    const { clock, whoami } = isolate();
    expect((await whoami(merchant.api_key)).status).toBe(200);
    await revoke(merchant.id, merchant.api_key);
    clock.now_ms -= 1;
    expect((await whoami(merchant.api_key)).status).toBe(401);
  });
});

describe("a new key", () => {
  it("works at once, even in an isolate that was refused it a moment before (a miss is never cached)", async () => {
    const merchant = await createMerchant();
    const { whoami } = isolate();
    // A key not issued yet: what a client would send if it raced its own key's creation.
    const token = `vak_${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}_${"k".repeat(52)}`;
    expect((await whoami(token)).status).toBe(401);
    await env.DB.prepare("INSERT INTO api_keys (prefix, merchant_id, key_hash, created_at) VALUES (?, ?, ?, ?)")
      .bind(token.slice(0, 12), merchant.id, await sha256Hex(token), Date.now())
      .run();
    expect((await whoami(token)).caller).toMatchObject({ merchantId: merchant.id }); // same instant: no clock moved
  });

  it("issued beside a cached one works at once, and revoking the old one leaves it working", async () => {
    const merchant = await createMerchant();
    const { clock, whoami } = isolate();
    expect((await whoami(merchant.api_key)).status).toBe(200);
    const second = await issueKey(merchant.id);
    expect((await whoami(second)).caller).toMatchObject({ merchantId: merchant.id, keyPrefix: second.slice(0, 12) });
    await revoke(merchant.id, merchant.api_key);
    clock.now_ms += ttl_ms;
    expect((await whoami(merchant.api_key)).status).toBe(401);
    expect((await whoami(second)).status).toBe(200);
  });
});

describe("one key, one entry", () => {
  it("never answers a key with another key's merchant, nor a near miss of a cached key", async () => {
    const [first, second] = await Promise.all([createMerchant(), createMerchant()]);
    const { whoami } = isolate();
    expect((await whoami(first.api_key)).caller).toMatchObject({ merchantId: first.id });
    expect((await whoami(second.api_key)).caller).toMatchObject({ merchantId: second.id });
    expect((await whoami(first.api_key)).caller).toMatchObject({ merchantId: first.id });
    // Same prefix, other secret; the prefix alone; one character more: all unknown keys.
    const lastChar = first.api_key.endsWith("a") ? "b" : "a";
    for (const near of [`${first.api_key.slice(0, -1)}${lastChar}`, first.api_key.slice(0, 12), `${first.api_key}a`]) {
      expect((await whoami(near)).status).toBe(401);
    }
  });

  it("keys the cache by the key's SHA-256, never by the key itself", async () => {
    const merchant = await createMerchant();
    const { cache, whoami } = isolate();
    expect((await whoami(merchant.api_key)).status).toBe(200);
    expect(cache.cachedHashes()).toEqual([await sha256Hex(merchant.api_key)]);
  });

  it("holds at most its capacity, least recently used out first (and an evicted key is simply read again)", async () => {
    const merchants = await Promise.all([createMerchant(), createMerchant(), createMerchant()]);
    const { cache, whoami, reads } = isolate(2);
    for (const merchant of merchants) expect((await whoami(merchant.api_key)).status).toBe(200);
    expect(cache.size).toBe(2);
    expect(reads()).toBe(3);
    expect((await whoami(merchants[2]!.api_key)).status).toBe(200); // cached
    expect(reads()).toBe(3);
    expect((await whoami(merchants[0]!.api_key)).status).toBe(200); // evicted: read again
    expect(reads()).toBe(4);
    expect(cache.size).toBe(2);
  });
});

describe("the isolate that serves the DELETE", () => {
  it("forgets the key at once: the very next request with it is 401", async () => {
    const merchant = await createMerchant();
    expect((await api("/v1/merchant", { headers: bearer(merchant.api_key) })).status).toBe(200); // now in apiKeyCache
    expect(apiKeyCache.cachedHashes()).toContain(await sha256Hex(merchant.api_key));
    await revoke(merchant.id, merchant.api_key);
    expect(apiKeyCache.cachedHashes()).not.toContain(await sha256Hex(merchant.api_key));
    const late = await api("/v1/customers", json({ cuit: randomCuit(), name: "Late" }, bearer(merchant.api_key)));
    expect(late.status).toBe(401);
  });
});
