/** Balance accounts (API §12) as the API shows them. */
import type { BalanceAccountRow } from "../db/schema";
import { balanceAccountId, merchantAccount, reserveAccount } from "../ledger/accounts";
import { rfc3339 } from "../schemas/common";

/**
 * The balance account as GET /v1/balance-accounts/{id} shows it. migrations/0016's
 * balance_account_event_on_change writes the same JSON for balance_account.balance.updated
 * (test/transfers/events.test.ts compares them).
 */
export function balanceAccountView(row: BalanceAccountRow) {
  return {
    id: row.id,
    object: "balance_account" as const,
    owner_id: row.owner_id,
    kind: row.kind,
    currency: row.currency,
    available: row.available,
    reserved: row.reserved,
    updated_at: rfc3339(row.updated_at),
  };
}

export type BalanceAccountView = ReturnType<typeof balanceAccountView>;

/** The merchant object's `balance_account_id` and `reserve_account_id`, in `currency`. */
export function merchantBalanceAccountIds(merchantId: string, currency: string) {
  return {
    balance_account_id: balanceAccountId(merchantAccount(merchantId, currency).id),
    reserve_account_id: balanceAccountId(reserveAccount(merchantId, currency).id),
  };
}
