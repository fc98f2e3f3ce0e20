/**
 * Commission arithmetic (src/commission/fee.ts) and the per-isolate pricing cache
 * (src/commission/pricing-cache.ts): fee = min(amount, floor(amount × bps / 10000) + fixed).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cashInFee } from "../../src/commission/fee";
import { PricingCache } from "../../src/commission/pricing-cache";
import { writePricing } from "../../src/commission/pricing";
import { createMerchant } from "../helpers";

const price = (cash_in_fee_bps: number, cash_in_fee_fixed = 0) => ({ cash_in_fee_bps, cash_in_fee_fixed });

/**
 * A D1 whose pricing reads this test answers: readPricing sends its drizzle read as a batch of
 * one (src/metrics.ts, timedRead), so `read` answers the batch's one row (keys in column order,
 * as D1 gives them) or throws as D1 would.
 */
function answeringD1(read: () => Promise<unknown>): D1Database {
  return {
    prepare: () => ({ bind: () => ({}) }),
    batch: async () => [{ results: [await read()], meta: {} }],
  } as unknown as D1Database;
}

describe("cashInFee", () => {
  it("rounds the proportional part down to the minor unit", () => {
    expect(cashInFee(10_000, price(150))).toBe(150); // exact
    expect(cashInFee(9_999, price(150))).toBe(149); // 149.985 → 149
    expect(cashInFee(66, price(150))).toBe(0); // 0.99 → 0
    expect(cashInFee(1, price(9_999))).toBe(0); // 0.9999 → 0
  });

  it("charges a fixed fee alone, or added to the proportional part", () => {
    expect(cashInFee(50_000, price(0, 300))).toBe(300);
    expect(cashInFee(9_999, price(150, 300))).toBe(449);
  });

  it("charges a proportional fee alone", () => {
    expect(cashInFee(123_456, price(250))).toBe(3_086); // 3086.4
  });

  it("never charges more than the amount: the customer is credited in full and the merchant's net is never negative", () => {
    expect(cashInFee(100, price(0, 101))).toBe(100);
    expect(cashInFee(100, price(0, 100))).toBe(100);
    expect(cashInFee(100, price(10_000))).toBe(100);
    expect(cashInFee(100, price(10_000, 5))).toBe(100);
    expect(cashInFee(1, price(0, 1_000_000_000_000))).toBe(1);
  });

  it("charges nothing with no pricing, or a pricing of zero", () => {
    expect(cashInFee(50_000, null)).toBe(0);
    expect(cashInFee(50_000, price(0, 0))).toBe(0);
  });

  it("is exact for amounts near 2^53 (amount × bps passes 2^53: bigint)", () => {
    const amount = Number.MAX_SAFE_INTEGER; // 9007199254740991
    // floor(9007199254740991 × 3 / 10000) = 2702159776422 (2702159776422.2973)
    expect(cashInFee(amount, price(3))).toBe(2_702_159_776_422);
    expect(cashInFee(amount, price(10_000))).toBe(amount);
    expect(cashInFee(amount, price(9_000, 1_000_000_000_000))).toBe(Number((BigInt(amount) * 9_000n) / 10_000n) + 1_000_000_000_000);
    expect(cashInFee(amount, price(9_999, 1_000_000_000_000))).toBe(amount); // capped
  });
});

describe("PricingCache", () => {
  it("serves a price for at most its TTL after the read, caches 'no price' too, and forgets on demand", async () => {
    const merchant = await createMerchant();
    let now = 1_000_000;
    const cache = new PricingCache(5_000, 100, () => now);
    expect(await cache.pricingOf(env.DB, merchant.id)).toBeNull();

    await writePricing(env.DB, merchant.id, price(200, 7), Date.now());
    now += 4_999; // still fresh: the cached "no price"
    expect(await cache.pricingOf(env.DB, merchant.id)).toBeNull();
    now += 1; // the TTL has passed: read again
    expect(await cache.pricingOf(env.DB, merchant.id)).toEqual(price(200, 7));

    await writePricing(env.DB, merchant.id, price(300), Date.now());
    expect(await cache.pricingOf(env.DB, merchant.id)).toEqual(price(200, 7)); // stale, within the TTL
    cache.forget(merchant.id); // the isolate that changed it
    expect(await cache.pricingOf(env.DB, merchant.id)).toEqual(price(300));

    now -= 10_000; // a clock that went back proves nothing about an entry's age
    await writePricing(env.DB, merchant.id, price(400), Date.now());
    expect(await cache.pricingOf(env.DB, merchant.id)).toEqual(price(400));
  });

  it("a read in flight when the price is forgotten returns what it found but does not cache it (found by review)", async () => {
    // A D1 whose reads this test answers: the cash-in's read began before the pricing POST's
    // upsert landed, and answers the old price after the POST has forgotten the entry.
    const answers: ((row: unknown) => void)[] = [];
    let reads = 0;
    const d1 = answeringD1(() => (reads++, new Promise((resolve) => answers.push(resolve))));
    const row = (bps: number) => ({ merchant_id: "mer_x", cash_in_fee_bps: bps, cash_in_fee_fixed: 0, created_at: 0, updated_at: 0 });
    const cache = new PricingCache(5_000, 100, () => 1_000_000);

    const racing = cache.pricingOf(d1, "mer_x");
    cache.forget("mer_x"); // the POST wrote 300 bps and forgot
    answers.shift()!(row(100)); // the read began before the write: it saw 100
    expect(await racing).toEqual(price(100));

    const next = cache.pricingOf(d1, "mer_x"); // must not be served the stale 100 from memory
    expect(reads).toBe(2);
    answers.shift()!(row(300));
    expect(await next).toEqual(price(300));
    expect(await cache.pricingOf(d1, "mer_x")).toEqual(price(300)); // a read begun after the forget is cached
    expect(reads).toBe(2);
  });

  it("serves the expired entry while D1 fails to answer, reads D1 again once it does; with no entry the error stands (found by review)", async () => {
    let failing = false;
    let bps = 100;
    const d1 = answeringD1(async () => {
      if (failing) throw new Error("D1_ERROR: Network connection lost.");
      return { merchant_id: "mer_x", cash_in_fee_bps: bps, cash_in_fee_fixed: 0, created_at: 0, updated_at: 0 };
    });
    let now = 1_000_000;
    const cache = new PricingCache(5_000, 100, () => now);
    expect(await cache.pricingOf(d1, "mer_x")).toEqual(price(100));

    failing = true;
    now += 60_000; // long expired
    expect(await cache.pricingOf(d1, "mer_x")).toEqual(price(100));
    await expect(cache.pricingOf(d1, "mer_never_read")).rejects.toThrow(/Network connection lost/);

    failing = false;
    bps = 200;
    expect(await cache.pricingOf(d1, "mer_x")).toEqual(price(200)); // served stale, not refreshed: D1 is asked again

    failing = true;
    cache.forget("mer_x"); // changed here: the old price is not to be trusted any more
    await expect(cache.pricingOf(d1, "mer_x")).rejects.toThrow(/Network connection lost/);
  });
});
