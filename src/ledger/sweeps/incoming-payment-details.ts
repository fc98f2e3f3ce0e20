/**
 * Incoming payment details (API §11, migrations/0012), a window per call, from both ends:
 *   - each detail agrees with its payment (it exists, arrived at the detail's virtual account,
 *     same amount and currency; a `debit` one only for a reversed payment), belongs to the
 *     virtual account's merchant and that merchant's internal account in its currency, has the
 *     id derived from its payment; and when it names a ledger transaction, that transaction
 *     exists with the derived id and ledgers this detail in its merchant's ledger (what the
 *     transaction posts is checked by the merchant-ledger transactions sweep);
 *   - each payment at a virtual account has its `credit` detail, and its `debit` one exactly
 *     when it is reversed.
 * Bound: one query per window for each (details with their payment, virtual account and
 * transaction; payments with two index probes each).
 */
import type { Env } from "../../env";
import { invariantLimits } from "../../limits";
import { detailTransactionId, incomingPaymentDetailId, internalAccountId } from "../../merchant-ledger/ids";
import type { Finding, SweepSpec } from "./sweep";

interface DetailRow {
  id: string;
  direction: "credit" | "debit";
  merchant_id: string;
  amount: number;
  currency: string;
  virtual_account_id: string;
  internal_account_id: string;
  payment_id: string;
  ledger_transaction_id: string | null;
  payment_exists: string | null;
  payment_status: string | null;
  payment_amount: number | null;
  payment_currency: string | null;
  payment_virtual_account_id: string | null;
  account_merchant_id: string | null;
  transaction_id: string | null;
  transaction_merchant_id: string | null;
  transaction_ledgerable_type: string | null;
  transaction_ledgerable_id: string | null;
  /** A debit detail's: its credit detail's transaction (null: the credit was not ledgered). */
  credit_ledger_transaction_id: string | null;
  /** A debit detail's: entries of its credit's posting without their mirror in its own, and its own count. */
  unmirrored_entries: number;
  credit_entries: number;
  own_entries: number;
}

function paymentProblems(row: DetailRow): string[] {
  if (row.payment_exists === null) return [`payment ${row.payment_id} does not exist`];
  const problems: string[] = [];
  if (row.id !== incomingPaymentDetailId(row.payment_id, row.direction)) problems.push(`not the id of ${row.payment_id}'s ${row.direction} detail`);
  if (row.payment_virtual_account_id !== row.virtual_account_id) problems.push(`its payment arrived at ${row.payment_virtual_account_id ?? "no virtual account"}`);
  if (row.payment_amount !== row.amount || row.payment_currency !== row.currency) problems.push(`${row.amount} ${row.currency} for a payment of ${row.payment_amount} ${row.payment_currency}`);
  if (row.direction === "debit" && row.payment_status !== "reversed") problems.push(`a debit detail of a ${row.payment_status} payment`);
  if (row.account_merchant_id !== row.merchant_id) problems.push(`${row.merchant_id}'s, its virtual account ${row.account_merchant_id ?? "does not exist"}'s`);
  if (row.internal_account_id !== internalAccountId(row.merchant_id, row.currency)) problems.push(`internal account ${row.internal_account_id} is not ${row.merchant_id}'s in ${row.currency}`);
  return problems;
}

function ledgerProblems(row: DetailRow): string[] {
  if (row.ledger_transaction_id === null) return [];
  if (row.ledger_transaction_id !== detailTransactionId(row.id)) return [`names ${row.ledger_transaction_id}, not ${detailTransactionId(row.id)}`];
  if (row.transaction_id === null) return [`its transaction ${row.ledger_transaction_id} does not exist`];
  const problems: string[] = [];
  if (row.transaction_ledgerable_type !== "incoming_payment_detail" || row.transaction_ledgerable_id !== row.id) {
    problems.push(`its transaction ledgers ${row.transaction_ledgerable_type}/${row.transaction_ledgerable_id}`);
  }
  if (row.transaction_merchant_id !== row.merchant_id) problems.push(`its transaction is in ${row.transaction_merchant_id}'s ledger`);
  return problems;
}

/** A debit detail is ledgered exactly when its credit was, as the mirror of the credit's posting. */
function mirrorProblems(row: DetailRow): string[] {
  if (row.direction !== "debit") return [];
  if ((row.ledger_transaction_id === null) !== (row.credit_ledger_transaction_id === null)) {
    return [row.ledger_transaction_id === null ? "not ledgered, though its credit was" : "ledgered, though its credit was not"];
  }
  if (row.ledger_transaction_id === null) return [];
  if (row.unmirrored_entries > 0 || row.own_entries !== row.credit_entries) return [`its posting is not the mirror of ${row.credit_ledger_transaction_id}`];
  return [];
}

async function inspectDetails(_env: Env, d1: D1Database, ids: string[]): Promise<Finding[]> {
  const { results } = await d1
    .prepare(
      `SELECT d.*, p.id AS payment_exists, p.status AS payment_status, p.amount AS payment_amount, p.currency AS payment_currency,
         p.virtual_account_id AS payment_virtual_account_id, va.merchant_id AS account_merchant_id,
         t.id AS transaction_id, t.merchant_id AS transaction_merchant_id, t.ledgerable_type AS transaction_ledgerable_type,
         t.ledgerable_id AS transaction_ledgerable_id,
         c.ledger_transaction_id AS credit_ledger_transaction_id,
         (SELECT COUNT(*) FROM merchant_ledger_entries ce WHERE ce.transaction_id = c.ledger_transaction_id AND NOT EXISTS (
            SELECT 1 FROM merchant_ledger_entries de WHERE de.transaction_id = d.ledger_transaction_id AND substr(de.id, -2) = substr(ce.id, -2)
              AND de.ledger_account_id = ce.ledger_account_id AND de.direction <> ce.direction AND de.amount = ce.amount)) AS unmirrored_entries,
         (SELECT COUNT(*) FROM merchant_ledger_entries ce WHERE ce.transaction_id = c.ledger_transaction_id) AS credit_entries,
         (SELECT COUNT(*) FROM merchant_ledger_entries de WHERE de.transaction_id = d.ledger_transaction_id) AS own_entries
       FROM incoming_payment_details d
       LEFT JOIN payments p ON p.id = d.payment_id
       LEFT JOIN virtual_accounts va ON va.id = d.virtual_account_id
       LEFT JOIN merchant_ledger_transactions t ON t.id = d.ledger_transaction_id
       LEFT JOIN incoming_payment_details c ON d.direction = 'debit' AND c.payment_id = d.payment_id AND c.direction = 'credit'
       WHERE d.id BETWEEN ? AND ?`,
    )
    .bind(ids[0], ids[ids.length - 1])
    .all<DetailRow>();
  const findings: Finding[] = [];
  for (const row of results) {
    const payment = paymentProblems(row);
    if (payment.length > 0) findings.push({ check: "incoming_payment_details_match_payments", item: `${row.id}: ${payment.join("; ")}` });
    const ledger = [...ledgerProblems(row), ...mirrorProblems(row)];
    if (ledger.length > 0) findings.push({ check: "incoming_payment_details_ledgered", item: `${row.id}: ${ledger.join("; ")}` });
  }
  return findings;
}

export const incomingPaymentDetailsSweep: SweepSpec = {
  name: "incoming_payment_details",
  table: "incoming_payment_details",
  unit: "incoming payment details",
  window: invariantLimits.incoming_payment_details_per_call,
  checks: [
    {
      name: "incoming_payment_details_match_payments",
      holds: "every incoming payment detail agrees with its payment, virtual account and internal account",
    },
    {
      name: "incoming_payment_details_ledgered",
      holds: "every detail that names a ledger transaction has it, ledgering that detail in its merchant's ledger; a reversal's is posted exactly when its credit's was, as its mirror",
    },
  ],
  inspect: inspectDetails,
};

interface PaymentRow {
  id: string;
  status: string;
  virtual_account_id: string;
  credits: number;
  debits: number;
}

async function inspectPayments(_env: Env, d1: D1Database, ids: string[]): Promise<Finding[]> {
  const { results } = await d1
    .prepare(
      `SELECT p.id, p.status, p.virtual_account_id,
         (SELECT COUNT(*) FROM incoming_payment_details WHERE payment_id = p.id AND direction = 'credit') AS credits,
         (SELECT COUNT(*) FROM incoming_payment_details WHERE payment_id = p.id AND direction = 'debit') AS debits
       FROM payments p WHERE p.id BETWEEN ? AND ? AND p.virtual_account_id IS NOT NULL`,
    )
    .bind(ids[0], ids[ids.length - 1])
    .all<PaymentRow>();
  const findings: Finding[] = [];
  for (const row of results) {
    const debitsExpected = row.status === "reversed" ? 1 : 0;
    if (row.credits !== 1 || row.debits !== debitsExpected) {
      findings.push({
        check: "virtual_account_payments_detailed",
        item: `${row.id} (${row.status}, at ${row.virtual_account_id}): ${row.credits} credit and ${row.debits} debit details, expected 1 and ${debitsExpected}`,
      });
    }
  }
  return findings;
}

export const virtualAccountPaymentsSweep: SweepSpec = {
  name: "virtual_account_payments",
  table: "payments",
  unit: "payments",
  window: invariantLimits.payments_per_call,
  checks: [{ name: "virtual_account_payments_detailed", holds: "every payment at a virtual account has its credit detail, and a debit one exactly when reversed" }],
  inspect: inspectPayments,
};
