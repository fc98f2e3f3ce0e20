/** Reading payouts from D1, as rows and as the API shows them. */
import { rfc3339 } from "../schemas/common";

export type PayoutStatus = "pending" | "processing" | "completed" | "failed" | "canceled" | "rejected";

export interface PayoutRow {
  id: string;
  merchant_id: string;
  customer_id: string;
  amount: number;
  currency: string;
  destination_cbu: string;
  description: string | null;
  status: PayoutStatus;
  failure_reason: string | null;
  bank_transaction_id: string | null;
  submit_attempts: number;
  submitted_at: number | null;
  customer_sync: "settle" | "release" | null;
  created_at: number;
  updated_at: number;
}

export async function findPayout(d1: D1Database, payoutId: string): Promise<PayoutRow | null> {
  return d1.prepare("SELECT * FROM payouts WHERE id = ?").bind(payoutId).first<PayoutRow>();
}

/** A payout the merchant may see: its own, and never a rejected attempt. */
export async function findMerchantPayout(d1: D1Database, merchantId: string, payoutId: string): Promise<PayoutRow | null> {
  return d1
    .prepare("SELECT * FROM payouts WHERE id = ? AND merchant_id = ? AND status <> 'rejected'")
    .bind(payoutId, merchantId)
    .first<PayoutRow>();
}

export function payoutView(row: PayoutRow) {
  return {
    id: row.id,
    object: "payout" as const,
    status: row.status as Exclude<PayoutStatus, "rejected">,
    amount: row.amount,
    currency: row.currency,
    customer_id: row.customer_id,
    merchant_id: row.merchant_id,
    destination_cbu: row.destination_cbu,
    description: row.description,
    failure_reason: row.failure_reason,
    bank_transaction_id: row.bank_transaction_id,
    created_at: rfc3339(row.created_at),
    updated_at: rfc3339(row.updated_at),
  };
}

export type PayoutView = ReturnType<typeof payoutView>;
