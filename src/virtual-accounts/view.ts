/**
 * A virtual account as the API shows it (API §11). `expired` is never stored: a per_transaction
 * account still active whose `expires_at` has passed reads as expired at that very moment, so
 * expiry is exact at read time whatever the cron has done yet.
 */
import { rfc3339 } from "../schemas/common";
import type { VirtualAccountRow } from "../db/schema";

export type ShownStatus = "active" | "paid" | "expired" | "closed";

/** Stored statuses a client may see; `registering` and `retired` rows read as absent. */
export const shownStoredStatuses = ["active", "paid", "closed"] as const;

export function shownStatus(row: Pick<VirtualAccountRow, "status" | "expires_at">, now: number): ShownStatus {
  if (row.status === "active" && row.expires_at !== null && row.expires_at <= now) return "expired";
  if (row.status === "registering" || row.status === "retired") throw new Error(`virtual account status ${row.status} is never shown`);
  return row.status;
}

export function virtualAccountView(row: VirtualAccountRow, now = Date.now()) {
  return {
    id: row.id,
    object: "virtual_account" as const,
    account_number: row.account_number,
    kind: row.kind,
    status: shownStatus(row, now),
    customer_id: row.customer_id,
    merchant_id: row.merchant_id,
    currency: row.currency,
    expected_amount: row.expected_amount,
    expires_at: row.expires_at === null ? null : rfc3339(row.expires_at),
    amount_policy: row.amount_policy,
    ledger_account_id: row.ledger_account_id,
    description: row.description,
    created_at: rfc3339(row.created_at),
    paid_at: row.paid_at === null ? null : rfc3339(row.paid_at),
    closed_at: row.closed_at === null ? null : rfc3339(row.closed_at),
  };
}

export type VirtualAccountView = ReturnType<typeof virtualAccountView>;
