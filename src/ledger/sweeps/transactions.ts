/**
 * Ledger transactions, a window per call: each one balances (debits = credits, at least two
 * entries), its entries carry its status, and it accounts for a payment or payout (its id is
 * that record's lt_<id> (a payment, payout or transfer), or a payment's lt_assign_<id> / lt_reversal_<id>, and the record
 * exists and is not a rejected payout). Bound: one query reading the window's transactions
 * and their entries (ledger_entries_by_transaction), a few entries each.
 */
import type { Env } from "../../env";
import { invariantLimits } from "../../limits";
import type { Finding, SweepSpec } from "./sweep";

interface TransactionTotals {
  id: string;
  status: string;
  ledgerable_type: string | null;
  ledgerable_id: string | null;
  entries: number;
  debits: string;
  credits: string;
  off_status: number;
  cause_exists: number;
}

function idsFor(ledgerableType: string | null, ledgerableId: string | null): string[] {
  if (ledgerableId === null) return [];
  if (ledgerableType === "payment") return [`lt_${ledgerableId}`, `lt_assign_${ledgerableId}`, `lt_reversal_${ledgerableId}`];
  // A merchant payout's withholding into its reserve, that hold's release, and its return when
  // the payout fails or is canceled (API §12).
  if (ledgerableType === "payout") return [`lt_${ledgerableId}`, `lt_withhold_${ledgerableId}`, `lt_release_${ledgerableId}`, `lt_unwithhold_${ledgerableId}`];
  if (ledgerableType === "transfer") return [`lt_${ledgerableId}`]; // an internal transfer (API §12)
  return [];
}

async function inspectTransactions(_env: Env, d1: D1Database, ids: string[]): Promise<Finding[]> {
  const { results } = await d1
    .prepare(
      `SELECT t.id, t.status, t.ledgerable_type, t.ledgerable_id, COUNT(e.id) AS entries,
         CAST(COALESCE(SUM(CASE WHEN e.direction = 'debit'  THEN e.amount END), 0) AS TEXT) AS debits,
         CAST(COALESCE(SUM(CASE WHEN e.direction = 'credit' THEN e.amount END), 0) AS TEXT) AS credits,
         COALESCE(SUM(CASE WHEN e.status <> t.status THEN 1 ELSE 0 END), 0) AS off_status,
         CASE t.ledgerable_type
           WHEN 'payment' THEN EXISTS (SELECT 1 FROM payments WHERE id = t.ledgerable_id)
           WHEN 'payout'  THEN EXISTS (SELECT 1 FROM payouts WHERE id = t.ledgerable_id AND status <> 'rejected')
           WHEN 'transfer' THEN EXISTS (SELECT 1 FROM transfers WHERE id = t.ledgerable_id)
           ELSE 0 END AS cause_exists
       FROM ledger_transactions t LEFT JOIN ledger_entries e ON e.transaction_id = t.id
       WHERE t.id BETWEEN ? AND ?
       GROUP BY t.id`,
    )
    .bind(ids[0], ids[ids.length - 1])
    .all<TransactionTotals>();
  const findings: Finding[] = [];
  for (const row of results) {
    const debits = BigInt(row.debits);
    const credits = BigInt(row.credits);
    if (row.entries < 2 || debits !== credits) {
      findings.push({ check: "ledger_balanced", item: `${row.id}: ${row.entries} entries, debits ${debits}, credits ${credits}` });
    }
    if (row.off_status > 0) {
      findings.push({ check: "ledger_balanced", item: `${row.id}: ${row.off_status} entries not ${row.status} like their transaction` });
    }
    if (row.cause_exists !== 1 || !idsFor(row.ledgerable_type, row.ledgerable_id).includes(row.id)) {
      findings.push({ check: "ledger_transactions_accounted", item: `${row.id}: names ${row.ledgerable_type}/${row.ledgerable_id}, not a live record it belongs to` });
    }
  }
  return findings;
}

export const transactionsSweep: SweepSpec = {
  name: "ledger_transactions",
  table: "ledger_transactions",
  unit: "ledger transactions",
  window: invariantLimits.transactions_per_call,
  checks: [
    { name: "ledger_balanced", holds: "every transaction's debits equal its credits (at least two entries, all of its status)" },
    { name: "ledger_transactions_accounted", holds: "every transaction accounts for an existing payment, payout or transfer" },
  ],
  inspect: inspectTransactions,
};
