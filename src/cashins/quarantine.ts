/**
 * What an operator does with quarantined cash-ins (API §5): see them with a suggestion,
 * assign one to a customer (credited exactly once, matched_by "manual"), or return it to the
 * sender's CBU through the normal payout path.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import { customerAccountStub } from "../accounts/customer-account";
import { project } from "../accounts/project";
import { ledgerTransactionIdOf, type Projection } from "../accounts/projections";
import { cashInFee } from "../commission/fee";
import { readPricing } from "../commission/pricing";
import { derivedId, newId } from "../crypto";
import { database } from "../db/client";
import { linkCustomer } from "../db/customers";
import { customerLinks, customers, merchants, payments, payouts } from "../db/schema";
import { normalizeCbu } from "../domain/cbu";
import { normalizeCuit } from "../domain/cuit";
import { findReferences, normalizeReference, REFERENCE_ALPHABET } from "../domain/reference-code";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { platformAccountId } from "../ledger/accounts";
import { postTransaction } from "../ledger/posting";
import { accountLimits } from "../limits";
import { log } from "../log";
import { enqueueSubmission } from "../payouts/create-payout";
import { findPayout, type PayoutRow } from "../payouts/payout-row";
import type { PaymentRow } from "./payment-row";

export interface Suggestion {
  customer_id: string;
  merchant_id: string | null;
  reason: string;
}

/** Every valid code one substitution or one swap of neighbours away from `code`. */
export function oneTypoAway(code: string): string[] {
  const found = new Set<string>();
  const consider = (candidate: string) => {
    const normalized = normalizeReference(candidate);
    if (normalized && normalized !== code) found.add(normalized);
  };
  for (let position = 0; position < code.length; position++) {
    for (const symbol of REFERENCE_ALPHABET) consider(code.slice(0, position) + symbol + code.slice(position + 1));
    if (position + 1 < code.length) consider(code.slice(0, position) + code[position + 1] + code[position] + code.slice(position + 2));
  }
  return [...found];
}

/** A customer the payment probably belongs to: a reference one typo away, or a known sender. */
export async function suggestCustomer(d1: D1Database, payment: PaymentRow): Promise<Suggestion | null> {
  const near = findReferences(payment.concepto ?? "").malformed.flatMap(oneTypoAway).filter((code) => code.startsWith("CR"));
  const db = database(d1);
  const matches = new Map<string, { customer_id: string; merchant_id: string; reference: string }>();
  for (let start = 0; start < near.length; start += accountLimits.d1_parameters_max) {
    const chunk = near.slice(start, start + accountLimits.d1_parameters_max);
    const results = await db
      .select({ customer_id: customerLinks.customer_id, merchant_id: customerLinks.merchant_id, reference: customerLinks.reference })
      .from(customerLinks)
      .where(inArray(customerLinks.reference, chunk));
    for (const row of results) matches.set(row.reference, row);
  }
  if (matches.size === 1) {
    const [match] = matches.values();
    return { customer_id: match!.customer_id, merchant_id: match!.merchant_id, reason: `reference ${match!.reference} is one typo away from the concepto's` };
  }
  const cuit = payment.sender_cuit ? normalizeCuit(payment.sender_cuit) : null;
  if (cuit) {
    const customer = await db.select({ id: customers.id, last_merchant_id: customers.last_merchant_id }).from(customers).where(eq(customers.cuit, cuit)).get();
    if (customer) return { customer_id: customer.id, merchant_id: customer.last_merchant_id, reason: "the sender's CUIT is a known customer" };
  }
  return null;
}

/**
 * payouts_one_live_return's own condition, as literals: a partial index serves only a query
 * whose WHERE repeats it, and drizzle's eq() would bind the values as parameters.
 */
const liveReturn = sql`${payouts.kind} = 'return' AND ${payouts.status} NOT IN ('failed', 'canceled', 'rejected')`;

async function quarantinedPayment(d1: D1Database, paymentId: string): Promise<PaymentRow> {
  const payment = await database(d1).select().from(payments).where(eq(payments.id, paymentId)).get();
  if (!payment) throw new ApiError("not_found", "No such payment.");
  return payment;
}

export async function assignQuarantined(env: Env, paymentId: string, customerId: string, merchantId: string): Promise<PaymentRow> {
  const payment = await quarantinedPayment(env.DB, paymentId);
  const sameAssignment = payment.matched_by === "manual" && payment.customer_id === customerId && payment.merchant_id === merchantId;
  if (payment.status !== "quarantined" && !sameAssignment) {
    throw new ApiError("invalid_state", `Only a quarantined payment can be assigned; this one is ${payment.status}.`);
  }
  const db = database(env.DB);
  // Both in one round trip, as before.
  const [customer, merchant] = await db.batch([
    db.select({ id: customers.id }).from(customers).where(eq(customers.id, customerId)),
    db.select({ id: merchants.id }).from(merchants).where(eq(merchants.id, merchantId)),
  ]);
  if (!customer.length) throw new ApiError("not_found", "No such customer.", [{ path: "customer_id", message: "no such customer" }]);
  if (!merchant.length) throw new ApiError("not_found", "No such merchant.", [{ path: "merchant_id", message: "no such merchant" }]);

  await linkCustomer(env.DB, customerId, merchantId);
  // Quarantined money paid no fee; it pays one now, at the merchant's pricing in effect at the
  // assignment (read from D1: the operator's path, not the hot one). A retry replays the
  // projection the object stored, with its fee.
  const fee_amount = cashInFee(payment.amount, await readPricing(env.DB, merchantId));
  const projection: Projection = {
    kind: "payment.assigned",
    op_id: `${paymentId}:assign`,
    payment_id: paymentId,
    customer_id: customerId,
    merchant_id: merchantId,
    amount: payment.amount,
    currency: payment.currency,
    fee_amount,
  };
  const account = customerAccountStub(env, customerId);
  const credit = await account.credit({ op_id: projection.op_id, amount: payment.amount, currency: payment.currency, merchant_id: merchantId, projection });
  if (credit.outcome === "overflow") {
    throw new ApiError("invalid_state", `Crediting ${payment.amount} would take the customer's balance past ${Number.MAX_SAFE_INTEGER}.`);
  }
  if (credit.outcome === "conflict") {
    throw new ApiError("conflict", "This customer was already credited this payment with other data (another merchant).");
  }
  // Someone else's assignment (or a live return) won in D1: project() reverts the credit, so
  // that a later assignment, once the return has failed, applies again.
  const outcome = await project(env, account, credit.projection);
  if (outcome === "overflow") throw new ApiError("invalid_state", `Crediting ${payment.amount} would take the merchant's balance past ${Number.MAX_SAFE_INTEGER}.`);
  if (outcome !== "applied") throw new ApiError("invalid_state", "This payment was assigned or returned concurrently.");
  return quarantinedPayment(env.DB, paymentId);
}

/**
 * Sends a quarantined payment back to the sender's CBU: a 'return' payout, reserved from
 * suspense (a pending ledger transaction), submitted and settled like any payout. At most one
 * live return per payment (a unique index); a failed one leaves the money in suspense.
 */
export async function returnQuarantined(env: Env, paymentId: string, payoutId: string = newId("po")): Promise<PayoutRow> {
  const payment = await quarantinedPayment(env.DB, paymentId);
  const live = await database(env.DB).select({ id: payouts.id }).from(payouts).where(and(eq(payouts.payment_id, paymentId), liveReturn)).get();
  if (live) return (await findPayout(env.DB, live.id))!;
  if (payment.status !== "quarantined") throw new ApiError("invalid_state", `Only a quarantined payment can be returned; this one is ${payment.status}.`);
  const destination = payment.sender_cbu ? normalizeCbu(payment.sender_cbu) : null;
  if (!destination) throw new ApiError("invalid_state", "The sender gave no valid CBU to return the money to: assign it instead.");

  const now = Date.now();
  // Raw: a conditional INSERT … SELECT … WHERE EXISTS, in the ledger's raw batch (drizzle can say neither).
  const inserted = env.DB.prepare(
    `INSERT INTO payouts (id, kind, payment_id, amount, currency, destination_cbu, description, status, created_at, updated_at)
     SELECT ?, 'return', ?, ?, ?, ?, ?, 'pending', ?, ? WHERE EXISTS (SELECT 1 FROM payments WHERE id = ? AND status = 'quarantined')
     ON CONFLICT DO NOTHING`,
  ).bind(payoutId, paymentId, payment.amount, payment.currency, destination, `Return of ${payment.bank_transaction_id}`, now, now, paymentId);
  try {
    await env.DB.batch([
      inserted,
      ...postTransaction(
        env.DB,
        {
          id: ledgerTransactionIdOf(payoutId),
          status: "pending",
          description: "Quarantined cash-in returned to its sender",
          ledgerable_type: "payout",
          ledgerable_id: payoutId,
          effective_at: now,
          entries: [
            { account_id: platformAccountId.suspense(payment.currency), direction: "debit", amount: payment.amount },
            { account_id: platformAccountId.settlement(payment.currency), direction: "credit", amount: payment.amount },
          ],
        },
        now,
        { sql: "EXISTS (SELECT 1 FROM payouts WHERE id = ?)", params: [payoutId] },
      ),
    ]);
  } catch (error) {
    // The unique index: a concurrent return won. Answer with it.
    if (!String(error).includes("UNIQUE")) throw error;
    return returnQuarantined(env, paymentId, payoutId);
  }
  const payout = await findPayout(env.DB, payoutId);
  if (!payout) throw new ApiError("invalid_state", "This payment was assigned concurrently.");
  await enqueueSubmission(env, payoutId);
  return payout;
}

/**
 * A virtual account's amount_policy "reject" (API §11): the payment, recorded quarantined, goes
 * back to its sender by the operator's return, started once per payment whatever the
 * redeliveries: its payout id is derived from the payment, so a repeat finds it (live, or
 * failed: a failed automatic return leaves the money in suspense for the operator, and is not
 * started again). Nothing to do if the operator assigned or returned the payment meanwhile.
 */
export async function returnToSender(env: Env, paymentId: string): Promise<void> {
  const payoutId = await derivedId("po", `return:${paymentId}`);
  if (await findPayout(env.DB, payoutId)) return;
  try {
    await returnQuarantined(env, paymentId, payoutId);
  } catch (error) {
    if (!(error instanceof ApiError && error.code === "invalid_state")) throw error;
    log("warn", "a rejected cash-in was not returned to its sender", { payment_id: paymentId, reason: error.message });
  }
}
