/**
 * The cash-in saga: a verified `transfer.received` event becomes exactly one payment.
 *
 *   1. the payment id is derived from the bank_transaction_id: one bank transfer, one payment
 *   2. route (API §5 rules), auto-creating the sender's customer if rule 3 needs it
 *   3. credit the customer's Durable Object; in the same atomic write it stores the raw
 *      event and the D1 projection in its outbox (so from here on nothing can be lost)
 *   4. project to D1 in one batch: event, payment, ledger transaction, merchant balance
 * A crash after 3 is finished by the bank's redelivery (3 is a replay, 4 runs) or by the
 * object's alarm. Quarantined and merchant-only cash-ins touch no object: 4 alone.
 */
import { applyProjection, type PaymentRecord, type Projection } from "../accounts/projections";
import { customerAccountStub } from "../accounts/customer-account";
import type { TransferReceived } from "../bank/events";
import { type ReceivedEvent, UnprocessableEvent } from "../bank/event-log";
import { derivedId } from "../crypto";
import { linkCustomer } from "../db/customers";
import type { Config, Env } from "../env";
import { faultPoint } from "../faults";
import { log } from "../log";
import { d1RoutingLookups } from "./routing-lookups";
import { routeTransfer, type RoutingDecision } from "./route-transfer";

export type CashInOutcome = "credited" | "quarantined" | "duplicate";

export function paymentIdOf(bankTransactionId: string): Promise<string> {
  return derivedId("pay", `bank_transaction:${bankTransactionId}`);
}

export async function receiveTransfer(env: Env, config: Config, event: ReceivedEvent, transfer: TransferReceived): Promise<{ outcome: CashInOutcome; payment_id: string }> {
  if (!config.currencies.includes(transfer.currency)) {
    throw new UnprocessableEvent(`currency ${transfer.currency} is not enabled`);
  }
  // No read to dedupe: a repeat replays in the customer's object (same payment id) and its
  // projection changes nothing in D1; a repeat whose data differs is caught by the
  // projection's confirmation and undone below. The common case pays for none of it.
  const payment_id = await paymentIdOf(transfer.bank_transaction_id);

  const decision = await routeTransfer(
    {
      destination_account_number: transfer.destination?.account_number ?? null,
      concepto: transfer.concepto ?? null,
      sender: { cuit: transfer.sender.cuit ?? null, name: transfer.sender.name ?? null, cbu: transfer.sender.cbu ?? null },
    },
    d1RoutingLookups(env, config),
  );
  const now = Date.now();
  const payment = paymentRecord(payment_id, transfer, decision, now);
  const projection: Projection = {
    kind: "payment.recorded",
    op_id: payment_id,
    payment,
    event,
  };

  if (decision.kind !== "customer") {
    if ((await applyProjection(env.DB, projection, now)) === "conflict") return refuseConflicting(env, event, transfer);
    if (decision.kind === "quarantine") log("warn", "cash-in quarantined", { payment_id, reason: decision.reason });
    return { outcome: payment.status, payment_id };
  }

  // Transacting through a merchant links the customer to it (API §4). A customer reference
  // exists only on a link; other rules may meet the pair for the first time (a read, and a
  // write only then).
  if (decision.matched_by !== "customer_reference") await linkCustomer(env.DB, decision.customer_id, decision.merchant_id);
  faultPoint("cashin.before_account_credit");
  const account = customerAccountStub(env, decision.customer_id);
  const credit = await account.credit({ op_id: payment_id, amount: payment.amount, currency: payment.currency, merchant_id: decision.merchant_id, projection });
  faultPoint("cashin.after_account_credit");
  if ((await applyProjection(env.DB, projection)) === "conflict") {
    // The other delivery was recorded first: this credit was a duplicate. Only a credit this
    // call made is undone: a replayed one is the first delivery's (its own projection, which
    // the object's alarm checks and, if it lost too, reverts).
    if (!credit.replayed) await account.revertCredit(payment_id);
    return refuseConflicting(env, event, transfer);
  }
  return { outcome: "credited", payment_id };
}

/**
 * One bank transfer delivered twice with different data (amount, sender, concepto routing it
 * elsewhere): the first recorded stands, and this event is stored as failed for the operator.
 */
async function refuseConflicting(env: Env, event: ReceivedEvent, transfer: TransferReceived): Promise<never> {
  const error = `bank_transaction_id ${transfer.bank_transaction_id} is already recorded with different data`;
  // The projection's batch stored the event as processed; it was not.
  await env.DB.prepare("UPDATE bank_events SET status = 'failed', error = ?, updated_at = ? WHERE id = ?").bind(error, Date.now(), event.id).run();
  throw new UnprocessableEvent(error);
}

function paymentRecord(id: string, transfer: TransferReceived, decision: RoutingDecision, now: number): PaymentRecord {
  return {
    id,
    bank_transaction_id: transfer.bank_transaction_id,
    status: decision.kind === "quarantine" ? "quarantined" : "credited",
    amount: transfer.amount,
    currency: transfer.currency,
    customer_id: decision.kind === "customer" ? decision.customer_id : null,
    merchant_id: decision.kind === "quarantine" ? null : decision.merchant_id,
    sender_cuit: transfer.sender.cuit ?? null,
    sender_name: transfer.sender.name ?? null,
    sender_cbu: transfer.sender.cbu ?? null,
    concepto: transfer.concepto ?? null,
    destination_account_number: transfer.destination?.account_number ?? null,
    matched_by: decision.kind === "quarantine" ? null : decision.matched_by,
    booked_at: Date.parse(transfer.booked_at),
    created_at: now,
  };
}
