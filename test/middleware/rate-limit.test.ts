import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newApp } from "../../src/app";
import { signatureHeader } from "../../src/bank/signature";
import { BASE_URL, bearer, createMerchant } from "../helpers";

/** A limiter that refuses every request, recording the keys it was asked about. */
function refusing() {
  const keys: string[] = [];
  return { keys, limiter: { limit: async ({ key }: { key: string }) => (keys.push(key), { success: false }) } };
}

describe("rate limiting", () => {
  it("is configured for the Worker (wrangler.toml binds API_RATE_LIMITER)", () => {
    expect(typeof env.API_RATE_LIMITER?.limit).toBe("function");
  });

  it("answers 429 rate_limited with Retry-After once the caller's budget is spent, keyed by merchant", async () => {
    const merchant = await createMerchant();
    const { keys, limiter } = refusing();
    const response = await newApp().fetch(new Request(`${BASE_URL}/v1/merchant`, { headers: bearer(merchant.api_key) }), { ...env, API_RATE_LIMITER: limiter }, createExecutionContext());
    expect(response.status).toBe(429);
    expect(response.headers.get("retry-after")).toBe("10");
    expect(await response.json()).toMatchObject({ code: "rate_limited", status: 429 });
    expect(keys).toEqual([merchant.id]);
  });

  it("never limits the bank's webhook", async () => {
    const { keys, limiter } = refusing();
    const body = JSON.stringify({ id: "evt_rl", type: "payout.completed", created_at: new Date().toISOString(), data: { payout_id: "po_none", bank_transaction_id: "bt" } });
    const request = new Request(`${BASE_URL}/v1/bank/events`, {
      method: "POST",
      headers: { "content-type": "application/json", "bank-signature": await signatureHeader(body, env.BANK_WEBHOOK_SECRET!) },
      body,
    });
    const response = await newApp().fetch(request, { ...env, API_RATE_LIMITER: limiter }, createExecutionContext());
    expect(response.status).toBe(422); // applied (an unknown payout), not refused
    expect(keys).toEqual([]);
  });

  it("does not count unauthenticated requests against anyone", async () => {
    const { keys, limiter } = refusing();
    const response = await newApp().fetch(new Request(`${BASE_URL}/v1/merchant`, { headers: bearer("vak_wrong") }), { ...env, API_RATE_LIMITER: limiter }, createExecutionContext());
    expect(response.status).toBe(401);
    expect(keys).toEqual([]);
  });
});
