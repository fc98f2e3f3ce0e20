/**
 * The D1 statements of each projection (see projections.ts): what D1 records for a payment,
 * a payout, an assignment or a reversal, every statement idempotent by the operation's ids.
 */
import { assert } from "../assert";
import { businessDateOf } from "../domain/business-day";
import { customerAccount, merchantAccount, merchantUnassignedAccount, platformAccountId, platformBalanceAccount } from "../ledger/accounts";
import { postTransaction, type EntrySpec } from "../ledger/posting";
import { eventProcessedStatement } from "../bank/event-log";
import { fingerprintOf, ledgerTransactionIdOf, type PaymentRecord, type Projection } from "./projections";

type Condition = { sql: string; params: unknown[] };

/** Where a payment's money is owed: the customer, the merchant's unassigned funds, or suspense. */
export function paymentEntries(payment: PaymentRecord): EntrySpec[] {
  const { amount, currency } = payment;
  const settlement: EntrySpec = { account_id: platformAccountId.settlement(currency), direction: "debit", amount };
  if (payment.status === "quarantined") {
    return [settlement, { account_id: platformAccountId.suspense(currency), direction: "credit", amount }];
  }
  assert(payment.merchant_id !== null, "a credited payment has a merchant");
  const owedTo = payment.customer_id
    ? customerAccount(payment.customer_id, currency).id
    : merchantUnassignedAccount(payment.merchant_id, currency).id;
  return [
    settlement,
    { account_id: owedTo, direction: "credit", amount },
    // Before the merchant's credit: see commissionEntries.
    ...commissionEntries(payment.merchant_id, currency, payment.fee_amount ?? 0),
    // The merchant's balance is a memo view of the same money: a balanced pair of its own.
    { account_id: platformAccountId.attribution(currency), direction: "debit", amount },
    { account_id: merchantAccount(payment.merchant_id, currency).id, direction: "credit", amount },
  ];
}

/**
 * Commission (API §12): Dr merchant / Cr platform, inside the credit's own ledger transaction
 * and BEFORE the merchant's credit. None for a fee of 0. The entry trigger (migrations/0015)
 * judges each entry alone, in order, while the group commit judges each account's net: with the
 * fee first, the trigger's 2^53 − 1 check on the merchant's credit sees balance − fee + amount,
 * the same net the group's overflow guard sees, so both paths accept and refuse the same cash-ins
 * (after the credit, a merchant near the ceiling was refused one by one and accepted by the
 * group, and an alarm replaying a failed group took the customer's credit back; found by review).
 * The debit may therefore take the merchant below zero for a moment (may_overdraw): the
 * transaction as a whole raises the merchant by amount − fee ≥ 0, so the overdraft guard must
 * not refuse it, whatever the merchant's balance.
 */
export function commissionEntries(merchantId: string, currency: string, fee: number): EntrySpec[] {
  if (fee === 0) return [];
  return [
    { account_id: merchantAccount(merchantId, currency).id, direction: "debit", amount: fee, may_overdraw: true },
    { account_id: platformBalanceAccount(currency).id, direction: "credit", amount: fee },
  ];
}

/** The columns of a payment row that `paymentValues` gives, in its order. */
export const paymentColumns = `id, bank_transaction_id, status, amount, currency, customer_id, merchant_id, sender_cuit, sender_name,
  sender_cbu, concepto, destination_account_number, matched_by, booked_at, booked_date, fingerprint, created_at, virtual_account_id, quarantine_reason,
  fee_amount`;

/**
 * A payment row's values in the order of `paymentColumns` (every column but `updated_at`):
 * the one-by-one path binds them, the group commit sends them as JSON.
 */
export function paymentValues(projection: Extract<Projection, { kind: "payment.recorded" }>): unknown[] {
  const { payment } = projection;
  return [
    payment.id,
    payment.bank_transaction_id,
    payment.status,
    payment.amount,
    payment.currency,
    payment.customer_id,
    payment.merchant_id,
    payment.sender_cuit,
    payment.sender_name,
    payment.sender_cbu,
    payment.concepto,
    payment.destination_account_number,
    payment.matched_by,
    payment.booked_at,
    businessDateOf(payment.booked_at),
    fingerprintOf(projection),
    payment.created_at,
    payment.virtual_account_id ?? null,
    payment.quarantine_reason ?? null,
    payment.fee_amount ?? 0,
  ];
}

/**
 * The payment, its event and its ledger transaction. The caller follows the insert with a
 * guard that aborts the batch if D1 held this payment with other data; `sameRoute` holds
 * when D1 records this delivery's routing (not an earlier one that superseded it).
 */
export function paymentStatements(d1: D1Database, projection: Extract<Projection, { kind: "payment.recorded" }>, now: number, sameRoute: Condition): D1PreparedStatement[] {
  const { payment, event } = projection;
  const statements: D1PreparedStatement[] = [];
  if (event) statements.push(eventProcessedStatement(d1, event, now));
  statements.push(
    d1
      .prepare(
        `INSERT INTO payments (${paymentColumns}, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      )
      .bind(...paymentValues(projection), now),
    ...postTransaction(
      d1,
      {
        id: ledgerTransactionIdOf(payment.id),
        status: "posted",
        description: payment.status === "quarantined" ? "Cash-in held in suspense" : "Cash-in",
        ledgerable_type: "payment",
        ledgerable_id: payment.id,
        effective_at: payment.booked_at,
        entries: paymentEntries(payment),
      },
      now,
    ),
  );
  if (payment.customer_id && payment.merchant_id) {
    statements.push(
      d1
        .prepare(`UPDATE customers SET last_merchant_id = ? WHERE id = ? AND ${sameRoute.sql}`)
        .bind(payment.merchant_id, payment.customer_id, ...sameRoute.params),
    );
  }
  return statements;
}

const payoutIsLive = (payoutId: string) => ({
  sql: "EXISTS (SELECT 1 FROM payouts WHERE id = ? AND status <> 'rejected')",
  params: [payoutId],
});

/**
 * `sameData` follows the insert: it aborts the batch if D1 held this payout id with other data.
 * `onlyWhile` (the request's Idempotency-Key still in flight): the payout is written pending only
 * while it holds; when it does not, and D1 has no row yet, the row is written 'rejected' with
 * failure_reason 'superseded' instead, in the same batch, so that no later replay (the object's
 * alarm) can write it either, and the reservation is released as for any rejection.
 */
export function payoutStatements(
  d1: D1Database,
  projection: Extract<Projection, { kind: "payout.created" }>,
  now: number,
  sameData: D1PreparedStatement,
  onlyWhile?: { sql: string; params: unknown[] },
): D1PreparedStatement[] {
  const { payout } = projection;
  const { amount, currency } = payout;
  const row = [payout.id, payout.merchant_id, payout.customer_id, amount, currency, payout.destination_cbu, payout.description] as const;
  const insert = (status: "pending" | "rejected", condition: { sql: string; params: unknown[] }) =>
    d1
      .prepare(
        `INSERT INTO payouts (id, merchant_id, customer_id, amount, currency, destination_cbu, description, status, failure_reason, fingerprint, created_at, updated_at)
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE ${condition.sql} ON CONFLICT DO NOTHING`,
      )
      .bind(...row, status, status === "rejected" ? "superseded" : null, fingerprintOf(projection), payout.created_at, now, ...condition.params);
  return [
    insert("pending", onlyWhile ?? { sql: "1", params: [] }),
    ...(onlyWhile ? [insert("rejected", { sql: `NOT ${onlyWhile.sql}`, params: onlyWhile.params })] : []),
    sameData,
    // Pending until the bank confirms: it lowers `available` and shows as `reserved`. The
    // merchant account refuses an overdraft (trigger), which fails this whole batch.
    ...postTransaction(
      d1,
      {
        id: ledgerTransactionIdOf(payout.id),
        status: "pending",
        description: "Payout",
        ledgerable_type: "payout",
        ledgerable_id: payout.id,
        effective_at: payout.created_at,
        entries: [
          { account_id: customerAccount(payout.customer_id, currency).id, direction: "debit", amount },
          { account_id: platformAccountId.settlement(currency), direction: "credit", amount },
          { account_id: merchantAccount(payout.merchant_id, currency).id, direction: "debit", amount },
          { account_id: platformAccountId.attribution(currency), direction: "credit", amount },
        ],
      },
      now,
      payoutIsLive(payout.id),
    ),
    // A payout is an operation of its merchant's too (API §4: the merchant of the latest one).
    d1
      .prepare(`UPDATE customers SET last_merchant_id = ? WHERE id = ? AND ${payoutIsLive(payout.id).sql}`)
      .bind(payout.merchant_id, payout.customer_id, payout.id),
  ];
}

/** Suspense → the customer (and the merchant's memo), once: only if this assignment won. */
export function assignmentStatements(d1: D1Database, projection: Extract<Projection, { kind: "payment.assigned" }>, now: number): D1PreparedStatement[] {
  const { payment_id, customer_id, merchant_id, amount, currency } = projection;
  const fee = projection.fee_amount ?? 0;
  return [
    d1
      .prepare(
        `UPDATE payments SET status = 'credited', customer_id = ?, merchant_id = ?, matched_by = 'manual', fee_amount = ?, updated_at = ?
         WHERE id = ? AND status = 'quarantined'
           AND NOT EXISTS (SELECT 1 FROM payouts WHERE payment_id = ? AND kind = 'return' AND status NOT IN ('failed', 'canceled', 'rejected'))`,
      )
      .bind(customer_id, merchant_id, fee, now, payment_id, payment_id),
    ...postTransaction(
      d1,
      {
        id: `lt_assign_${payment_id}`,
        status: "posted",
        description: "Quarantined cash-in assigned by the operator",
        ledgerable_type: "payment",
        ledgerable_id: payment_id,
        effective_at: now,
        entries: [
          { account_id: platformAccountId.suspense(currency), direction: "debit", amount },
          { account_id: customerAccount(customer_id, currency).id, direction: "credit", amount },
          // Before the merchant's credit: see commissionEntries.
          ...commissionEntries(merchant_id, currency, fee),
          { account_id: platformAccountId.attribution(currency), direction: "debit", amount },
          { account_id: merchantAccount(merchant_id, currency).id, direction: "credit", amount },
        ],
      },
      now,
      assignedTo(payment_id, customer_id, merchant_id),
    ),
    d1.prepare("UPDATE customers SET last_merchant_id = ? WHERE id = ?").bind(merchant_id, customer_id),
  ];
}

export function assignedTo(paymentId: string, customerId: string, merchantId: string) {
  return {
    sql: "EXISTS (SELECT 1 FROM payments WHERE id = ? AND customer_id = ? AND merchant_id = ? AND matched_by = 'manual' AND status IN ('credited', 'reversed'))",
    params: [paymentId, customerId, merchantId],
  };
}

/**
 * The bank took the money back: it leaves the settlement account, and the customer (or the
 * merchant's unassigned funds) and the merchant's memo owe it, below zero if need be.
 */
export function reversalStatements(d1: D1Database, projection: Extract<Projection, { kind: "payment.reversed" }>, now: number): D1PreparedStatement[] {
  const { payment_id, reversal_id, customer_id, merchant_id, amount, currency, event } = projection;
  const settlement: EntrySpec = { account_id: platformAccountId.settlement(currency), direction: "credit", amount };
  let entries: EntrySpec[];
  if (merchant_id === null) {
    entries = [{ account_id: platformAccountId.suspense(currency), direction: "debit", amount }, settlement];
  } else {
    const owedBy = customer_id ? customerAccount(customer_id, currency).id : merchantUnassignedAccount(merchant_id, currency).id;
    entries = [
      { account_id: owedBy, direction: "debit", amount, may_overdraw: true },
      settlement,
      { account_id: merchantAccount(merchant_id, currency).id, direction: "debit", amount, may_overdraw: true },
      { account_id: platformAccountId.attribution(currency), direction: "credit", amount },
    ];
  }
  const ours = { sql: "EXISTS (SELECT 1 FROM payments WHERE id = ? AND status = 'reversed' AND reversal_id = ?)", params: [payment_id, reversal_id] };
  return [
    // Only from the state the reversal was computed for: a quarantined payment assigned (or a
    // return started) since is reversed by a retry of the event, computed afresh.
    d1
      .prepare(
        `UPDATE payments SET status = 'reversed', reversal_id = ?, updated_at = ?
         WHERE id = ? AND status = ? AND customer_id IS ? AND merchant_id IS ? AND reversal_id IS NULL
           AND NOT EXISTS (SELECT 1 FROM payouts WHERE payment_id = ? AND kind = 'return' AND status NOT IN ('failed', 'canceled', 'rejected'))`,
      )
      .bind(reversal_id, now, payment_id, projection.status_before, customer_id, merchant_id, payment_id),
    ...(event ? [eventProcessedStatement(d1, event, now, ours)] : []),
    ...postTransaction(
      d1,
      {
        id: `lt_reversal_${payment_id}`,
        status: "posted",
        description: "Cash-in reversed by the bank",
        ledgerable_type: "payment",
        ledgerable_id: payment_id,
        effective_at: now,
        entries,
      },
      now,
      ours,
    ),
  ];
}
