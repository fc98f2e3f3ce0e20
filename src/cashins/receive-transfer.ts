/**
 * The cash-in saga: a verified `transfer.received` event becomes exactly one payment.
 *
 *   1. the payment id is derived from the bank_transaction_id: one bank transfer, one payment
 *   2. route (API §5 rules), auto-creating the sender's customer if rule 3 needs it; a
 *      per_transaction virtual account it pays is marked paid in D1 here, before any credit (a
 *      compare-and-set: one payment pays it). A crash after that mark is finished by the bank's
 *      redelivery or reconciliation's recovery: routing finds the account paid by this very
 *      payment (paid_by_payment_id, same amount) and credits it as the paying payment.
 *   3. credit the customer's Durable Object; in the same atomic write it stores the raw
 *      event and the D1 projection in its outbox (so from here on nothing can be lost)
 *   4. answer 200, and hand the projection to the group commit (src/accounts/group-commit.ts),
 *      which writes it to D1 with the other cash-ins of the moment: event, payment, ledger
 *      transaction, balances
 * A crash after 3 is finished by the object's alarm (it replays what D1 has not confirmed) or
 * by the bank's redelivery. Quarantined and merchant-only cash-ins touch no object: D1 is
 * their durable record, written before the 200; one quarantined by a virtual account's
 * amount_policy "reject" is then returned to its sender (quarantine.ts, once per payment).
 * A repeat of the bank transaction with other data (amount, sender, concepto …) moves
 * nothing: D1, this isolate's group or the customer's object finds the first version, and the
 * event is stored failed (422). Only two deliveries racing through two isolates inside one
 * commit window can both be credited; the group commit then undoes the second (docs/MONEY.md).
 */
import { applyProjection, fingerprintOf, type PaymentRecord, type Projection, type ProjectionOutcome } from "../accounts/projections";
import { customerAccountStub, type CustomerAccount } from "../accounts/customer-account";
import { groupCommit } from "../accounts/group-commit";
import { project } from "../accounts/project";
import { sameData, type PaymentProjection, type RecordedPayment } from "../accounts/group-commit-statements";
import type { TransferReceived } from "../bank/events";
import { type ReceivedEvent, recordEventProcessed, UnprocessableEvent } from "../bank/event-log";
import { cashInFee } from "../commission/fee";
import { pricingCache } from "../commission/pricing-cache";
import { derivedId } from "../crypto";
import { linkCustomer } from "../db/customers";
import type { Config, Env } from "../env";
import { faultPoint } from "../faults";
import { log } from "../log";
import { dispatchAfterWrite, eventMerchantOf } from "../webhooks/dispatch-after-write";
import { returnToSender } from "./quarantine";
import { d1RoutingLookups, releaseVirtualAccountClaim } from "./routing-lookups";
import { routeTransfer, type RoutingDecision } from "./route-transfer";

export type CashInOutcome = "credited" | "quarantined" | "duplicate";

export function paymentIdOf(bankTransactionId: string): Promise<string> {
  return derivedId("pay", `bank_transaction:${bankTransactionId}`);
}

export interface ReceiveOptions {
  /** Keeps work alive after the response (the request's ExecutionContext): the D1 write then trails the 200. */
  waitUntil?: (promise: Promise<unknown>) => void;
}

export async function receiveTransfer(env: Env, config: Config, event: ReceivedEvent, transfer: TransferReceived, options: ReceiveOptions = {}): Promise<{ outcome: CashInOutcome; payment_id: string }> {
  if (!config.currencies.includes(transfer.currency)) {
    throw new UnprocessableEvent(`currency ${transfer.currency} is not enabled`);
  }
  // No read to dedupe: a repeat replays in the customer's object (same payment id) and its
  // projection changes nothing in D1; a repeat whose data differs is refused by the object
  // (same customer) or by D1's write guard (any route). The common case pays for none of it.
  const payment_id = await paymentIdOf(transfer.bank_transaction_id);

  // A per_transaction account's expiry is judged at the moment the money arrived: when the bank
  // booked it, not when its webhook reached us (a delivery retried for hours, or recovered by
  // reconciliation the next day, was still paid in time). Never later than now.
  const booked = Date.parse(transfer.booked_at);
  const routedAt = Number.isFinite(booked) ? Math.min(booked, Date.now()) : Date.now();
  const decision = await routeTransfer(
    {
      payment_id,
      amount: transfer.amount,
      currency: transfer.currency,
      now: routedAt,
      destination_account_number: transfer.destination?.account_number ?? null,
      concepto: transfer.concepto ?? null,
      sender: { cuit: transfer.sender.cuit ?? null, name: transfer.sender.name ?? null, cbu: transfer.sender.cbu ?? null },
    },
    d1RoutingLookups(env, config),
  );
  // This bank transfer paid a virtual account with another amount: the first version stands.
  if (decision.kind === "conflict") throw new UnprocessableEvent(`bank_transaction_id ${transfer.bank_transaction_id}: ${decision.reason}`);
  const now = Date.now();
  // Commission (API §12): decided here, once, from the merchant's price as this isolate knows
  // it (a cache: no D1 read per cash-in), and stored in the projection. A repeat replays the
  // stored projection (the object's, or D1's payment), never this freshly computed fee.
  const fee = decision.kind === "quarantine" ? 0 : cashInFee(transfer.amount, await pricingCache.pricingOf(env.DB, decision.merchant_id));
  const payment = paymentRecord(payment_id, transfer, decision, now, fee);
  const projection: PaymentProjection = {
    kind: "payment.recorded",
    op_id: payment_id,
    payment,
    event,
  };

  if (decision.kind !== "customer") {
    // A first version this isolate is about to write (credited, in its group commit) stands:
    // recording this one in D1 first would make the group commit undo an acknowledged credit.
    const inFlight = inFlightVersion(payment_id);
    if (inFlight && !sameData(inFlight, projection)) return refuseConflicting(transfer);
    if (inFlight) {
      await recordEventProcessed(env.DB, event);
      return { outcome: "duplicate", payment_id };
    }
    const outcome = await applyProjection(env.DB, projection, now);
    await dispatchAfterWrite(env, [eventMerchantOf(projection, outcome)], options.waitUntil);
    if (outcome === "conflict") return refuseConflicting(transfer);
    if (outcome === "overflow") return refuseOverflow(transfer);
    // The same data, routed otherwise before (the state routing reads has changed since):
    // the first routing stands, and this delivery is a replay.
    if (outcome === "superseded") return { outcome: "duplicate", payment_id };
    if (decision.kind === "quarantine") {
      log("warn", "cash-in quarantined", { payment_id, reason: decision.reason, quarantine_reason: decision.quarantine_reason });
      // amount_policy "reject": recorded quarantined above, now sent back from suspense. A
      // crash before this line is finished by the bank's redelivery (or reconciliation's
      // recovery): the same decision, a replay of the payment, and this same idempotent step.
      if (decision.return_to) {
        faultPoint("cashin.before_return_to_sender");
        await returnToSender(env, payment_id);
      }
    }
    return { outcome: payment.status, payment_id };
  }

  if (!decision.virtual_account?.claimed_now) return creditCustomer(env, event, transfer, decision, projection, options);
  try {
    return await creditCustomer(env, event, transfer, decision, projection, options);
  } catch (error) {
    // This delivery marked a per_transaction account paid and is then refused (another version
    // of the bank transaction stands, or the credit would overflow): the mark has no payment
    // behind it, so it is released and the account's real payer can still pay it.
    if (error instanceof UnprocessableEvent) await releaseVirtualAccountClaim(env.DB, decision.virtual_account.id, payment_id);
    throw error;
  }
}

async function creditCustomer(
  env: Env,
  event: ReceivedEvent,
  transfer: TransferReceived,
  decision: Extract<RoutingDecision, { kind: "customer" }>,
  projection: PaymentProjection,
  options: ReceiveOptions,
): Promise<{ outcome: CashInOutcome; payment_id: string }> {
  const payment_id = projection.op_id;
  const payment = projection.payment;
  // The first version of a bank transaction stands. While this isolate holds it for a group
  // commit, a repeat with other data, or the same data routed now to another customer, is
  // decided here, before any customer is credited.
  const prior = inFlightVersion(payment_id);
  if (prior && !sameData(prior, projection)) return refuseConflicting(transfer);
  if (prior) {
    // A replay (to this customer, or superseded by a first routing elsewhere): nothing moves.
    await recordEventProcessed(env.DB, event);
    return { outcome: "duplicate", payment_id };
  }

  // Transacting through a merchant links the customer to it (API §4). A customer reference
  // exists only on a link; other rules may meet the pair for the first time (a read, and a
  // write only then).
  // A virtual account exists only for a customer its merchant already sees (linked).
  if (decision.matched_by !== "customer_reference" && decision.matched_by !== "virtual_account") await linkCustomer(env.DB, decision.customer_id, decision.merchant_id);
  faultPoint("cashin.before_account_credit");
  const account = customerAccountStub(env, decision.customer_id);
  const credit = await account.credit({ op_id: payment_id, amount: payment.amount, currency: payment.currency, merchant_id: decision.merchant_id, projection });
  if (credit.outcome === "overflow") return refuseOverflow(transfer);
  if (credit.outcome === "conflict") {
    // The object holds this bank transaction with other data: the first delivery's. Make sure
    // that one reaches D1 (it may be what a crash left behind), then refuse this one.
    await submitToGroup(env, account, credit.projection as PaymentProjection, options);
    return refuseConflicting(transfer);
  }
  faultPoint("cashin.after_account_credit");
  // The credit is durable in the object, with exactly this projection in its outbox: the 200
  // is honest now. D1 receives it in the next group commit (or from the object's alarm).
  // A delivery refused before (another version won in D1): rare, so D1 is asked now, and says
  // which answer it deserves (superseded: 200; conflict or overflow: 422).
  const outcome =
    credit.outcome === "refused"
      ? await project(env, account, credit.projection, options.waitUntil)
      : await submitToGroup(env, account, credit.projection as PaymentProjection, options);
  if (outcome === "conflict") return refuseConflicting(transfer);
  if (outcome === "overflow") return refuseOverflow(transfer);
  if (outcome === "superseded" || credit.outcome !== "applied") {
    // A replay: the stored projection recorded the first delivery's event; log this one too.
    if (storedEventId(credit.projection) !== event.id) await recordEventProcessed(env.DB, event);
    return { outcome: "duplicate", payment_id };
  }
  return { outcome: "credited", payment_id };
}

/**
 * Hands a credited cash-in's projection to the group commit when the caller can keep work
 * alive past its response (`waitUntil`: the webhook route) and the buffer has room: the answer
 * is then "queued". Otherwise the caller writes it now and gets D1's verdict (reconciliation's
 * recovery, an operator's retry, back-pressure).
 */
async function submitToGroup(env: Env, account: DurableObjectStub<CustomerAccount>, projection: PaymentProjection, options: ReceiveOptions): Promise<ProjectionOutcome | "queued"> {
  if (options.waitUntil && groupCommit.offer(env, projection, options.waitUntil)) return "queued";
  return project(env, account, projection, options.waitUntil);
}

/**
 * The version of this bank transaction this isolate is about to write, if any. D1 is not read
 * here: a read on every cash-in would put D1 back on the critical path (its busy time is the
 * platform's ceiling). A first version already in D1 is found by the customer's object (same
 * customer) or by the group commit a moment later (another customer: docs/MONEY.md).
 */
function inFlightVersion(paymentId: string): Pick<RecordedPayment, "fingerprint" | "customer_id" | "merchant_id" | "amount" | "currency"> | null {
  const inFlight = groupCommit.inFlightPayment(paymentId);
  if (!inFlight) return null;
  return { fingerprint: fingerprintOf(inFlight), customer_id: inFlight.payment.customer_id, merchant_id: inFlight.payment.merchant_id, amount: inFlight.payment.amount, currency: inFlight.payment.currency };
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

function paymentRecord(id: string, transfer: TransferReceived, decision: Exclude<RoutingDecision, { kind: "conflict" }>, now: number, fee: number): PaymentRecord {
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
    virtual_account_id: (decision.kind === "customer" ? decision.virtual_account?.id : decision.kind === "quarantine" ? decision.virtual_account_id : null) ?? null,
    quarantine_reason: decision.kind === "quarantine" ? decision.quarantine_reason : null,
    fee_amount: fee,
    booked_at: Date.parse(transfer.booked_at),
    created_at: now,
  };
}
