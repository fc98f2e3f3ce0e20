/**
 * Routing a received transfer to whom it belongs (API §5), first rule that matches:
 *   1. the destination account number is in our CVU range → its virtual account's customer and
 *      merchant, with the outcomes of API §11 (virtual-account-routing.ts); a number we never
 *      issued is quarantined
 *   2. a valid customer reference in the concepto → that customer, for the merchant it was issued to
 *   3. a valid merchant reference → that merchant; the customer is the sender by CUIT
 *      (auto-created when unknown), or none when the sender has no usable CUIT
 *   4. otherwise → quarantine (suspense). Money is never dropped.
 * A reference-shaped code whose check character fails means someone mistyped: the transfer
 * is quarantined rather than guessed, so a typo is never credited to someone else.
 *
 * The rules are pure; what they look up is passed in, so they are tested without a database.
 */
import { findReferences } from "../domain/reference-code";
import { normalizeCbu } from "../domain/cbu";
import { formatCuit, normalizeCuit } from "../domain/cuit";
import type { MatchedBy } from "../accounts/projections";
import { limits } from "../limits";
import { virtualAccountOutcome, type QuarantineReason, type VirtualAccountFacts } from "./virtual-account-routing";

export interface TransferFacts {
  /** The payment this transfer becomes (derived from its bank_transaction_id). */
  payment_id: string;
  amount: number;
  currency: string;
  /** The moment of routing (a per_transaction account's expiry is judged against it). */
  now: number;
  destination_account_number: string | null;
  concepto: string | null;
  sender: { cuit: string | null; name: string | null; cbu: string | null };
}

export interface RoutingLookups {
  /**
   * Rule 1: the virtual account with this number as it is now. null: the number is not of our
   * range (rules 2–4 apply); "unknown": of our range, but no account we issued routes there.
   */
  virtualAccount(accountNumber: string): Promise<VirtualAccountFacts | "unknown" | null>;
  /**
   * Marks a per_transaction account paid by this payment if it still can be (a compare-and-set:
   * of two payments racing for it, one wins), and answers the account as it is afterwards.
   */
  claimVirtualAccount(accountId: string, claim: { payment_id: string; amount: number; now: number }): Promise<VirtualAccountFacts>;
  customerReference(code: string): Promise<{ customer_id: string; merchant_id: string } | null>;
  merchantReference(code: string): Promise<{ merchant_id: string } | null>;
  /** Finds the sender's customer by CUIT or creates it (origin "auto"). */
  senderCustomer(sender: { cuit: string; name: string; cbu: string | null }): Promise<string>;
}

export type RoutingDecision =
  | {
      kind: "customer";
      customer_id: string;
      merchant_id: string;
      matched_by: MatchedBy;
      /** Rule 1: the account it arrived at, and whether this payment is the one that paid it. */
      virtual_account?: { id: string; pays: boolean; claimed_now?: boolean };
    }
  | { kind: "merchant_only"; merchant_id: string; matched_by: "merchant_reference" }
  | {
      kind: "quarantine";
      quarantine_reason: QuarantineReason;
      /** For the log: the reason in words. */
      reason: string;
      virtual_account_id?: string;
      /** amount_policy "reject": the sender's CBU to return it to (from suspense). */
      return_to?: string;
    }
  /** The same bank transfer already paid a virtual account with other data: nothing moves. */
  | { kind: "conflict"; reason: string };

export async function routeTransfer(transfer: TransferFacts, lookups: RoutingLookups): Promise<RoutingDecision> {
  if (transfer.destination_account_number) {
    const decision = await routeToVirtualAccount(transfer, transfer.destination_account_number, lookups);
    if (decision) return decision;
  }

  const references = findReferences(transfer.concepto ?? "");
  if (references.malformed.length > 0) {
    return { kind: "quarantine", quarantine_reason: "malformed_reference", reason: `reference with a wrong check character: ${references.malformed.join(", ")}` };
  }

  const customers = new Map<string, { customer_id: string; merchant_id: string }>();
  for (const code of references.customer) {
    const found = await lookups.customerReference(code);
    if (found) customers.set(`${found.customer_id}/${found.merchant_id}`, found);
  }
  if (customers.size > 1) return { kind: "quarantine", quarantine_reason: "several_customers", reason: "references of several customers" };
  const [customer] = customers.values();
  if (customer) return { kind: "customer", ...customer, matched_by: "customer_reference" };

  const merchants = new Set<string>();
  for (const code of references.merchant) {
    const found = await lookups.merchantReference(code);
    if (found) merchants.add(found.merchant_id);
  }
  if (merchants.size > 1) return { kind: "quarantine", quarantine_reason: "several_merchants", reason: "references of several merchants" };
  const [merchant_id] = merchants;
  if (merchant_id) {
    const cuit = transfer.sender.cuit ? normalizeCuit(transfer.sender.cuit) : null;
    if (!cuit) return { kind: "merchant_only", merchant_id, matched_by: "merchant_reference" };
    // A name is not needed to identify the sender; the CUIT stands in until one is known.
    const name = transfer.sender.name?.trim().slice(0, limits.name_length_max) || formatCuit(cuit);
    const cbu = transfer.sender.cbu ? normalizeCbu(transfer.sender.cbu) : null;
    const customer_id = await lookups.senderCustomer({ cuit, name, cbu });
    return { kind: "customer", customer_id, merchant_id, matched_by: "merchant_reference" };
  }

  return { kind: "quarantine", quarantine_reason: "no_match", reason: "no virtual account or reference matched" };
}

/** Rule 1, or null when the number is not of our range. */
async function routeToVirtualAccount(transfer: TransferFacts, accountNumber: string, lookups: RoutingLookups): Promise<RoutingDecision | null> {
  const found = await lookups.virtualAccount(accountNumber);
  if (found === null) return null;
  if (found === "unknown") {
    return { kind: "quarantine", quarantine_reason: "unknown_virtual_account", reason: `no virtual account of ours is numbered ${accountNumber}` };
  }
  const arriving = { payment_id: transfer.payment_id, amount: transfer.amount, currency: transfer.currency, sender_cbu: transfer.sender.cbu, now: transfer.now };
  let outcome = virtualAccountOutcome(found, arriving);
  let claimedNow = false;
  if (outcome.kind === "claim") {
    const after = await lookups.claimVirtualAccount(found.id, { payment_id: transfer.payment_id, amount: transfer.amount, now: transfer.now });
    // This delivery's own compare-and-set marked it (not a redelivery recognising an earlier
    // mark): if the delivery is refused later, the mark is released (receive-transfer.ts).
    claimedNow = after.status === "paid" && after.paid_by_payment_id === transfer.payment_id && found.paid_by_payment_id !== transfer.payment_id;
    outcome = virtualAccountOutcome(after, arriving);
    if (outcome.kind === "claim") {
      // Still payable, and not claimed: D1 already holds a payment for this bank transfer (an
      // earlier delivery, routed when this account could not take it). That first routing
      // stands; the account stays unpaid, and the repeat changes nothing.
      return { kind: "quarantine", quarantine_reason: "no_match", reason: `bank transfer already recorded before virtual account ${found.id} could take it`, virtual_account_id: found.id };
    }
  }
  const { account } = outcome;
  switch (outcome.kind) {
    case "credit":
      return { kind: "customer", customer_id: account.customer_id, merchant_id: account.merchant_id, matched_by: "virtual_account", virtual_account: { id: account.id, pays: outcome.pays, claimed_now: claimedNow } };
    case "conflict":
      return { kind: "conflict", reason: outcome.detail };
    case "quarantine":
      return {
        kind: "quarantine",
        quarantine_reason: outcome.reason,
        reason: outcome.detail,
        virtual_account_id: account.id,
        ...(outcome.return_to ? { return_to: outcome.return_to } : {}),
      };
  }
}
