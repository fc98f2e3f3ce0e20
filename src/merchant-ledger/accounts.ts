/**
 * Accounts of a merchant's own ledger (API §11 "Ledger linking"), apart from the platform's
 * books: the merchant creates them and links its virtual and internal accounts to them;
 * auto-ledgering (migrations/0012) posts to them. Their cached balances are moved only by the
 * entry trigger of that migration.
 */
import { and, desc, eq, type SQL } from "drizzle-orm";
import type { Caller } from "../context";
import { newId } from "../crypto";
import type { Db } from "../db/client";
import { merchantLedgerAccounts, merchantLedgerEntries, type MerchantLedgerAccountRow } from "../db/schema";
import { afterCursor, type Cursor } from "../pagination";
import { merchantLedgerAccountId, merchantLedgerAccountPrefix } from "./ids";

export interface NewMerchantLedgerAccount {
  name: string;
  normal_balance: "credit" | "debit";
  currency: string;
  description?: string | undefined;
}

/** What a merchant may read: its own; the operator reads every merchant's. */
export function callerOwns(caller: Caller): SQL | undefined {
  return caller.kind === "merchant" ? eq(merchantLedgerAccounts.merchant_id, caller.merchantId) : undefined;
}

/**
 * Opens an account in `merchantId`'s ledger. `cause` (the idempotency claim, when the request
 * has one) fixes its id, so a retry of a request that died after the insert finds the same
 * account instead of opening a second.
 */
export async function createMerchantLedgerAccount(
  db: Db,
  merchantId: string,
  input: NewMerchantLedgerAccount,
  cause: string | null,
  now: number,
): Promise<MerchantLedgerAccountRow> {
  const id = cause === null ? newId(merchantLedgerAccountPrefix) : await merchantLedgerAccountId(`${merchantId}:${cause}`);
  const [, created] = await db.batch([
    db
      .insert(merchantLedgerAccounts)
      .values({
        id,
        merchant_id: merchantId,
        name: input.name,
        description: input.description ?? null,
        normal_balance: input.normal_balance,
        currency: input.currency,
        created_at: now,
        updated_at: now,
      })
      .onConflictDoNothing(),
    db.select().from(merchantLedgerAccounts).where(and(eq(merchantLedgerAccounts.id, id), eq(merchantLedgerAccounts.merchant_id, merchantId))),
  ]);
  const row = created[0];
  if (!row) throw new Error(`merchant ledger account ${id} was neither inserted nor found`);
  return row;
}

export async function findMerchantLedgerAccount(db: Db, caller: Caller, id: string): Promise<MerchantLedgerAccountRow | undefined> {
  return db
    .select()
    .from(merchantLedgerAccounts)
    .where(and(eq(merchantLedgerAccounts.id, id), callerOwns(caller)))
    .get();
}

/** A page of the caller's accounts (every merchant's for the operator), newest first; `limit + 1` rows (see toPage). */
export async function listMerchantLedgerAccounts(db: Db, caller: Caller, limit: number, cursor: Cursor | null): Promise<MerchantLedgerAccountRow[]> {
  return db
    .select()
    .from(merchantLedgerAccounts)
    .where(and(callerOwns(caller), afterCursor(merchantLedgerAccounts.created_at, merchantLedgerAccounts.id, cursor)))
    .orderBy(desc(merchantLedgerAccounts.created_at), desc(merchantLedgerAccounts.id))
    .limit(limit + 1);
}

/** A page of an account's entries, newest first; `limit + 1` rows. */
export async function listMerchantLedgerEntries(db: Db, accountId: string, limit: number, cursor: Cursor | null) {
  return db
    .select()
    .from(merchantLedgerEntries)
    .where(and(eq(merchantLedgerEntries.ledger_account_id, accountId), afterCursor(merchantLedgerEntries.created_at, merchantLedgerEntries.id, cursor)))
    .orderBy(desc(merchantLedgerEntries.created_at), desc(merchantLedgerEntries.id))
    .limit(limit + 1);
}
