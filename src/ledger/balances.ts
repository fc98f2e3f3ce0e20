/**
 * Balance reads for the API. A balance is what one ledger account says, seen the way a client
 * needs it: `available` to spend and `reserved` for payouts not yet settled.
 */
import { assert } from "../assert";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { customerAccountStub } from "../accounts/customer-account";
import { eq } from "drizzle-orm";
import { database } from "../db/client";
import { balanceAccounts, type BalanceAccountRow } from "../db/schema";
import { ledgerAccountIdOfBalanceAccount, merchantAccount } from "./accounts";

export interface Balance {
  currency: string;
  /** Minor units that may be paid out now. */
  available: number;
  /** Minor units held for pending payouts (already out of `available`). */
  reserved: number;
  /** When the balance last changed (ms); null when no account exists in this currency yet. */
  updated_at: number | null;
}

interface AccountRow {
  posted_debits: number;
  posted_credits: number;
  pending_debits: number;
  updated_at: number;
}

/**
 * The currency a request asked for (ARS when it named none, API §1), or 400
 * unsupported_currency unless the CURRENCIES variable enables it.
 */
export function enabledCurrency(currencies: readonly string[], requested: string | undefined): string {
  const currency = requested ?? "ARS";
  if (!currencies.includes(currency)) {
    throw new ApiError("unsupported_currency", `${currency} is not enabled on this platform.`, [
      { path: "currency", message: `must be one of ${currencies.join(", ")}` },
    ]);
  }
  return currency;
}

/**
 * The balance of a credit-normal ledger account (customer and merchant balances are
 * liabilities): available = posted credits − posted debits − pending debits, reserved =
 * pending debits. A currency enabled after the owner was created has no account yet: zero.
 */
async function readAccountBalance(d1: D1Database, accountId: string, currency: string): Promise<Balance> {
  const row = await d1
    .prepare("SELECT posted_debits, posted_credits, pending_debits, updated_at FROM ledger_accounts WHERE id = ?")
    .bind(accountId)
    .first<AccountRow>();
  if (!row) return { currency, available: 0, reserved: 0, updated_at: null };
  const available = row.posted_credits - row.posted_debits - row.pending_debits;
  assert(Number.isSafeInteger(available) && Number.isSafeInteger(row.pending_debits), `balance of ${accountId} is not a safe integer`);
  return { currency, available, reserved: row.pending_debits, updated_at: row.updated_at };
}

/** The merchant's balance in `currency`: D1's merchant ledger account is its source of truth. */
export function readMerchantBalance(d1: D1Database, merchantId: string, currency: string): Promise<Balance> {
  return readAccountBalance(d1, merchantAccount(merchantId, currency).id, currency);
}

/**
 * The customer's platform-wide balance in `currency`, from its Durable Object: the source of
 * truth (the D1 ledger account mirrors it, and the invariants check that they agree).
 */
export async function readCustomerBalance(env: Env, customerId: string, currency: string): Promise<Balance> {
  const balance = await customerAccountStub(env, customerId).balance(currency);
  return { currency, available: balance.available, reserved: balance.reserved, updated_at: balance.updated_at === 0 ? null : balance.updated_at };
}

/**
 * A balance account (API §12) by its public id, or null when no such balance account exists
 * (a customer's ledger account has no `ba_` face: the view excludes it).
 */
export async function readBalanceAccount(d1: D1Database, balanceAccountId: string): Promise<BalanceAccountRow | null> {
  const ledgerAccountId = ledgerAccountIdOfBalanceAccount(balanceAccountId);
  if (ledgerAccountId === null) return null;
  // By the ledger account's primary key: the view's `id` is computed, so no index serves it.
  const rows = await database(d1).select().from(balanceAccounts).where(eq(balanceAccounts.ledger_account_id, ledgerAccountId)).limit(1);
  return rows[0] ?? null;
}
