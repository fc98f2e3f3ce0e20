/**
 * Ids in a merchant's own ledger and around it (API §11). The triggers of
 * migrations/0012_incoming_payment_details.sql derive the same ids in SQL: change both or
 * neither.
 *
 * Which ledger an id belongs to shows in its prefix: `la_ml_` / `lt_ml_` are a merchant's
 * ledger; the platform's accounts are `la_settlement_…`, `la_suspense_…`, `la_attribution_…`,
 * `la_c<id>_<cur>`, `la_m<id>_<cur>`, `la_u<id>_<cur>` (src/ledger/accounts.ts), where <id> is
 * an owner id's suffix (newId: 25 symbols, no `_`), so none has `_` as its sixth character as
 * `la_ml_…` does; its transactions are `lt_<record id>`, `lt_assign_…`, `lt_reversal_…`, and no
 * record id begins with `ml_`.
 */
import { derivedId } from "../crypto";

export const merchantLedgerAccountPrefix = "la_ml";
export const merchantLedgerTransactionPrefix = "lt_ml";

/** Whether `id` names an account of a merchant's ledger (not the platform's). */
export function isMerchantLedgerAccountId(id: string): boolean {
  return id.startsWith(`${merchantLedgerAccountPrefix}_`);
}

/** Whether `id` names a transaction of a merchant's ledger (not the platform's). */
export function isMerchantLedgerTransactionId(id: string): boolean {
  return id.startsWith(`${merchantLedgerTransactionPrefix}_`);
}

/**
 * A new ledger account's id: derived from the request's idempotency claim when it has one, so
 * that a retry after a crash (same key, same claim) finds the account the first run made.
 */
export async function merchantLedgerAccountId(cause: string): Promise<string> {
  return derivedId(merchantLedgerAccountPrefix, cause);
}

/** The settlement account as `merchantId` sees it in `currency`: one per pair, whoever opens it first. */
export function internalAccountId(merchantId: string, currency: string): string {
  return `ia_${merchantId.slice(merchantId.indexOf("_") + 1)}_${currency.toLowerCase()}`;
}

/** A payment's detail: `credit` when it arrived, `debit` when the bank reversed it. */
export function incomingPaymentDetailId(paymentId: string, direction: "credit" | "debit"): string {
  return direction === "credit" ? `ipd_${paymentId}` : `ipd_reversal_${paymentId}`;
}

/** The transaction auto-ledgering posts for a detail. */
export function detailTransactionId(detailId: string): string {
  return `${merchantLedgerTransactionPrefix}_${detailId.slice("ipd_".length)}`;
}
