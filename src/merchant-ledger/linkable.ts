/**
 * What may be linked to a merchant's virtual account or internal account (API §11): only an
 * account of the caller's own ledger, of the same currency. Anything else is `400
 * invalid_request` naming the field; another merchant's account answers exactly as one that
 * does not exist, so ids of other ledgers cannot be probed.
 */
import { and, eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { merchantLedgerAccounts } from "../db/schema";
import { ApiError } from "../errors";

export async function assertLinkable(db: Db, merchantId: string, ledgerAccountId: string, currency: string, field = "ledger_account_id"): Promise<void> {
  const account = await db
    .select({ currency: merchantLedgerAccounts.currency })
    .from(merchantLedgerAccounts)
    .where(and(eq(merchantLedgerAccounts.id, ledgerAccountId), eq(merchantLedgerAccounts.merchant_id, merchantId)))
    .get();
  if (!account) {
    throw new ApiError("invalid_request", `${field} is not an account of your ledger.`, [{ path: field, message: "no such ledger account in your ledger" }]);
  }
  if (account.currency !== currency) {
    throw new ApiError("invalid_request", `${field} is in ${account.currency}; it must be in ${currency} to be linked here.`, [{ path: field, message: `must be a ${currency} ledger account` }]);
  }
}
