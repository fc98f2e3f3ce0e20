/** A merchant's reserve policy (API §12): stored, replaced, and shown. */
import { eq } from "drizzle-orm";
import { newId } from "../crypto";
import { database } from "../db/client";
import { reservePolicies, type ReservePolicyRow } from "../db/schema";
import { rfc3339 } from "../schemas/common";
import { thresholdOnPolicyStatements } from "./threshold";

export interface ReservePolicyInput {
  type: "percentage" | "fixed";
  percentage?: number;
  amount?: number;
  holding_days: number;
  currency: string;
}

/** 12.5 % → 1250 basis points (the schema allows at most two decimals). */
export function basisPointsOf(percentage: number): number {
  return Math.round(percentage * 100);
}

/**
 * Replaces the merchant's policy with a new version (a new id): merchant payouts created
 * after this write use it; holds already made keep their release dates. A fixed version whose
 * target the reserve already holds is reached at once: its reserve_account.threshold_reached
 * and threshold_reached_at are written in the same batch as the row (src/reserves/threshold.ts).
 * Null if no merchant.
 */
export async function replaceReservePolicy(d1: D1Database, merchantId: string, input: ReservePolicyInput, now = Date.now()): Promise<ReservePolicyRow | null> {
  const row = {
    id: newId("rp"),
    type: input.type,
    percentage_bps: input.type === "percentage" ? basisPointsOf(input.percentage!) : null,
    amount: input.type === "fixed" ? input.amount! : null,
    currency: input.currency,
    holding_days: input.holding_days,
    updated_at: now,
  };
  const results = await d1.batch([
    d1
      .prepare(
        `INSERT INTO reserve_policies (merchant_id, id, type, percentage_bps, amount, currency, holding_days, threshold_reached_at, created_at, updated_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8, ?8 WHERE EXISTS (SELECT 1 FROM merchants WHERE id = ?1)
         ON CONFLICT (merchant_id) DO UPDATE SET id = excluded.id, type = excluded.type, percentage_bps = excluded.percentage_bps, amount = excluded.amount,
           currency = excluded.currency, holding_days = excluded.holding_days, threshold_reached_at = NULL, created_at = excluded.created_at, updated_at = excluded.updated_at`,
      )
      .bind(merchantId, row.id, row.type, row.percentage_bps, row.amount, row.currency, row.holding_days, now),
    ...thresholdOnPolicyStatements(d1, merchantId, row.id, row.currency, now),
    d1.prepare("SELECT * FROM reserve_policies WHERE id = ?").bind(row.id),
  ]);
  return (results[results.length - 1]?.results[0] as ReservePolicyRow | undefined) ?? null;
}

export async function findReservePolicy(d1: D1Database, merchantId: string): Promise<ReservePolicyRow | null> {
  return (await database(d1).select().from(reservePolicies).where(eq(reservePolicies.merchant_id, merchantId)).get()) ?? null;
}

export function reservePolicyView(row: ReservePolicyRow) {
  return {
    id: row.id,
    object: "reserve_policy" as const,
    merchant_id: row.merchant_id,
    type: row.type,
    percentage: row.percentage_bps === null ? null : row.percentage_bps / 100,
    amount: row.amount,
    currency: row.currency,
    holding_days: row.holding_days,
    threshold_reached_at: row.threshold_reached_at === null ? null : rfc3339(row.threshold_reached_at),
    created_at: rfc3339(row.created_at),
  };
}
