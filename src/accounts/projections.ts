/**
 * Projections: what D1 must record after a customer's Durable Object has moved money.
 *
 * The object stores the projection in its outbox in the same atomic write as the balance
 * change, the Worker then applies it to D1, and the object's alarm re-applies whatever D1 has
 * not confirmed (table applied_projections). Applying one twice changes nothing: every insert
 * is keyed by the operation's id.
 */
import { assert } from "../assert";
import { businessDateOf } from "../domain/business-day";
import { customerAccount, merchantAccount, merchantUnassignedAccount, platformAccountId } from "../ledger/accounts";
import { postTransaction, type EntrySpec } from "../ledger/posting";

export type MatchedBy = "virtual_account" | "customer_reference" | "merchant_reference" | "manual";

export interface PaymentRecord {
  id: string;
  bank_transaction_id: string;
  status: "credited" | "quarantined";
  amount: number;
  currency: string;
  customer_id: string | null;
  merchant_id: string | null;
  sender_cuit: string | null;
  sender_name: string | null;
  sender_cbu: string | null;
  concepto: string | null;
  destination_account_number: string | null;
  matched_by: MatchedBy | null;
  booked_at: number;
  created_at: number;
}

export interface BankEventRecord {
  id: string;
  type: string;
  payload: string;
  received_at: number;
}

export interface PayoutRecord {
  id: string;
  merchant_id: string;
  customer_id: string;
  amount: number;
  currency: string;
  destination_cbu: string;
  description: string | null;
  created_at: number;
}

export type Projection =
  | {
      kind: "payment.recorded";
      op_id: string;
      payment: PaymentRecord;
      event: BankEventRecord | null;
    }
  | { kind: "payout.created"; op_id: string; payout: PayoutRecord }
  | {
      /** The operator assigned a quarantined payment to a customer (API §5, matched_by "manual"). */
      kind: "payment.assigned";
      op_id: string;
      payment_id: string;
      customer_id: string;
      merchant_id: string;
      amount: number;
      currency: string;
    }
  | {
      /** The bank clawed a credit back (transfer.reversed). */
      kind: "payment.reversed";
      op_id: string;
      payment_id: string;
      reversal_id: string;
      customer_id: string | null;
      merchant_id: string | null;
      amount: number;
      currency: string;
      event: BankEventRecord | null;
    };

/**
 * applied: D1 records what the object did. rejected: the merchant could not cover a payout
 * (release the customer's reservation). conflict: D1 already records this payment differently
 * (the bank sent one bank_transaction_id twice with different data and the first one won):
 * the object's credit was a duplicate and must be reverted.
 */
export type ProjectionOutcome = "applied" | "rejected" | "conflict";

/**
 * The key D1 confirms a projection under. A payment's includes its customer: two deliveries
 * of one bank transfer routed to two customers are two different claims on one payment, and
 * only the one D1 recorded may be confirmed.
 */
export function confirmationKey(projection: Projection): string {
  switch (projection.kind) {
    case "payment.recorded":
      return `${projection.op_id}/${projection.payment.customer_id}`;
    case "payment.assigned":
      return `${projection.op_id}/${projection.customer_id}`;
    default:
      return projection.op_id;
  }
}

/** The ledger transaction id that accounts for a payment or payout. */
export function ledgerTransactionIdOf(recordId: string): string {
  return `lt_${recordId}`;
}

/** Where a payment's money is owed: the customer, the merchant's unassigned funds, or suspense. */
function paymentEntries(payment: PaymentRecord): EntrySpec[] {
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
    // The merchant's balance is a memo view of the same money: a balanced pair of its own.
    { account_id: platformAccountId.attribution(currency), direction: "debit", amount },
    { account_id: merchantAccount(payment.merchant_id, currency).id, direction: "credit", amount },
  ];
}

function paymentStatements(d1: D1Database, projection: Extract<Projection, { kind: "payment.recorded" }>, now: number): D1PreparedStatement[] {
  const { payment, event } = projection;
  const statements: D1PreparedStatement[] = [];
  if (event) statements.push(eventProcessed(d1, event, now));
  statements.push(
    d1
      .prepare(
        `INSERT INTO payments (id, bank_transaction_id, status, amount, currency, customer_id, merchant_id, sender_cuit, sender_name,
           sender_cbu, concepto, destination_account_number, matched_by, booked_at, booked_date, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      )
      .bind(
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
        payment.created_at,
        now,
      ),
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
      d1.prepare("UPDATE customers SET last_merchant_id = ? WHERE id = ?").bind(payment.merchant_id, payment.customer_id),
    );
  }
  return statements;
}

const payoutIsLive = (payoutId: string) => ({
  sql: "EXISTS (SELECT 1 FROM payouts WHERE id = ? AND status <> 'rejected')",
  params: [payoutId],
});

function payoutStatements(d1: D1Database, payout: PayoutRecord, now: number): D1PreparedStatement[] {
  const { amount, currency } = payout;
  return [
    d1
      .prepare(
        `INSERT INTO payouts (id, merchant_id, customer_id, amount, currency, destination_cbu, description, status, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT DO NOTHING`,
      )
      .bind(payout.id, payout.merchant_id, payout.customer_id, amount, currency, payout.destination_cbu, payout.description, payout.created_at, now),
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
  ];
}

/** Suspense → the customer (and the merchant's memo), once: only if this assignment won. */
function assignmentStatements(d1: D1Database, projection: Extract<Projection, { kind: "payment.assigned" }>, now: number): D1PreparedStatement[] {
  const { payment_id, customer_id, merchant_id, amount, currency } = projection;
  return [
    d1
      .prepare(
        `UPDATE payments SET status = 'credited', customer_id = ?, merchant_id = ?, matched_by = 'manual', updated_at = ?
         WHERE id = ? AND status = 'quarantined'
           AND NOT EXISTS (SELECT 1 FROM payouts WHERE payment_id = ? AND kind = 'return' AND status NOT IN ('failed', 'canceled', 'rejected'))`,
      )
      .bind(customer_id, merchant_id, now, payment_id, payment_id),
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

function assignedTo(paymentId: string, customerId: string, merchantId: string) {
  return {
    sql: "EXISTS (SELECT 1 FROM payments WHERE id = ? AND customer_id = ? AND merchant_id = ? AND matched_by = 'manual' AND status IN ('credited', 'reversed'))",
    params: [paymentId, customerId, merchantId],
  };
}

/**
 * The bank took the money back: it leaves the settlement account, and the customer (or the
 * merchant's unassigned funds) and the merchant's memo owe it, below zero if need be.
 */
function reversalStatements(d1: D1Database, projection: Extract<Projection, { kind: "payment.reversed" }>, now: number): D1PreparedStatement[] {
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
  return [
    ...(event ? [eventProcessed(d1, event, now)] : []),
    d1
      .prepare(
        `UPDATE payments SET status = 'reversed', reversal_id = ?, updated_at = ?
         WHERE id = ? AND status IN ('credited', 'quarantined') AND reversal_id IS NULL`,
      )
      .bind(reversal_id, now, payment_id),
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
      { sql: "EXISTS (SELECT 1 FROM payments WHERE id = ? AND status = 'reversed' AND reversal_id = ?)", params: [payment_id, reversal_id] },
    ),
  ];
}

function eventProcessed(d1: D1Database, event: BankEventRecord, now: number): D1PreparedStatement {
  return d1
    .prepare(
      `INSERT INTO bank_events (id, type, status, payload, received_at, updated_at) VALUES (?, ?, 'processed', ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET status = 'processed', error = NULL, updated_at = excluded.updated_at`,
    )
    .bind(event.id, event.type, event.payload, event.received_at, now);
}

function isInsufficientFunds(error: unknown): boolean {
  return String(error).includes("insufficient_funds");
}

/**
 * Applies a projection to D1 in one atomic batch. A payout the merchant cannot cover is
 * recorded as 'rejected' instead (so that a later replay cannot create it once funds arrive)
 * and reported as such: the caller then releases the customer's reservation.
 */
export async function applyProjection(d1: D1Database, projection: Projection, now = Date.now()): Promise<ProjectionOutcome> {
  // The confirmation means "D1 records exactly what the object did". A rejected payout or a
  // conflicting payment gets none, so the object's alarm replays it and compensates.
  const confirm = (condition: string, ...params: unknown[]) =>
    d1
      .prepare(`INSERT INTO applied_projections (id, applied_at) SELECT ?, ? WHERE ${condition} ON CONFLICT DO NOTHING`)
      .bind(confirmationKey(projection), now, ...params);

  if (projection.kind === "payment.recorded") {
    const { payment } = projection;
    const results = await d1.batch([
      ...paymentStatements(d1, projection, now),
      confirm(
        "EXISTS (SELECT 1 FROM payments WHERE id = ? AND customer_id IS ? AND merchant_id IS ? AND amount = ?)",
        payment.id,
        payment.customer_id,
        payment.merchant_id,
        payment.amount,
      ),
    ]);
    return (results[results.length - 1]?.meta.changes ?? 0) > 0 || (await isConfirmed(d1, confirmationKey(projection))) ? "applied" : "conflict";
  }

  if (projection.kind === "payment.assigned") {
    const { payment_id, customer_id, merchant_id } = projection;
    const won = assignedTo(payment_id, customer_id, merchant_id);
    const results = await d1.batch([...assignmentStatements(d1, projection, now), confirm(won.sql, ...won.params)]);
    return (results[results.length - 1]?.meta.changes ?? 0) > 0 || (await isConfirmed(d1, confirmationKey(projection))) ? "applied" : "conflict";
  }

  if (projection.kind === "payment.reversed") {
    await d1.batch([...reversalStatements(d1, projection, now), confirm("EXISTS (SELECT 1 FROM payments WHERE id = ? AND status = 'reversed')", projection.payment_id)]);
    return "applied";
  }

  const { payout } = projection;
  const confirmLive = confirm("EXISTS (SELECT 1 FROM payouts WHERE id = ? AND status <> 'rejected')", payout.id);
  const readStatus = d1.prepare("SELECT status FROM payouts WHERE id = ?").bind(payout.id);
  try {
    const results = await d1.batch([...payoutStatements(d1, payout, now), confirmLive, readStatus]);
    return statusIn(results[results.length - 1]) === "rejected" ? "rejected" : "applied";
  } catch (error) {
    if (!isInsufficientFunds(error)) throw error;
  }
  // The merchant cannot cover it. Whichever of 'pending' and 'rejected' D1 records first wins.
  const results = await d1.batch([
    d1
      .prepare(
        `INSERT INTO payouts (id, merchant_id, customer_id, amount, currency, destination_cbu, description, status, failure_reason, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'rejected', 'insufficient_funds', ?, ?) ON CONFLICT DO NOTHING`,
      )
      .bind(payout.id, payout.merchant_id, payout.customer_id, payout.amount, payout.currency, payout.destination_cbu, payout.description, payout.created_at, now),
    confirmLive,
    readStatus,
  ]);
  return statusIn(results[results.length - 1]) === "rejected" ? "rejected" : "applied";
}

function statusIn(result: D1Result | undefined): string | undefined {
  return (result?.results[0] as { status?: string } | undefined)?.status;
}

async function isConfirmed(d1: D1Database, opId: string): Promise<boolean> {
  return (await d1.prepare("SELECT 1 AS confirmed FROM applied_projections WHERE id = ?").bind(opId).first()) !== null;
}
