/**
 * Payouts, a window per call: each payout's ledger transaction lt_<id> holds its amount on the
 * right accounts (a customer's payout: customer, settlement, merchant, attribution; a return
 * of quarantined money: suspense, settlement; a merchant payout: merchant, settlement for its
 * net) and follows its status: pending or processing → pending (reserved), completed → posted,
 * failed or canceled → archived (funds back), rejected (never shown, never live) → no
 * transaction, or one without entries. A merchant payout withheld whole has no lt_<id>.
 * Reserves (API §12): a merchant payout's withholding lt_withhold_<id> is posted Dr merchant /
 * Cr reserve for exactly withheld_amount (none when 0), its hold row says the same, and the
 * hold's release lt_release_<id> exists, posted Dr reserve / Cr merchant, iff the hold is
 * released; its return lt_unwithhold_<id> (the payout failed or was canceled while the hold was
 * held) exists, posted Dr reserve / Cr merchant, iff the hold is voided, and only a failed or
 * canceled payout's hold is voided; the hold's policy is the one the payout records it was
 * withheld under (reserve_policy_id). Bound: five range queries per window, in one batch (one
 * state of the books).
 */
import type { Env } from "../../env";
import { invariantLimits } from "../../limits";
import { groupTransactions, payoutEntries, release, transactionMismatch, transactionsInRange, withholding, type PostedTransaction, type TransactionEntryRow } from "./expected-entries";
import type { Finding, SweepSpec } from "./sweep";

interface PayoutRow {
  id: string;
  kind: "payout" | "return" | "merchant_payout";
  status: "pending" | "processing" | "completed" | "failed" | "canceled" | "rejected";
  amount: number;
  withheld_amount: number;
  currency: string;
  customer_id: string | null;
  merchant_id: string | null;
  reserve_policy_id: string | null;
}

interface HoldRow {
  payout_id: string;
  merchant_id: string;
  policy_id: string;
  amount: number;
  currency: string;
  status: "held" | "released" | "voided";
}

const ledgerStatusOf = {
  pending: "pending",
  processing: "pending",
  completed: "posted",
  failed: "archived",
  canceled: "archived",
} as const;

function payoutProblem(payout: PayoutRow, transactions: Map<string, PostedTransaction>): string | null {
  const id = `lt_${payout.id}`;
  const transaction = transactions.get(id);
  if (payout.status === "rejected") {
    return transaction && transaction.entries.length > 0 ? `rejected, but ${id} has ${transaction.entries.length} entries` : null;
  }
  const entries = payoutEntries(payout);
  if (entries === null) return `${payout.status}: a payout with no customer or merchant`;
  if (entries.length === 0) {
    // Withheld whole: completed at once, nothing for the bank, nothing pending.
    if (payout.status !== "completed") return `${payout.status}: withheld whole, expected completed`;
    return transaction ? `completed: withheld whole, but ${id} exists` : null;
  }
  const problem = transactionMismatch(id, transaction, ledgerStatusOf[payout.status], entries);
  return problem ? `${payout.status}: ${problem}` : null;
}

interface ReserveTransactions {
  withholdings: Map<string, PostedTransaction>;
  releases: Map<string, PostedTransaction>;
  unwithholdings: Map<string, PostedTransaction>;
}

function holdProblem(payout: PayoutRow, hold: HoldRow | undefined, { withholdings, releases, unwithholdings }: ReserveTransactions): string | null {
  const withholdingId = `lt_withhold_${payout.id}`;
  const releaseId = `lt_release_${payout.id}`;
  const unwithholdingId = `lt_unwithhold_${payout.id}`;
  if (payout.kind !== "merchant_payout" || payout.withheld_amount === 0) {
    if (hold) return `withheld nothing, but has a hold of ${hold.amount}`;
    if (withholdings.has(withholdingId) || releases.has(releaseId) || unwithholdings.has(unwithholdingId)) {
      return `withheld nothing, but ${withholdingId}, ${releaseId} or ${unwithholdingId} exists`;
    }
    return null;
  }
  const problems: string[] = [];
  const withheld = transactionMismatch(withholdingId, withholdings.get(withholdingId), "posted", withholding(payout.merchant_id!, payout.currency, payout.withheld_amount));
  if (withheld) problems.push(withheld);
  if (!hold) return [...problems, `withheld ${payout.withheld_amount}, but has no hold`].join("; ");
  if (hold.amount !== payout.withheld_amount || hold.merchant_id !== payout.merchant_id || hold.currency !== payout.currency) {
    problems.push(`hold of ${hold.amount} ${hold.currency} for ${hold.merchant_id}, expected ${payout.withheld_amount} ${payout.currency} for ${payout.merchant_id}`);
  }
  // The payout records the policy version it was withheld under (reserve_policy_id, read in its
  // creating batch); its hold is copied from that row. Older versions are replaced in
  // reserve_policies, so the payout's record is the only witness to compare with.
  if (hold.policy_id !== payout.reserve_policy_id) problems.push(`hold under policy ${hold.policy_id}, but the payout was withheld under ${payout.reserve_policy_id}`);
  if (hold.status === "released") {
    const released = transactionMismatch(releaseId, releases.get(releaseId), "posted", release(hold.merchant_id, hold.currency, hold.amount));
    if (released) problems.push(`released: ${released}`);
  } else if (releases.has(releaseId)) {
    problems.push(`${hold.status}, but ${releaseId} exists`);
  }
  if (hold.status === "voided") {
    if (payout.status !== "failed" && payout.status !== "canceled") problems.push(`voided, but the payout is ${payout.status}`);
    const returned = transactionMismatch(unwithholdingId, unwithholdings.get(unwithholdingId), "posted", release(hold.merchant_id, hold.currency, hold.amount));
    if (returned) problems.push(`voided: ${returned}`);
  } else if (unwithholdings.has(unwithholdingId)) {
    problems.push(`${hold.status}, but ${unwithholdingId} exists`);
  }
  return problems.length === 0 ? null : problems.join("; ");
}

async function inspectPayouts(_env: Env, d1: D1Database, ids: string[]): Promise<Finding[]> {
  const first = ids[0]!;
  const last = ids[ids.length - 1]!;
  const [payouts, ledger, withheld, released, unwithheld, holds] = await d1.batch([
    d1.prepare("SELECT id, kind, status, amount, withheld_amount, currency, customer_id, merchant_id, reserve_policy_id FROM payouts WHERE id BETWEEN ? AND ?").bind(first, last),
    transactionsInRange(d1, `lt_${first}`, `lt_${last}`),
    transactionsInRange(d1, `lt_withhold_${first}`, `lt_withhold_${last}`),
    transactionsInRange(d1, `lt_release_${first}`, `lt_release_${last}`),
    transactionsInRange(d1, `lt_unwithhold_${first}`, `lt_unwithhold_${last}`),
    d1.prepare("SELECT payout_id, merchant_id, policy_id, amount, currency, status FROM reserve_holds WHERE payout_id BETWEEN ? AND ?").bind(first, last),
  ]);
  const transactions = groupTransactions((ledger?.results ?? []) as TransactionEntryRow[]);
  const withholdings = groupTransactions((withheld?.results ?? []) as TransactionEntryRow[]);
  const releases = groupTransactions((released?.results ?? []) as TransactionEntryRow[]);
  const unwithholdings = groupTransactions((unwithheld?.results ?? []) as TransactionEntryRow[]);
  const holdsByPayout = new Map(((holds?.results ?? []) as HoldRow[]).map((hold) => [hold.payout_id, hold]));
  const findings: Finding[] = [];
  const seen = new Set<string>();
  for (const payout of (payouts?.results ?? []) as PayoutRow[]) {
    seen.add(payout.id);
    const problem = payoutProblem(payout, transactions);
    if (problem) findings.push({ check: "payouts_match_ledger", item: `${payout.id}: ${problem}` });
    const hold = holdProblem(payout, holdsByPayout.get(payout.id), { withholdings, releases, unwithholdings });
    if (hold) findings.push({ check: "reserve_holds_match_ledger", item: `${payout.id}: ${hold}` });
  }
  // A hold always belongs to a payout of this window's range (its id is the payout's).
  for (const hold of holdsByPayout.values()) {
    if (!seen.has(hold.payout_id)) findings.push({ check: "reserve_holds_match_ledger", item: `${hold.payout_id}: a hold with no payout` });
  }
  return findings;
}

export const payoutsSweep: SweepSpec = {
  name: "payouts",
  table: "payouts",
  unit: "payouts",
  window: invariantLimits.payouts_per_call,
  checks: [
    { name: "payouts_match_ledger", holds: "every payout's ledger transaction holds its amount on the right accounts and follows its status" },
    {
      name: "reserve_holds_match_ledger",
      holds: "every merchant payout's withholding is posted to its reserve and has one hold of that amount under the payout's policy, released exactly when its release is posted, voided (its payout failed or canceled) exactly when its return is posted",
    },
  ],
  inspect: inspectPayouts,
};
