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
 * A repeat of the bank transaction with other data (amount, sender, concepto …) moves
 * nothing: the object or D1 finds the first version, and the event is stored failed (422).
 */
import { applyProjection, type PaymentRecord, type Projection } from "../accounts/projections";
import { customerAccountStub } from "../accounts/customer-account";
import { project } from "../accounts/project";
import type { TransferReceived } from "../bank/events";
import { type ReceivedEvent, recordEventProcessed, UnprocessableEvent } from "../bank/event-log";
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
  // projection changes nothing in D1; a repeat whose data differs is refused by the object
  // (same customer) or by D1's write guard (any route). The common case pays for none of it.
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
    const outcome = await applyProjection(env.DB, projection, now);
    if (outcome === "conflict") return refuseConflicting(transfer);
    if (outcome === "overflow") return refuseOverflow(transfer);
    // The same data, routed otherwise before (the state routing reads has changed since):
    // the first routing stands, and this delivery is a replay.
    if (outcome === "superseded") return { outcome: "duplicate", payment_id };
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
  if (credit.outcome === "overflow") return refuseOverflow(transfer);
  if (credit.outcome === "conflict") {
    // The object holds this bank transaction with other data: the first delivery's. Finish
    // projecting that one (it may be what a crash left behind), then refuse this one.
    await project(env.DB, account, credit.projection);
    return refuseConflicting(transfer);
  }
  faultPoint("cashin.after_account_credit");
  // Exactly the projection the object stored (equal to ours when it was applied or replayed).
  const outcome = await project(env.DB, account, credit.projection);
  if (outcome === "conflict") return refuseConflicting(transfer);
  if (outcome === "overflow") return refuseOverflow(transfer);
  if (outcome === "superseded" || credit.outcome !== "applied") {
    // A replay: the stored projection recorded the first delivery's event; log this one too.
    if (storedEventId(credit.projection) !== event.id) await recordEventProcessed(env.DB, event);
    return { outcome: "duplicate", payment_id };
  }
  return { outcome: "credited", payment_id };
}

function storedEventId(projection: Projection): string | null {
  return projection.kind === "payment.recorded" ? (projection.event?.id ?? null) : null;
}

/**
 * One bank transfer delivered twice with different data (amount, sender, concepto routing it
 * elsewhere): the first recorded stands, and this event is stored as failed for the operator.
 */
/** Balances stay exact: a credit that would pass 2^53 - 1 (customer's or merchant's) is refused whole. */
function refuseOverflow(transfer: TransferReceived): never {
  throw new UnprocessableEvent(`crediting ${transfer.amount} would take a balance past ${Number.MAX_SAFE_INTEGER} (bank_transaction_id ${transfer.bank_transaction_id})`);
}

function refuseConflicting(transfer: TransferReceived): never {
  // Nothing of this delivery was written (a conflicting projection's batch aborts); the
  // caller stores the event as failed for the operator.
  throw new UnprocessableEvent(`bank_transaction_id ${transfer.bank_transaction_id} is already recorded with different data (exists_with_different_data)`);
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
