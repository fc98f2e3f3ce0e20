/** A merchant's cash-in pricing in D1 (migrations/0017), as stored and as the API shows it. */
import { eq } from "drizzle-orm";
import { database } from "../db/client";
import { merchantPricing } from "../db/schema";
import { timedRead } from "../metrics";
import { rfc3339 } from "../schemas/common";
import type { Pricing } from "./fee";

export type PricingRow = typeof merchantPricing.$inferSelect;

/**
 * The merchant's price, or null (no fee). A timed read (src/metrics.ts): the cash-in path reads
 * it on a cache miss, and the bench must see that path's D1 time whole.
 */
export async function readPricing(d1: D1Database, merchantId: string): Promise<PricingRow | null> {
  const db = database(d1);
  const [row] = await timedRead(db, db.select().from(merchantPricing).where(eq(merchantPricing.merchant_id, merchantId)).limit(1));
  return row ?? null;
}

/** Sets the merchant's price (last write wins: it is configuration, not money). */
export async function writePricing(d1: D1Database, merchantId: string, pricing: Pricing, now: number): Promise<PricingRow> {
  const row = { merchant_id: merchantId, ...pricing, created_at: now, updated_at: now };
  await database(d1)
    .insert(merchantPricing)
    .values(row)
    .onConflictDoUpdate({ target: merchantPricing.merchant_id, set: { ...pricing, updated_at: now } });
  return (await readPricing(d1, merchantId)) ?? row;
}

/** What a merchant with no row is charged: nothing. */
export function pricingView(merchantId: string, row: PricingRow | null) {
  return {
    merchant_id: merchantId,
    cash_in_fee_bps: row?.cash_in_fee_bps ?? 0,
    cash_in_fee_fixed: row?.cash_in_fee_fixed ?? 0,
    updated_at: row ? rfc3339(row.updated_at) : null,
  };
}
