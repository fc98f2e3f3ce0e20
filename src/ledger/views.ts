/** Ledger accounts, entries and transactions as the API shows them (API §8). */
import type { Caller } from "../context";
import type { ledgerAccounts, ledgerEntries, ledgerTransactions } from "../db/schema";
import { rfc3339 } from "../schemas/common";

/** A ledger account as stored: what opened it, and its balances cached by the triggers. */
export type LedgerAccountRow = typeof ledgerAccounts.$inferSelect;

export type LedgerEntryRow = typeof ledgerEntries.$inferSelect;

export type LedgerTransactionRow = typeof ledgerTransactions.$inferSelect;

/**
 * Modern Treasury's balances, signed by the account's normal balance: posted counts posted
 * entries; pending adds pending ones; available also subtracts pending outflows (but does
 * not add pending inflows), so it is what may be spent.
 */
export function balancesOf(row: LedgerAccountRow) {
  const sign = row.normal_balance === "credit" ? 1 : -1;
  const posted = sign * (row.posted_credits - row.posted_debits);
  const pending = sign * (row.posted_credits + row.pending_credits - row.posted_debits - row.pending_debits);
  const pendingOutflow = row.normal_balance === "credit" ? row.pending_debits : row.pending_credits;
  return { posted, pending, available: posted - pendingOutflow };
}

export function ledgerAccountView(row: LedgerAccountRow) {
  return {
    id: row.id,
    name: row.name,
    normal_balance: row.normal_balance,
    currency: row.currency,
    balances: balancesOf(row),
    ledgerable_type: row.ledgerable_type,
    ledgerable_id: row.ledgerable_id,
    created_at: rfc3339(row.created_at),
    updated_at: rfc3339(row.updated_at),
  };
}

export function ledgerEntryView(row: LedgerEntryRow) {
  return {
    id: row.id,
    ledger_transaction_id: row.transaction_id,
    ledger_account_id: row.ledger_account_id,
    direction: row.direction,
    amount: row.amount,
    status: row.status,
    created_at: rfc3339(row.created_at),
  };
}

export function ledgerTransactionView(row: LedgerTransactionRow, entries: LedgerEntryRow[]) {
  return {
    id: row.id,
    status: row.status,
    description: row.description,
    entries: entries.map((entry) => ({ ledger_account_id: entry.ledger_account_id, direction: entry.direction, amount: entry.amount })),
    ledgerable_type: row.ledgerable_type,
    ledgerable_id: row.ledgerable_id,
    effective_at: rfc3339(row.effective_at),
    created_at: rfc3339(row.created_at),
  };
}

/** A merchant sees only the ledger accounts it owns; the operator sees all. */
export function mayReadAccount(caller: Caller, account: Pick<LedgerAccountRow, "owner_id">): boolean {
  return caller.kind === "operator" || account.owner_id === caller.merchantId;
}
