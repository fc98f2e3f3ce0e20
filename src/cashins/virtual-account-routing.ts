/**
 * Routing rule 1 (API §5, §11): what becomes of a transfer sent to one of our virtual accounts.
 * Pure: the account is read (and, for a per_transaction account, claimed) by the caller.
 *
 *   per_customer   active → credited; closed → quarantined (virtual_account_closed)
 *   per_transaction active, not expired, the expected amount (or none set) → credited, and the
 *                  account becomes paid (a compare-and-set in D1 decides who pays it: claim)
 *                  otherwise (wrong amount, already paid, expired, closed) → amount_policy:
 *                  accept → credited; reject → returned to the sender; hold → quarantined
 * Whatever the concepto says. A per_transaction account remembers the payment that paid it and
 * its amount: a redelivery of that bank transfer is that payment again (same amount) or
 * exists_with_different_data (another amount).
 */
import { normalizeCbu } from "../domain/cbu";

/** Why a payment was quarantined (the payment's `quarantine_reason`). */
export const quarantineReasons = [
  // Rule 1: a number of our range, and what its account's state or policy made of the transfer.
  "unknown_virtual_account",
  "virtual_account_closed",
  "amount_mismatch",
  "already_paid",
  "expired",
  // Rules 2–4.
  "malformed_reference",
  "several_customers",
  "several_merchants",
  "no_match",
] as const;
export type QuarantineReason = (typeof quarantineReasons)[number];

/** A virtual account as D1 holds it at the moment of routing (its status is never cached). */
export interface VirtualAccountFacts {
  id: string;
  kind: "per_customer" | "per_transaction";
  status: "active" | "paid" | "closed";
  customer_id: string;
  merchant_id: string;
  currency: string;
  expected_amount: number | null;
  expires_at: number | null;
  amount_policy: "accept" | "reject" | "hold" | null;
  paid_by_payment_id: string | null;
  paid_amount: number | null;
}

/** What rule 1 needs of the transfer. */
export interface ArrivingPayment {
  payment_id: string;
  amount: number;
  currency: string;
  sender_cbu: string | null;
  /** The moment of routing: a per_transaction account is expired when expires_at <= now. */
  now: number;
}

export type VirtualAccountOutcome =
  /** Credited to the account's customer; `pays`: this payment is the one that paid the account. */
  | { kind: "credit"; account: VirtualAccountFacts; pays: boolean }
  /** Payable: the caller must win the compare-and-set in D1 first (claim), then decide again. */
  | { kind: "claim"; account: VirtualAccountFacts }
  /** Held in suspense; `return_to` (the sender's CBU): returned to the sender from there. */
  | { kind: "quarantine"; account: VirtualAccountFacts; reason: QuarantineReason; detail: string; return_to: string | null }
  /** This bank transfer paid the account with another amount: the first version stands. */
  | { kind: "conflict"; account: VirtualAccountFacts; detail: string };

export function virtualAccountOutcome(account: VirtualAccountFacts, payment: ArrivingPayment): VirtualAccountOutcome {
  if (account.kind === "per_customer") {
    if (account.status === "active") return { kind: "credit", account, pays: false };
    return { kind: "quarantine", account, reason: "virtual_account_closed", detail: `virtual account ${account.id} is closed`, return_to: null };
  }
  if (account.paid_by_payment_id === payment.payment_id) {
    // This bank transfer paid it (a redelivery, or the recovery of a crash after the claim).
    if (account.paid_amount === payment.amount) return { kind: "credit", account, pays: true };
    return { kind: "conflict", account, detail: `virtual account ${account.id} was paid by this bank transfer with amount ${account.paid_amount}, not ${payment.amount} (exists_with_different_data)` };
  }
  const reason = unpayableReason(account, payment);
  if (reason === null) return { kind: "claim", account };
  return byPolicy(account, payment, reason);
}

/** Why a per_transaction account cannot be paid by this payment, or null when it can. */
function unpayableReason(account: VirtualAccountFacts, payment: ArrivingPayment): QuarantineReason | null {
  if (account.status === "closed") return "virtual_account_closed";
  if (account.status === "paid") return "already_paid";
  if (account.expires_at !== null && account.expires_at <= payment.now) return "expired";
  if (account.currency !== payment.currency) return "amount_mismatch";
  if (account.expected_amount !== null && account.expected_amount !== payment.amount) return "amount_mismatch";
  return null;
}

function byPolicy(account: VirtualAccountFacts, payment: ArrivingPayment, reason: QuarantineReason): VirtualAccountOutcome {
  const policy = account.amount_policy ?? "hold"; // API §11: hold is the default
  const detail = `virtual account ${account.id}: ${reason.replaceAll("_", " ")} (amount_policy ${policy})`;
  if (policy === "accept") return { kind: "credit", account, pays: false };
  if (policy === "hold") return { kind: "quarantine", account, reason, detail, return_to: null };
  const cbu = payment.sender_cbu ? normalizeCbu(payment.sender_cbu) : null;
  // Nowhere to send it back: held for the operator instead (the reason still says why).
  if (cbu === null) return { kind: "quarantine", account, reason, detail: `${detail}; the sender gave no valid CBU to return it to: held`, return_to: null };
  return { kind: "quarantine", account, reason, detail, return_to: cbu };
}
