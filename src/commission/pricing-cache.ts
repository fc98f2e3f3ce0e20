/**
 * Merchants' cash-in pricing as this isolate last read it, so that a cash-in does not pay a
 * D1 read to learn its fee: D1 stays off the critical path (docs/MONEY.md "Cash-in", step 4).
 *
 * What it may cost, stated once (limits.pricing_cache_ms): a price is used for at most that
 * long after the D1 read that found it began, so a pricing change applies to cash-ins received
 * from at most pricing_cache_ms later (at once in the isolate that served the change, which
 * forgets its entry and any read of it in flight). One exception: while D1 fails to answer,
 * an expired entry is served (and left expired), so a price may then be used for longer than
 * pricing_cache_ms; a cash-in never depends on D1 for a price this isolate already knows. Unlike an API key, "no price" is cached too: it is the common case, and
 * serving it a few seconds after a price was set only charges nothing for those seconds.
 *
 * The fee a cash-in pays is decided once, when it is first credited, and stored with it (the
 * object's projection, the D1 payment): what this cache says later never changes it.
 */
import { BoundedCache } from "../cache";
import { limits } from "../limits";
import { log } from "../log";
import type { Pricing } from "./fee";
import { readPricing } from "./pricing";

interface Entry {
  pricing: Pricing | null;
  /** When the D1 read that found it began (ms). */
  read_at: number;
}

export class PricingCache {
  private readonly entries: BoundedCache<Entry>;
  /**
   * Per merchant, how many times this isolate forgot its price. A read that began before a
   * forget may have seen the old price (D1's upsert had not landed), so it must not store what
   * it found: it stores only if the generation is the one it began with. Found by review: a
   * cash-in's read racing the pricing POST in the same isolate cached the old price for a whole
   * TTL after forget(). Grows only with the merchants whose price this isolate changed (an
   * operator's call each), so a plain Map: an evicted generation could let such a read store.
   */
  private readonly generations = new Map<string, number>();

  constructor(
    readonly ttl_ms: number,
    capacity: number,
    private readonly now: () => number = Date.now,
  ) {
    this.entries = new BoundedCache(capacity);
  }

  /** The merchant's price (null: none), from memory while fresh, else from D1. */
  async pricingOf(d1: D1Database, merchantId: string): Promise<Pricing | null> {
    const now = this.now();
    const hit = this.entries.get(merchantId);
    // A clock that went back proves nothing about the entry's age: read again.
    if (hit !== undefined && now >= hit.read_at && now - hit.read_at < this.ttl_ms) return hit.pricing;
    const generation = this.generationOf(merchantId);
    let row: Awaited<ReturnType<typeof readPricing>>;
    try {
      row = await readPricing(d1, merchantId);
    } catch (error) {
      // D1 unreachable: a cash-in must not fail for want of a price this isolate read before
      // (found by review: it made every cache miss depend on D1). Serve the expired entry,
      // left expired so that the next cash-in tries D1 again; with none (never read, or
      // forgotten after a change here), there is no price to trust: the cash-in fails and
      // the bank redelivers it.
      if (hit !== undefined) {
        log("warn", "pricing read failed; serving the expired price", { merchant_id: merchantId, age_ms: now - hit.read_at, error: String(error) });
        return hit.pricing;
      }
      throw error;
    }
    const pricing = row ? { cash_in_fee_bps: row.cash_in_fee_bps, cash_in_fee_fixed: row.cash_in_fee_fixed } : null;
    if (this.generationOf(merchantId) === generation) this.entries.set(merchantId, { pricing, read_at: now });
    return pricing;
  }

  /** Forgets a merchant's price at once (this isolate just changed it), and what reads in flight may have found. */
  forget(merchantId: string): void {
    this.generations.set(merchantId, this.generationOf(merchantId) + 1);
    this.entries.delete(merchantId);
  }

  private generationOf(merchantId: string): number {
    return this.generations.get(merchantId) ?? 0;
  }
}

/** This isolate's cache: the cash-in path reads it, the pricing route forgets what it changes. */
export const pricingCache = new PricingCache(limits.pricing_cache_ms, limits.pricing_cache_entries);
