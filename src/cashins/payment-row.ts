/** Reading payments from D1, as rows and as the API shows them. */
import { and, eq } from "drizzle-orm";
import { database } from "../db/client";
import { payments } from "../db/schema";
import { rfc3339 } from "../schemas/common";
import type { PaymentView } from "../schemas/payments";

/** A payment as stored: what its projection recorded, and what happened to it since. */
export type PaymentRow = typeof payments.$inferSelect;

export function paymentView(row: PaymentRow): PaymentView {
  return {
    id: row.id,
    status: row.status,
    amount: row.amount,
    currency: row.currency,
    customer_id: row.customer_id,
    merchant_id: row.merchant_id,
    bank_transaction_id: row.bank_transaction_id,
    sender: { cuit: row.sender_cuit, name: row.sender_name, cbu: row.sender_cbu },
    concepto: row.concepto,
    matched_by: row.matched_by,
    virtual_account_id: row.virtual_account_id,
    quarantine_reason: row.quarantine_reason as PaymentView["quarantine_reason"],
    fee_amount: row.fee_amount,
    created_at: rfc3339(row.created_at),
  };
}

export async function findMerchantPayment(d1: D1Database, merchantId: string, paymentId: string): Promise<PaymentRow | null> {
  return (await database(d1).query.payments.findFirst({ where: and(eq(payments.id, paymentId), eq(payments.merchant_id, merchantId)) })) ?? null;
}
