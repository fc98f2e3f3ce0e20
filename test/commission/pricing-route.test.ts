/** POST and GET /v1/merchants/{id}/pricing (API §12): the operator's, validated, 404 for an unknown merchant. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, bearer, createMerchant, expectFieldError, operatorHeaders } from "../helpers";
import { postPricing } from "./commission-helpers";

describe("POST /v1/merchants/{id}/pricing", () => {
  it("sets the pricing (fixed defaults to 0), replaces it on a second call, and GET shows it", async () => {
    const merchant = await createMerchant();
    const never = await api(`/v1/merchants/${merchant.id}/pricing`, { headers: operatorHeaders() });
    expect(never.status).toBe(200);
    expect(await never.json()).toEqual({ merchant_id: merchant.id, cash_in_fee_bps: 0, cash_in_fee_fixed: 0, updated_at: null });

    const first = await postPricing(merchant.id, { cash_in_fee_bps: 150 });
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ merchant_id: merchant.id, cash_in_fee_bps: 150, cash_in_fee_fixed: 0, updated_at: expect.any(String) });

    const second = await postPricing(merchant.id, { cash_in_fee_bps: 0, cash_in_fee_fixed: 500 });
    expect(second.status).toBe(200);
    const read = await api(`/v1/merchants/${merchant.id}/pricing`, { headers: operatorHeaders() });
    expect(await read.json()).toMatchObject({ cash_in_fee_bps: 0, cash_in_fee_fixed: 500 });
  });

  it.each([
    ["a fraction", { cash_in_fee_bps: 1.5 }, "cash_in_fee_bps"],
    ["a string", { cash_in_fee_bps: "150" }, "cash_in_fee_bps"],
    ["negative", { cash_in_fee_bps: -1 }, "cash_in_fee_bps"],
    ["past 100%", { cash_in_fee_bps: 10_001 }, "cash_in_fee_bps"],
    ["missing", { cash_in_fee_fixed: 10 }, "cash_in_fee_bps"],
    ["a negative fixed fee", { cash_in_fee_bps: 0, cash_in_fee_fixed: -1 }, "cash_in_fee_fixed"],
    ["a fractional fixed fee", { cash_in_fee_bps: 0, cash_in_fee_fixed: 0.5 }, "cash_in_fee_fixed"],
    ["a fixed fee past its bound", { cash_in_fee_bps: 0, cash_in_fee_fixed: 1_000_000_000_001 }, "cash_in_fee_fixed"],
    ["null fixed fee", { cash_in_fee_bps: 0, cash_in_fee_fixed: null }, "cash_in_fee_fixed"],
    ["an unknown field", { cash_in_fee_bps: 0, currency: "ARS" }, "currency"],
  ])("refuses %s (400 naming the field) and changes nothing", async (_, body, field) => {
    const merchant = await createMerchant();
    await expectFieldError(await postPricing(merchant.id, body), field);
    const read = await api(`/v1/merchants/${merchant.id}/pricing`, { headers: operatorHeaders() });
    expect(await read.json()).toMatchObject({ cash_in_fee_bps: 0, cash_in_fee_fixed: 0, updated_at: null });
  });

  it("accepts the bounds: 0 and 10000 bps, a fixed fee of 10^12", async () => {
    const merchant = await createMerchant();
    expect((await postPricing(merchant.id, { cash_in_fee_bps: 0, cash_in_fee_fixed: 0 })).status).toBe(200);
    expect((await postPricing(merchant.id, { cash_in_fee_bps: 10_000, cash_in_fee_fixed: 1_000_000_000_000 })).status).toBe(200);
  });

  it("answers 404 for an unknown merchant, on POST and GET, and stores nothing", async () => {
    const missing = "mer_0000000000000000000000000";
    const post = await postPricing(missing, { cash_in_fee_bps: 100 });
    expect(post.status).toBe(404);
    expect(((await post.json()) as { code: string }).code).toBe("not_found");
    expect((await api(`/v1/merchants/${missing}/pricing`, { headers: operatorHeaders() })).status).toBe(404);
    const stored = await env.DB.prepare("SELECT COUNT(*) AS n FROM merchant_pricing WHERE merchant_id = ?").bind(missing).first<{ n: number }>();
    expect(stored!.n).toBe(0);
  });

  it("is the operator's: a merchant key is 403 (even for itself), no key 401", async () => {
    const merchant = await createMerchant();
    const own = await postPricing(merchant.id, { cash_in_fee_bps: 0 }, bearer(merchant.api_key));
    expect(own.status).toBe(403);
    expect((await api(`/v1/merchants/${merchant.id}/pricing`, { headers: bearer(merchant.api_key) })).status).toBe(403);
    expect((await postPricing(merchant.id, { cash_in_fee_bps: 0 }, {})).status).toBe(401);
    const read = await api(`/v1/merchants/${merchant.id}/pricing`, { headers: operatorHeaders() });
    expect(await read.json()).toMatchObject({ updated_at: null });
  });
});
