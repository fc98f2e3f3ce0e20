/**
 * The merchant's ledger, internal accounts and incoming payment details as the API shows them
 * (API §11). A merchant-ledger account, entry or transaction has the platform's ledger shapes
 * (src/ledger/views.ts), so GET /v1/ledger/… reads either ledger alike.
 */
import type { IncomingPaymentDetailRow, InternalAccountRow, MerchantLedgerAccountRow } from "../db/schema";
import { rfc3339 } from "../schemas/common";
import type { MerchantLedgerEntryRow, MerchantLedgerTransactionRow } from "./transactions";

/** Only posted entries exist in a merchant's ledger: pending and available equal posted. */
export function merchantLedgerAccountView(row: MerchantLedgerAccountRow) {
  const sign = row.normal_balance === "credit" ? 1 : -1;
  const posted = sign * (row.posted_credits - row.posted_debits);
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    normal_balance: row.normal_balance,
    currency: row.currency,
    balances: { posted, pending: posted, available: posted },
    ledgerable_type: null,
    ledgerable_id: null,
    created_at: rfc3339(row.created_at),
    updated_at: rfc3339(row.updated_at),
  };
}

export function merchantLedgerEntryView(row: MerchantLedgerEntryRow) {
  return {
    id: row.id,
    ledger_transaction_id: row.transaction_id,
    ledger_account_id: row.ledger_account_id,
    direction: row.direction,
    amount: row.amount,
    status: "posted" as const,
    created_at: rfc3339(row.created_at),
  };
}

export function merchantLedgerTransactionView(row: MerchantLedgerTransactionRow, entries: MerchantLedgerEntryRow[]) {
  return {
    id: row.id,
    status: "posted" as const,
    description: row.description,
    entries: entries.map((entry) => ({ ledger_account_id: entry.ledger_account_id, direction: entry.direction, amount: entry.amount })),
    ledgerable_type: row.ledgerable_type,
    ledgerable_id: row.ledgerable_id,
    effective_at: rfc3339(row.effective_at),
    created_at: rfc3339(row.created_at),
  };
}

export function internalAccountView(row: InternalAccountRow, settlementCbu: string) {
  return {
    id: row.id,
    account_number: settlementCbu,
    currency: row.currency,
    ledger_account_id: row.ledger_account_id,
    created_at: rfc3339(row.created_at),
    updated_at: rfc3339(row.updated_at),
  };
}

export function incomingPaymentDetailView(row: IncomingPaymentDetailRow) {
  return {
    id: row.id,
    direction: row.direction,
    amount: row.amount,
    currency: row.currency,
    virtual_account_id: row.virtual_account_id,
    internal_account_id: row.internal_account_id,
    payment_id: row.payment_id,
    ledger_transaction_id: row.ledger_transaction_id,
    created_at: rfc3339(row.created_at),
  };
}
