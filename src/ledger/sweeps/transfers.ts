/**
 * Internal transfers (API §12), a window per call: each transfer's ledger transaction
 * lt_<id> is posted and holds exactly Dr from / Cr to of its amount, on the ledger accounts
 * behind its two balance accounts (docs/MONEY.md "Transfers and top-ups"), and each row's
 * owners are those accounts' owners (they decide who sees it). Written from the accounting, not
 * from src/transfers/execute-transfer.ts. Bound: two range queries per window, in one batch.
 */
import type { Env } from "../../env";
import { invariantLimits } from "../../limits";
import { ledgerAccountIdOfBalanceAccount } from "../accounts";
import { groupTransactions, transactionMismatch, transactionsInRange, type TransactionEntryRow } from "./expected-entries";
import type { Finding, SweepSpec } from "./sweep";

interface TransferFacts {
  id: string;
  status: string;
  amount: number;
  from_balance_account: string;
  to_balance_account: string;
  from_owner_id: string;
  to_owner_id: string;
  from_account_owner: string | null;
  to_account_owner: string | null;
}

function problemOf(transfer: TransferFacts, transactions: ReturnType<typeof groupTransactions>): string | null {
  const from = ledgerAccountIdOfBalanceAccount(transfer.from_balance_account);
  const to = ledgerAccountIdOfBalanceAccount(transfer.to_balance_account);
  if (transfer.status !== "completed") return `status ${transfer.status}, expected completed`;
  if (from === null || to === null || transfer.from_account_owner === null || transfer.to_account_owner === null) return "names an account that is no balance account";
  if (transfer.from_owner_id !== transfer.from_account_owner || transfer.to_owner_id !== transfer.to_account_owner) {
    return `owners ${transfer.from_owner_id} → ${transfer.to_owner_id}, but the accounts are ${transfer.from_account_owner}'s → ${transfer.to_account_owner}'s`;
  }
  const id = `lt_${transfer.id}`;
  return transactionMismatch(id, transactions.get(id), "posted", [
    { account: from, direction: "debit", amount: transfer.amount },
    { account: to, direction: "credit", amount: transfer.amount },
  ]);
}

async function inspectTransfers(_env: Env, d1: D1Database, ids: string[]): Promise<Finding[]> {
  const first = ids[0]!;
  const last = ids[ids.length - 1]!;
  const [transfers, ledger] = await d1.batch([
    d1
      .prepare(
        `SELECT t.id, t.status, t.amount, t.from_balance_account, t.to_balance_account, t.from_owner_id, t.to_owner_id,
           f.owner_id AS from_account_owner, o.owner_id AS to_account_owner
         FROM transfers t
         LEFT JOIN balance_accounts f ON f.ledger_account_id = 'la_' || substr(t.from_balance_account, 4)
         LEFT JOIN balance_accounts o ON o.ledger_account_id = 'la_' || substr(t.to_balance_account, 4)
         WHERE t.id BETWEEN ? AND ?`,
      )
      .bind(first, last),
    transactionsInRange(d1, `lt_${first}`, `lt_${last}`),
  ]);
  const transactions = groupTransactions((ledger?.results ?? []) as TransactionEntryRow[]);
  const findings: Finding[] = [];
  for (const transfer of (transfers?.results ?? []) as TransferFacts[]) {
    const problem = problemOf(transfer, transactions);
    if (problem) findings.push({ check: "transfers_match_ledger", item: `${transfer.id}: ${problem}` });
  }
  return findings;
}

export const transfersSweep: SweepSpec = {
  name: "transfers",
  table: "transfers",
  unit: "transfers",
  window: invariantLimits.transfers_per_call,
  checks: [
    {
      name: "transfers_match_ledger",
      holds: "every transfer's ledger transaction is posted and moves its amount from its source's ledger account to its destination's, and its owners are those accounts'",
    },
  ],
  inspect: inspectTransfers,
};
