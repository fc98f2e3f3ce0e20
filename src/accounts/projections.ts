/**
 * Projections: what D1 must record after a customer's Durable Object has moved money.
 *
 * The object stores the projection in its outbox in the same atomic write as the balance
 * change, the Worker then applies it to D1, and the object's alarm re-applies whatever D1 has
 * not confirmed (table applied_projections). Applying one twice changes nothing: every insert
 * is keyed by the operation's id.
 */
import type { ReceivedEvent } from "../bank/event-log";
import type { IdempotencyClaim } from "../context";
import { claimInFlight, storedSqlResponseStatement } from "../middleware/idempotency";
import { countMerchantRowWrites } from "../metrics";
import { merchantAccount } from "../ledger/accounts";
import { assignedTo, assignmentStatements, paymentEntries, paymentStatements, payoutStatements, reversalStatements } from "./projection-statements";

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
  /**
   * Routing rule 1: the virtual account it arrived at, whatever became of it; and why it was
   * quarantined (routing's decision, not bank data: neither is in the fingerprint). Optional:
   * projections stored in an object's outbox before they existed lack them (read as null).
   */
  virtual_account_id?: string | null;
  quarantine_reason?: string | null;
  /**
   * Commission (API §12): the fee this cash-in moves from its merchant to the platform,
   * decided once from the merchant's pricing when the cash-in is first applied and stored
   * here, so that every replay (a redelivery, the alarm, the group commit's retry) moves the
   * same fee whatever the pricing is by then. Not bank data: not in the fingerprint. Absent
   * (projections stored before commission) or 0: no fee entries. Always 0 when quarantined.
   */
  fee_amount?: number;
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
  | {
      kind: "payout.created";
      op_id: string;
      payout: PayoutRecord;
      /**
       * The Idempotency-Key claim of the request creating it: D1 writes the payout only while
       * that claim is in flight, whoever applies the projection (the request, the object's
       * alarm), so a key that stored a refusal never has a payout (payoutStatements' onlyWhile).
       * Absent in projections stored before it existed: written unguarded, as then.
       */
      claim?: IdempotencyClaim;
    }
  | {
      /** The operator assigned a quarantined payment to a customer (API §5, matched_by "manual"). */
      kind: "payment.assigned";
      op_id: string;
      payment_id: string;
      customer_id: string;
      merchant_id: string;
      amount: number;
      currency: string;
      /** Commission charged at assignment, at the pricing then in effect (see PaymentRecord.fee_amount). */
      fee_amount?: number;
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
 * applied: D1 records exactly what the object did.
 * rejected: the merchant could not cover a payout (release the customer's reservation).
 * conflict: D1 records this cause with other data (one bank_transaction_id or payout id sent
 *   twice with a different amount, sender, concepto …; or an assignment that lost). Nothing
 *   in the batch was written; the object's movement must be undone.
 * superseded: D1 records this cause with the same data, routed to someone else (routing read
 *   a state that changed between deliveries). The first routing stands; the repeat is a
 *   replay, and the object's movement must be undone.
 * overflow: a balance in D1 (the merchant's, summing many customers) would pass 2^53 - 1.
 *   Nothing was written; the object's movement must be undone and the cause refused.
 */
export type ProjectionOutcome = "applied" | "rejected" | "conflict" | "superseded" | "overflow";

/** The error message of a write guard (migrations/0006): D1 rolled the batch back. */
const differentData = "exists_with_different_data";

function isDifferentData(error: unknown): boolean {
  return String(error).includes(differentData);
}

/** migrations/0006: an entry would take a readable balance past 2^53 - 1. */
function isOverflow(error: unknown): boolean {
  return String(error).includes("balance_overflow");
}

/**
 * The data that makes an operation what it is, as canonical JSON: a repeat of its cause id
 * with an equal fingerprint is a replay, with any other a conflict. A payment's is the bank's
 * data that decides where the money goes and how much (not the routing derived from it, which
 * may read state that changed, nor the sender's display name or the booking time, which a
 * bank's webhook and its statement may format differently); a payout's is everything the
 * merchant asked for.
 */
export function fingerprintOf(projection: Projection): string {
  switch (projection.kind) {
    case "payment.recorded": {
      const { payment } = projection;
      return JSON.stringify([
        "payment",
        payment.bank_transaction_id,
        payment.amount,
        payment.currency,
        digitsOrNull(payment.sender_cuit),
        digitsOrNull(payment.sender_cbu),
        payment.destination_account_number?.trim() || null,
        payment.concepto?.trim() || null,
      ]);
    }
    case "payout.created": {
      const { payout } = projection;
      return JSON.stringify(["payout", payout.merchant_id, payout.customer_id, payout.amount, payout.currency, payout.destination_cbu, payout.description]);
    }
    case "payment.assigned":
      return JSON.stringify(["assignment", projection.payment_id, projection.customer_id, projection.merchant_id, projection.amount, projection.currency]);
    case "payment.reversed":
      return JSON.stringify(["reversal", projection.payment_id, projection.reversal_id, projection.amount, projection.currency]);
  }
}

function digitsOrNull(value: string | null): string | null {
  const digits = value?.replace(/\D/g, "") ?? "";
  return digits === "" ? null : digits;
}

/** A statement that aborts its batch unless `condition` holds (see migrations/0006). */
function guard(d1: D1Database, condition: string, ...params: unknown[]): D1PreparedStatement {
  return d1.prepare(`INSERT INTO write_guards (reason) SELECT '${differentData}' WHERE NOT (${condition})`).bind(...params);
}

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

/** The customer whose object stored this projection. */
export function customerOf(projection: Projection): string | null {
  switch (projection.kind) {
    case "payment.recorded":
      return projection.payment.customer_id;
    case "payout.created":
      return projection.payout.customer_id;
    default:
      return projection.customer_id;
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
    // The payment D1 holds for this bank transaction carries this delivery's data (else the
    // batch aborts: a conflict), and this delivery's routing (else it was superseded).
    const sameData = {
      sql: "EXISTS (SELECT 1 FROM payments WHERE id = ? AND (fingerprint = ? OR (fingerprint IS NULL AND amount = ? AND currency = ?)))",
      params: [payment.id, fingerprintOf(projection), payment.amount, payment.currency],
    };
    const sameRoute = {
      // An operator's assignment (manual) is never this delivery's routing: see sameRoute.
      sql: "EXISTS (SELECT 1 FROM payments WHERE id = ? AND customer_id IS ? AND merchant_id IS ? AND matched_by IS NOT 'manual')",
      params: [payment.id, payment.customer_id, payment.merchant_id],
    };
    try {
      const results = await d1.batch([
        ...paymentStatements(d1, projection, now, sameRoute),
        guard(d1, sameData.sql, ...sameData.params),
        confirm(sameRoute.sql, ...sameRoute.params),
        d1.prepare(`SELECT ${sameRoute.sql} AS recorded`).bind(...sameRoute.params),
      ]);
      // Bench counter: a payment this batch inserted (not a replay) moved its merchant's balance
      // row once per entry on it (the ledger trigger fires per entry): its credit, and its fee's
      // debit if it paid one (found by review: counting 1 undercounted priced cash-ins).
      if (payment.status !== "quarantined" && (results[projection.event ? 1 : 0]?.meta.changes ?? 0) > 0) countMerchantRowWrites(merchantEntriesOf(payment));
      return (results[results.length - 1]?.results[0] as { recorded?: number } | undefined)?.recorded === 1 ? "applied" : "superseded";
    } catch (error) {
      if (isDifferentData(error)) return "conflict";
      if (isOverflow(error)) return "overflow";
      throw error;
    }
  }

  if (projection.kind === "payment.assigned") {
    const { payment_id, customer_id, merchant_id } = projection;
    const won = assignedTo(payment_id, customer_id, merchant_id);
    let results: D1Result[];
    try {
      results = await d1.batch([...assignmentStatements(d1, projection, now), confirm(won.sql, ...won.params)]);
    } catch (error) {
      if (isOverflow(error)) return "overflow";
      throw error;
    }
    return (results[results.length - 1]?.meta.changes ?? 0) > 0 || (await isConfirmed(d1, confirmationKey(projection))) ? "applied" : "conflict";
  }

  if (projection.kind === "payment.reversed") {
    await d1.batch([...reversalStatements(d1, projection, now), confirm("EXISTS (SELECT 1 FROM payments WHERE id = ? AND status = 'reversed')", projection.payment_id)]);
    return "applied";
  }

  return (await applyPayoutProjection(d1, projection, now)).outcome;
}

/**
 * The payout branch of applyProjection. A projection carrying its request's claim is written
 * pending only while that claim is in flight, and the batch that writes it so also completes
 * the claim with the payout's 201 (the payout_objects view of the row: payoutView's shape), so
 * "the payout exists" and "the key answers 201" are one atomic fact, whoever applies it (the
 * request, a retry whose reservation was replayed, the object's alarm). Without that, the
 * alarm could write the payout with the key still in flight, and a retry refused before its
 * reservation would then store a refusal under the key of a live payout. `storedBody`: the 201
 * body this batch stored, which a request must answer exactly (null: it stored none).
 * `superseded`: the outcome is "rejected" because the projection's claim was no longer in
 * flight (another attempt under the key stored its answer first, or the key was pruned), not
 * for want of money: the request answers the key's stored reply.
 */
export async function applyPayoutProjection(
  d1: D1Database,
  projection: Extract<Projection, { kind: "payout.created" }>,
  now = Date.now(),
): Promise<{ outcome: ProjectionOutcome; storedBody: string | null; superseded: boolean }> {
  const confirm = (condition: string, ...params: unknown[]) =>
    d1
      .prepare(`INSERT INTO applied_projections (id, applied_at) SELECT ?, ? WHERE ${condition} ON CONFLICT DO NOTHING`)
      .bind(confirmationKey(projection), now, ...params);
  const { payout } = projection;
  const sameData = guard(
    d1,
    "EXISTS (SELECT 1 FROM payouts WHERE id = ? AND (fingerprint = ? OR (fingerprint IS NULL AND amount = ? AND currency = ? AND customer_id = ? AND merchant_id = ?)))",
    payout.id,
    fingerprintOf(projection),
    payout.amount,
    payout.currency,
    payout.customer_id,
    payout.merchant_id,
  );
  const confirmLive = confirm("EXISTS (SELECT 1 FROM payouts WHERE id = ? AND status <> 'rejected')", payout.id);
  const readStatus = d1.prepare("SELECT status, failure_reason FROM payouts WHERE id = ?").bind(payout.id);
  const outcomeOf = (result: D1Result | undefined, storedBody: string | null) => {
    const row = result?.results[0] as { status?: string; failure_reason?: string | null } | undefined;
    const rejected = row?.status === "rejected";
    return { outcome: rejected ? ("rejected" as const) : ("applied" as const), storedBody, superseded: rejected && row?.failure_reason === "superseded" };
  };
  const { claim } = projection;
  const onlyWhile = claim ? claimInFlight(claim) : undefined;
  const answer = claim ? storedCreatedAnswer(d1, claim, projection) : undefined;
  try {
    const results = await d1.batch([...payoutStatements(d1, projection, now, sameData, onlyWhile), confirmLive, ...(answer ? [answer] : []), readStatus]);
    const stored = answer ? (results[results.length - 2]?.results[0] as { response_body: string } | undefined) : undefined;
    return outcomeOf(results[results.length - 1], stored?.response_body ?? null);
  } catch (error) {
    if (isDifferentData(error)) return { outcome: "conflict", storedBody: null, superseded: false };
    if (!isInsufficientFunds(error)) throw error;
  }
  // The merchant cannot cover it. Whichever of 'pending' and 'rejected' D1 records first wins.
  try {
    const results = await d1.batch([
      d1
        .prepare(
          `INSERT INTO payouts (id, merchant_id, customer_id, amount, currency, destination_cbu, description, status, failure_reason, fingerprint, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'rejected', 'insufficient_funds', ?, ?, ?) ON CONFLICT DO NOTHING`,
        )
        .bind(payout.id, payout.merchant_id, payout.customer_id, payout.amount, payout.currency, payout.destination_cbu, payout.description, fingerprintOf(projection), payout.created_at, now),
      sameData,
      confirmLive,
      readStatus,
    ]);
    return outcomeOf(results[results.length - 1], null);
  } catch (error) {
    if (isDifferentData(error)) return { outcome: "conflict", storedBody: null, superseded: false };
    throw error;
  }
}

/**
 * Completes `claim` with the 201 of this payout, in the batch that writes it: only while the
 * claim is in flight (storedSqlResponseStatement's guard, the same as the pending insert's) and
 * only if the row is this payout, pending (the answer a creation gives; a payout that has moved
 * on since is answered by the request from its row, and stored by the middleware). Its body is
 * the payout_objects view of the row (migrations/0018), as the merchant payout's 201 is.
 */
function storedCreatedAnswer(d1: D1Database, claim: IdempotencyClaim, projection: Extract<Projection, { kind: "payout.created" }>): D1PreparedStatement {
  const { payout } = projection;
  return storedSqlResponseStatement(
    d1,
    claim,
    { status: 201, bodySql: "SELECT object FROM payout_objects WHERE id = ?", bodyParams: [payout.id] },
    {
      sql: "EXISTS (SELECT 1 FROM payouts WHERE id = ? AND kind = 'payout' AND status = 'pending' AND created_at = ? AND fingerprint = ?)",
      params: [payout.id, payout.created_at, fingerprintOf(projection)],
    },
  );
}

async function isConfirmed(d1: D1Database, opId: string): Promise<boolean> {
  return (await d1.prepare("SELECT 1 AS confirmed FROM applied_projections WHERE id = ?").bind(opId).first()) !== null;
}

/** How many entries of a credited payment's ledger transaction land on its merchant's balance account. */
function merchantEntriesOf(payment: PaymentRecord): number {
  const merchant = merchantAccount(payment.merchant_id!, payment.currency).id;
  return paymentEntries(payment).filter((entry) => entry.account_id === merchant).length;
}
