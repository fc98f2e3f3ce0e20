/**
 * Routing a received transfer to whom it belongs (API §5), first rule that matches:
 *   1. destination account number is an active virtual account → its customer and merchant
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

export interface TransferFacts {
  destination_account_number: string | null;
  concepto: string | null;
  sender: { cuit: string | null; name: string | null; cbu: string | null };
}

export interface RoutingLookups {
  /** Rule 1's hook: virtual accounts arrive with API §11. */
  virtualAccount(accountNumber: string): Promise<{ customer_id: string; merchant_id: string } | null>;
  customerReference(code: string): Promise<{ customer_id: string; merchant_id: string } | null>;
  merchantReference(code: string): Promise<{ merchant_id: string } | null>;
  /** Finds the sender's customer by CUIT or creates it (origin "auto"). */
  senderCustomer(sender: { cuit: string; name: string; cbu: string | null }): Promise<string>;
}

export type RoutingDecision =
  | { kind: "customer"; customer_id: string; merchant_id: string; matched_by: MatchedBy }
  | { kind: "merchant_only"; merchant_id: string; matched_by: "merchant_reference" }
  | { kind: "quarantine"; reason: string };

export async function routeTransfer(transfer: TransferFacts, lookups: RoutingLookups): Promise<RoutingDecision> {
  if (transfer.destination_account_number) {
    const account = await lookups.virtualAccount(transfer.destination_account_number);
    if (account) return { kind: "customer", ...account, matched_by: "virtual_account" };
  }

  const references = findReferences(transfer.concepto ?? "");
  if (references.malformed.length > 0) {
    return { kind: "quarantine", reason: `reference with a wrong check character: ${references.malformed.join(", ")}` };
  }

  const customers = new Map<string, { customer_id: string; merchant_id: string }>();
  for (const code of references.customer) {
    const found = await lookups.customerReference(code);
    if (found) customers.set(`${found.customer_id}/${found.merchant_id}`, found);
  }
  if (customers.size > 1) return { kind: "quarantine", reason: "references of several customers" };
  const [customer] = customers.values();
  if (customer) return { kind: "customer", ...customer, matched_by: "customer_reference" };

  const merchants = new Set<string>();
  for (const code of references.merchant) {
    const found = await lookups.merchantReference(code);
    if (found) merchants.add(found.merchant_id);
  }
  if (merchants.size > 1) return { kind: "quarantine", reason: "references of several merchants" };
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

  return { kind: "quarantine", reason: "no virtual account or reference matched" };
}
