/**
 * Payouts, a window per call: each payout's ledger transaction lt_<id> holds its amount on the
 * right accounts (a customer's payout: customer, settlement, merchant, attribution; a return
 * of quarantined money: suspense, settlement) and follows its status: pending or processing →
 * pending (reserved), completed → posted, failed or canceled → archived (funds back), rejected
 * (never shown, never live) → no transaction, or one without entries. Bound: two range queries
 * per window, in one batch (one state of the books).
 */
import type { Env } from "../../env";
import { invariantLimits } from "../../limits";
import { groupTransactions, payoutEntries, transactionMismatch, transactionsInRange, type TransactionEntryRow } from "./expected-entries";
import type { Finding, SweepSpec } from "./sweep";

interface PayoutRow {
  id: string;
  kind: "payout" | "return";
  status: "pending" | "processing" | "completed" | "failed" | "canceled" | "rejected";
  amount: number;
  currency: string;
  customer_id: string | null;
  merchant_id: string | null;
}

const ledgerStatusOf = {
  pending: "pending",
  processing: "pending",
  completed: "posted",
  failed: "archived",
  canceled: "archived",
} as const;

async function inspectPayouts(_env: Env, d1: D1Database, ids: string[]): Promise<Finding[]> {
  const first = ids[0]!;
  const last = ids[ids.length - 1]!;
  const [payouts, ledger] = await d1.batch([
    d1.prepare("SELECT id, kind, status, amount, currency, customer_id, merchant_id FROM payouts WHERE id BETWEEN ? AND ?").bind(first, last),
    transactionsInRange(d1, `lt_${first}`, `lt_${last}`),
  ]);
  const transactions = groupTransactions((ledger?.results ?? []) as TransactionEntryRow[]);
  const findings: Finding[] = [];
  for (const payout of (payouts?.results ?? []) as PayoutRow[]) {
    const id = `lt_${payout.id}`;
    const transaction = transactions.get(id);
    let problem: string | null;
    if (payout.status === "rejected") {
      problem = transaction && transaction.entries.length > 0 ? `rejected, but ${id} has ${transaction.entries.length} entries` : null;
    } else {
      const entries = payoutEntries(payout);
      problem = entries === null ? "a payout with no customer or merchant" : transactionMismatch(id, transaction, ledgerStatusOf[payout.status], entries);
      if (problem) problem = `${payout.status}: ${problem}`;
    }
    if (problem) findings.push({ check: "payouts_match_ledger", item: `${payout.id}: ${problem}` });
  }
  return findings;
}

export const payoutsSweep: SweepSpec = {
  name: "payouts",
  table: "payouts",
  unit: "payouts",
  window: invariantLimits.payouts_per_call,
  checks: [{ name: "payouts_match_ledger", holds: "every payout's ledger transaction holds its amount on the right accounts and follows its status" }],
  inspect: inspectPayouts,
};
