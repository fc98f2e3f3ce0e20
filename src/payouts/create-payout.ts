/**
 * Creating a payout: reserve on the customer AND the merchant, or on neither (API §7).
 *
 *   1. the customer's Durable Object reserves (available → reserved) if it covers the amount,
 *      storing the D1 projection in its outbox in the same write
 *   2. D1, in one batch: the payout row and a pending ledger transaction whose merchant entry
 *      the ledger refuses if the merchant's available would go below zero
 *   3. if D1 refused: the payout is recorded 'rejected' and the customer's reservation released
 *   4. the payout is queued for submission to the bank
 * The payout is written only while the request's Idempotency-Key is in flight (the projection
 * carries the claim): if another attempt under the key stored its answer first (the 422 of a
 * retry that took the claim over while this one stalled), step 2 records the payout rejected
 * ('superseded') instead, step 3 releases the reservation, and the request answers the key's
 * stored reply: the key never replays a refusal for a payout that exists.
 * The payout id is derived from (merchant, Idempotency-Key, the key's claim): a retry after a crash at any step
 * finds the same reservation and the same row and finishes the job. A retry that carries
 * other data (amount, customer, destination, description) moves nothing: 409 conflict. The object's alarm
 * finishes it too if nobody retries; the repair job re-queues a payout never queued.
 */
import { customerAccountStub } from "../accounts/customer-account";
import { assert } from "../assert";
import type { IdempotencyClaim } from "../context";
import { groupCommit } from "../accounts/group-commit";
import { applyPayoutProjection, type PayoutRecord } from "../accounts/projections";
import { derivedId } from "../crypto";
import { findLinkFacts } from "../db/customers";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { faultPoint } from "../faults";
import { log } from "../log";
import { requireOwnAccount } from "./destination";
import { findPayout, type PayoutRow } from "./payout-row";

export interface CreatePayoutInput {
  customer_id: string;
  amount: number;
  currency: string;
  destination_cbu: string | null;
  description: string | null;
}

const insufficientFunds = (who: string) => new ApiError("insufficient_funds", `The ${who}'s available balance does not cover this payout.`);
/**
 * A merchant that may not read the customer's balance (API §4: linked by CUIT only, no payment
 * or payout yet) must not learn it from which side refused either: one answer for both.
 */
const insufficientFundsFor = (customer: { transacted: boolean }, who: "customer" | "merchant") =>
  customer.transacted ? insufficientFunds(who) : new ApiError("insufficient_funds", "The customer's or the merchant's available balance does not cover this payout.");
const differentData = () => new ApiError("conflict", "This payout was already created with different data (amount, customer, destination or description); nothing moved.");

/**
 * Either the response stored under the request's Idempotency-Key in the batch that wrote the
 * payout pending (status and exact body: the route answers exactly it), or the payout's row as
 * D1 holds it, whose answer the idempotency middleware stores.
 */
export type CreatedPayout = { stored: { status: 201; body: string } } | { payout: PayoutRow; stored: null };

/**
 * Another attempt under the request's key stored its answer (a refusal) before this one's
 * payout reached D1: D1 recorded the payout rejected (failure_reason 'superseded'), the
 * reservation is released, nothing moved; the request answers the key's stored reply.
 */
export interface SupersededPayout {
  superseded: true;
}

export async function createPayout(env: Env, merchantId: string, idempotency: IdempotencyClaim, input: CreatePayoutInput): Promise<CreatedPayout | SupersededPayout> {
  const customer = await findLinkFacts(env.DB, input.customer_id, merchantId, "transacted");
  if (!customer) throw new ApiError("not_found", `No customer ${input.customer_id}.`, [{ path: "customer_id", message: "no such customer" }]);
  const destination_cbu = input.destination_cbu ?? customer.cbu;
  if (!destination_cbu) {
    throw new ApiError("invalid_request", "The customer has no CBU on file: give destination_cbu.", [
      { path: "destination_cbu", message: "required: the customer has no CBU" },
    ]);
  }
  await requireOwnAccount(env, customer, destination_cbu); // before anything is reserved

  // No read first: the customer's object knows whether this payout id was seen before.
  const payoutId = await derivedId("po", `${merchantId}:${idempotency.key}:${idempotency.claim_id}`);
  const payout: PayoutRecord = {
    id: payoutId,
    merchant_id: merchantId,
    customer_id: customer.id,
    amount: input.amount,
    currency: input.currency,
    destination_cbu,
    description: input.description,
    created_at: Date.now(),
  };
  const account = customerAccountStub(env, customer.id);
  const reservation = await account.reserve({
    op_id: payoutId,
    amount: payout.amount,
    currency: payout.currency,
    merchant_id: merchantId,
    // With the request's claim: D1 writes the payout only while the key is in flight, whoever
    // applies this projection (this request, a retry, the object's alarm).
    projection: { kind: "payout.created", op_id: payoutId, payout, claim: idempotency },
  });
  if (!reservation.ok && reservation.reason === "insufficient_funds") throw insufficientFundsFor(customer, "customer");
  if (!reservation.ok || reservation.state === "refused") throw differentData();
  // A replayed reservation already released (D1 rejected it, or it was canceled or failed)
  // is answered from D1 below: its projection reports a rejection again, or the row.
  faultPoint("payout.after_customer_reserve");

  // Exactly the projection the object stored: a retry applies the first attempt's. Whoever
  // writes the payout pending (this request, a retry, the object's alarm) completes the key
  // with its 201 in the same batch (applyPayoutProjection): the claim completes with the
  // payout or not at all, so no refusal can be stored later under the key of a live payout.
  const projection = reservation.projection;
  assert(projection.kind === "payout.created", `payout ${payoutId}: the object stored a ${projection.kind} projection`);
  // D1 refuses a payout its copy of the customer cannot cover: a cash-in this isolate answered
  // a moment ago and has not written yet would make it refuse money the customer has. Write it
  // first (another isolate's is not seen: the payout is then refused, and a retry succeeds).
  if (groupCommit.holdsCreditFor(input.customer_id)) await groupCommit.drain();
  const { outcome, storedBody, superseded } = await applyPayoutProjection(env.DB, projection, Date.now());
  if (outcome === "conflict") {
    // D1 holds this payout id with other data (another customer's reservation won it).
    await account.refuseReservation(payoutId);
    throw differentData();
  }
  if (outcome === "rejected") {
    // D1 recorded the payout rejected: release the reservation (the object's alarm does the
    // same, replaying this projection, if this request dies first; a release is done once).
    faultPoint("payout.after_rejection");
    await account.release(payoutId);
    if (superseded) return { superseded: true };
    // D1 refused it: the merchant's balance, or its copy of the customer's (which trails the
    // customer's object by the group commit), does not cover it.
    throw customer.transacted
      ? new ApiError("insufficient_funds", "The merchant's available balance (or a cash-in still being recorded) does not cover this payout.")
      : insufficientFundsFor(customer, "merchant");
  }
  faultPoint("payout.after_projection");
  if (storedBody !== null) {
    // This batch stored the 201 with the pending row: answer exactly that.
    await enqueueSubmission(env, payoutId);
    return { stored: { status: 201, body: storedBody } };
  }
  // D1 held the row already (a retry after a crash whose key a batch could not complete: the
  // payout moved on since, or it was written before keys were stored with it): answer the row;
  // the middleware stores the answer.
  const row = await findPayout(env.DB, payoutId);
  assert(row !== null && row.status !== "rejected", `payout ${payoutId} is live in D1 after its projection`);
  if (row.status === "pending") await enqueueSubmission(env, payoutId);
  return { payout: row, stored: null };
}

/** A lost message is not lost money: the repair job re-queues pending payouts it finds idle. */
export async function enqueueSubmission(env: Env, payoutId: string, delaySeconds = 0): Promise<void> {
  try {
    await env.PAYOUT_QUEUE.send({ payout_id: payoutId }, delaySeconds > 0 ? { delaySeconds } : undefined);
  } catch (error) {
    log("warn", "payout not queued; the repair job will", { payout_id: payoutId, error: String(error) });
  }
}
