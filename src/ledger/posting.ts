/**
 * Double-entry posting: one balanced ledger transaction per money movement, written as D1
 * statements that belong in the same batch as the record they account for.
 */
import { assert } from "../assert";

export type Direction = "debit" | "credit";
export type LedgerStatus = "pending" | "posted" | "archived";

export interface EntrySpec {
  account_id: string;
  direction: Direction;
  amount: number;
  /** Only a bank reversal may take a no-overdraft account below zero. */
  may_overdraw?: boolean;
}

export interface TransactionSpec {
  id: string;
  status: "pending" | "posted";
  description: string;
  ledgerable_type: string;
  ledgerable_id: string;
  effective_at: number;
  entries: EntrySpec[];
}

/** Programmer error if a transaction does not balance: it must never reach the database. */
export function assertBalanced(entries: EntrySpec[]): void {
  let debits = 0;
  let credits = 0;
  for (const entry of entries) {
    assert(Number.isSafeInteger(entry.amount) && entry.amount > 0, `ledger entry amount must be a positive safe integer, got ${entry.amount}`);
    if (entry.direction === "debit") debits += entry.amount;
    else credits += entry.amount;
  }
  assert(Number.isSafeInteger(debits) && Number.isSafeInteger(credits), "ledger transaction sums overflow");
  assert(entries.length >= 2 && debits === credits, `unbalanced ledger transaction: debits ${debits} ≠ credits ${credits}`);
}

/**
 * The statements that post `transaction`. Every id is deterministic and every insert is
 * ON CONFLICT DO NOTHING, so posting the same transaction twice changes nothing. With
 * `onlyIf`, the entries (and so the balances) move only when that SQL condition holds at
 * write time: e.g. "the payout row is not a rejected one".
 */
export function postTransaction(d1: D1Database, transaction: TransactionSpec, now: number, onlyIf?: { sql: string; params: unknown[] }): D1PreparedStatement[] {
  assertBalanced(transaction.entries);
  assert(transaction.entries.length * 8 + 3 <= 100, "a ledger transaction's entries must fit one statement's 100 parameters");
  const condition = onlyIf ? onlyIf.sql : "1";
  const conditionParams = onlyIf ? onlyIf.params : [];
  const header = d1
    .prepare(
      `INSERT INTO ledger_transactions (id, status, description, ledgerable_type, ledgerable_id, effective_at, created_at, updated_at)
       SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE ${condition}
       ON CONFLICT DO NOTHING`,
    )
    .bind(
      transaction.id,
      transaction.status,
      transaction.description,
      transaction.ledgerable_type,
      transaction.ledgerable_id,
      transaction.effective_at,
      now,
      now,
      ...conditionParams,
    );
  // All entries in one statement (fewer statements per batch: D1's cost is per statement);
  // each row still fires the balance trigger. All or nothing with the header: entries are
  // written only into a transaction that has none yet, i.e. the one this batch's header
  // statement created. A repeat that carries other entries (another amount, another
  // account) can never add to a transaction that exists: it writes nothing.
  const rows = transaction.entries.map(() => "(?, ?, ?, ?, ?, ?, ?, ?)").join(", ");
  const entries = d1
    .prepare(
      `INSERT INTO ledger_entries (id, transaction_id, ledger_account_id, direction, amount, status, may_overdraw, created_at)
       SELECT * FROM (VALUES ${rows})
       WHERE EXISTS (SELECT 1 FROM ledger_transactions WHERE id = ? AND status = ?)
         AND NOT EXISTS (SELECT 1 FROM ledger_entries WHERE transaction_id = ?)
       ON CONFLICT DO NOTHING`,
    )
    .bind(
      ...transaction.entries.flatMap((entry, index) => [
        `${transaction.id}:${index}`,
        transaction.id,
        entry.account_id,
        entry.direction,
        entry.amount,
        transaction.status,
        entry.may_overdraw ? 1 : 0,
        now,
      ]),
      transaction.id,
      transaction.status,
      transaction.id,
    );
  return [header, entries];
}

/**
 * Moves a pending transaction to posted or archived (its entries follow by trigger). A
 * transaction that is already final is left alone: settling twice is a no-op.
 */
export function settleTransaction(d1: D1Database, transactionId: string, status: "posted" | "archived", now: number, onlyIf?: { sql: string; params: unknown[] }): D1PreparedStatement {
  const condition = onlyIf ? ` AND ${onlyIf.sql}` : "";
  return d1
    .prepare(`UPDATE ledger_transactions SET status = ?, updated_at = ? WHERE id = ? AND status = 'pending'${condition}`)
    .bind(status, now, transactionId, ...(onlyIf ? onlyIf.params : []));
}
