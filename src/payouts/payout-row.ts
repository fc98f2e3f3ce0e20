/** Reading payouts from D1, as rows and as the API shows them. */
import { assert } from "../assert";
import { and, eq, ne } from "drizzle-orm";
import { database } from "../db/client";
import { payouts } from "../db/schema";
import { rfc3339 } from "../schemas/common";

export type PayoutStatus = PayoutRow["status"];

export type PayoutRow = typeof payouts.$inferSelect;

export async function findPayout(d1: D1Database, payoutId: string): Promise<PayoutRow | null> {
  return (await database(d1).query.payouts.findFirst({ where: eq(payouts.id, payoutId) })) ?? null;
}

/** A payout the merchant may see: its own, and never a rejected attempt. */
export async function findMerchantPayout(d1: D1Database, merchantId: string, payoutId: string): Promise<PayoutRow | null> {
  const found = await database(d1).query.payouts.findFirst({
    where: and(eq(payouts.id, payoutId), eq(payouts.merchant_id, merchantId), ne(payouts.status, "rejected")),
  });
  return found ?? null;
}

/** Merchants see payouts of their customers' money and of their own; returns are the operator's. */
export function payoutView(row: PayoutRow) {
  assert(
    (row.kind === "payout" && row.merchant_id !== null && row.customer_id !== null) || (row.kind === "merchant_payout" && row.merchant_id !== null),
    `payout ${row.id} is not a merchant's payout`,
  );
  return {
    id: row.id,
    object: "payout" as const,
    status: row.status as Exclude<PayoutStatus, "rejected">,
    amount: row.amount,
    withheld_amount: row.withheld_amount,
    net_amount: row.amount - row.withheld_amount,
    currency: row.currency,
    customer_id: row.customer_id,
    merchant_id: row.merchant_id as string,
    destination_cbu: row.destination_cbu,
    description: row.description,
    failure_reason: row.failure_reason,
    bank_transaction_id: row.bank_transaction_id,
    created_at: rfc3339(row.created_at),
    updated_at: rfc3339(row.updated_at),
  };
}

export type PayoutView = ReturnType<typeof payoutView>;
