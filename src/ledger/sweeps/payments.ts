/**
 * Payments, a window per call: each payment's amount, routing and state agree with its ledger
 * transactions.
 *   lt_<id>          always, posted: the cash-in as it was routed when it arrived (quarantined →
 *                    suspense; otherwise the customer or the merchant's unassigned funds, and the
 *                    merchant's memo pair, and the commission pair of payments.fee_amount). A
 *                    manual match arrived quarantined (no fee then).
 *   lt_assign_<id>   exactly when the operator assigned it (matched_by 'manual'), with the
 *                    commission pair of payments.fee_amount.
 *   lt_reversal_<id> exactly when it is reversed, from where it was owed.
 *   returned         exactly when a return payout of it completed, for its amount.
 * Every entry is of the payment's amount, but the commission's (fee_amount, at most the amount;
 * never on money that was only quarantined). Bound: five range queries per window, in one batch so
 * that they read one state of the books (ledger ids follow payment ids' order: lt_<first> to
 * lt_<last> holds exactly the window's transactions).
 */
import type { Env } from "../../env";
import { invariantLimits } from "../../limits";
import {
  assignment,
  groupTransactions,
  quarantinedCashIn,
  reversal,
  routedCashIn,
  transactionMismatch,
  transactionsInRange,
  type Entry,
  type PostedTransaction,
  type TransactionEntryRow,
} from "./expected-entries";
import type { Finding, SweepSpec } from "./sweep";

interface PaymentRow {
  id: string;
  status: "credited" | "quarantined" | "reversed" | "returned";
  amount: number;
  currency: string;
  customer_id: string | null;
  merchant_id: string | null;
  matched_by: string | null;
  fee_amount: number;
}

interface ReturnRow {
  id: string;
  payment_id: string;
  status: string;
  amount: number;
}

/** The states a payment may be in, by how it was matched. */
const statusesByMatch: Record<string, PaymentRow["status"][]> = {
  none: ["quarantined", "returned", "reversed"],
  manual: ["credited", "reversed"],
  routed: ["credited", "reversed"],
};

function check(payment: PaymentRow, transactions: Map<string, PostedTransaction>, completedReturn: ReturnRow | undefined): string[] {
  const problems: string[] = [];
  const match = payment.matched_by === null ? "none" : payment.matched_by === "manual" ? "manual" : "routed";
  if (!statusesByMatch[match]!.includes(payment.status)) problems.push(`${payment.status} with matched_by ${payment.matched_by}`);

  const expect = (id: string, entries: Entry[] | null) => {
    if (entries === null) return;
    const mismatch = transactionMismatch(id, transactions.get(id), "posted", entries);
    if (mismatch) problems.push(mismatch);
  };
  const expectNone = (id: string, why: string) => {
    if (transactions.has(id)) problems.push(`${id} exists ${why}`);
  };

  if (match === "routed" && payment.merchant_id === null) problems.push("routed to no merchant");
  if (!Number.isSafeInteger(payment.fee_amount) || payment.fee_amount < 0 || payment.fee_amount > payment.amount) problems.push(`fee_amount ${payment.fee_amount} is not within 0..amount`);
  if (match === "none" && payment.fee_amount !== 0) problems.push(`fee_amount ${payment.fee_amount} on money never credited to a merchant`);
  const merchant_id = payment.merchant_id;
  expect(`lt_${payment.id}`, match === "routed" ? (merchant_id === null ? null : routedCashIn({ ...payment, merchant_id })) : quarantinedCashIn(payment));
  // A manual match's fee was charged by the assignment, not by its (quarantined) arrival.

  const assignId = `lt_assign_${payment.id}`;
  if (match === "manual") {
    const { customer_id } = payment;
    if (customer_id === null || merchant_id === null) problems.push("assigned to no customer or merchant");
    else expect(assignId, assignment({ ...payment, customer_id, merchant_id }));
  } else {
    expectNone(assignId, "but the payment was not assigned by the operator");
  }

  const reversalId = `lt_reversal_${payment.id}`;
  if (payment.status === "reversed") expect(reversalId, reversal(payment));
  else expectNone(reversalId, `but the payment is ${payment.status}`);

  if (payment.status === "returned" && !completedReturn) problems.push("returned, but no return payout of it completed");
  if (payment.status !== "returned" && completedReturn) problems.push(`${payment.status}, but return ${completedReturn.id} completed`);
  if (completedReturn && completedReturn.amount !== payment.amount) problems.push(`return ${completedReturn.id} sent ${completedReturn.amount}`);
  return problems;
}

async function inspectPayments(_env: Env, d1: D1Database, ids: string[]): Promise<Finding[]> {
  const first = ids[0]!;
  const last = ids[ids.length - 1]!;
  const [payments, created, assigned, reversed, returns] = await d1.batch([
    d1
      .prepare("SELECT id, status, amount, currency, customer_id, merchant_id, matched_by, fee_amount FROM payments WHERE id BETWEEN ? AND ?")
      .bind(first, last),
    transactionsInRange(d1, `lt_${first}`, `lt_${last}`),
    transactionsInRange(d1, `lt_assign_${first}`, `lt_assign_${last}`),
    transactionsInRange(d1, `lt_reversal_${first}`, `lt_reversal_${last}`),
    // The terms of payouts_one_live_return's WHERE, so that this reads that index.
    d1
      .prepare(
        `SELECT id, payment_id, status, amount FROM payouts
         WHERE kind = 'return' AND status NOT IN ('failed', 'canceled', 'rejected') AND payment_id BETWEEN ? AND ?`,
      )
      .bind(first, last),
  ]);
  const transactions = groupTransactions([
    ...((created?.results ?? []) as TransactionEntryRow[]),
    ...((assigned?.results ?? []) as TransactionEntryRow[]),
    ...((reversed?.results ?? []) as TransactionEntryRow[]),
  ]);
  const completedReturns = new Map(
    ((returns?.results ?? []) as ReturnRow[]).filter((row) => row.status === "completed").map((row) => [row.payment_id, row]),
  );
  const findings: Finding[] = [];
  for (const payment of (payments?.results ?? []) as PaymentRow[]) {
    const problems = check(payment, transactions, completedReturns.get(payment.id));
    if (problems.length > 0) findings.push({ check: "payments_match_ledger", item: `${payment.id}: ${problems.join("; ")}` });
  }
  return findings;
}

export const paymentsSweep: SweepSpec = {
  name: "payments",
  table: "payments",
  unit: "payments",
  window: invariantLimits.payments_per_call,
  checks: [{ name: "payments_match_ledger", holds: "every payment's amount, routing and state match its ledger transactions" }],
  inspect: inspectPayments,
};
