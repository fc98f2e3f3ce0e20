/**
 * Projections: what D1 must record after a customer's Durable Object has moved money.
 *
 * The object stores the projection in its outbox in the same atomic write as the balance
 * change, the Worker then applies it to D1, and the object's alarm re-applies whatever D1 has
 * not confirmed (table applied_projections). Applying one twice changes nothing: every insert
 * is keyed by the operation's id.
 */
import type { ReceivedEvent } from "../bank/event-log";
import { assignedTo, assignmentStatements, paymentStatements, payoutStatements, reversalStatements } from "./projection-statements";

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

/** The raw bank event a projection stores with its first effect. */
export type BankEventRecord = ReceivedEvent;

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
      /** What the reversal was computed from: it applies only if the payment is still so. */
      status_before: "credited" | "quarantined";
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
    // D1 records what this projection says (the first delivery of the transfer), or it
    // records another delivery's data: then this one conflicts, whatever was confirmed before.
    const recordsThis = {
      sql: "EXISTS (SELECT 1 FROM payments WHERE id = ? AND customer_id IS ? AND merchant_id IS ? AND amount = ? AND currency = ?)",
      params: [payment.id, payment.customer_id, payment.merchant_id, payment.amount, payment.currency],
    };
    const results = await d1.batch([
      ...paymentStatements(d1, projection, now),
      confirm(recordsThis.sql, ...recordsThis.params),
      d1.prepare(`SELECT ${recordsThis.sql} AS recorded`).bind(...recordsThis.params),
    ]);
    return (results[results.length - 1]?.results[0] as { recorded?: number } | undefined)?.recorded === 1 ? "applied" : "conflict";
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
