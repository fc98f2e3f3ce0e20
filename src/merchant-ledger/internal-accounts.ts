/**
 * Internal accounts (API §11): the platform's settlement account as one merchant sees it, one
 * per currency, linkable to an account of the merchant's ledger. Opened when first listed, or
 * by the first payment that arrives at one of the merchant's virtual accounts in that
 * currency (migrations/0012): both with the id internalAccountId derives and INSERT OR
 * IGNORE, so concurrent openings make one.
 */
import { and, asc, eq, inArray } from "drizzle-orm";
import type { Caller } from "../context";
import type { Db } from "../db/client";
import { internalAccounts, type InternalAccountRow } from "../db/schema";
import { ApiError } from "../errors";
import { internalAccountId } from "./ids";
import { assertLinkable } from "./linkable";

/** The merchant's internal account in each of `currencies`, opening those it has not got yet. */
export async function openInternalAccounts(db: Db, merchantId: string, currencies: readonly string[], now: number): Promise<InternalAccountRow[]> {
  const rows = currencies.map((currency) => ({
    id: internalAccountId(merchantId, currency),
    merchant_id: merchantId,
    currency,
    ledger_account_id: null,
    created_at: now,
    updated_at: now,
  }));
  const [, opened] = await db.batch([
    db.insert(internalAccounts).values(rows).onConflictDoNothing(),
    db
      .select()
      .from(internalAccounts)
      .where(and(eq(internalAccounts.merchant_id, merchantId), inArray(internalAccounts.currency, [...currencies])))
      .orderBy(asc(internalAccounts.currency)),
  ]);
  return opened;
}

/** The internal account if the caller may read it (its own; the operator: any), else 404. */
export async function findInternalAccount(db: Db, caller: Caller, id: string): Promise<InternalAccountRow> {
  const owned = caller.kind === "merchant" ? eq(internalAccounts.merchant_id, caller.merchantId) : undefined;
  const row = await db.select().from(internalAccounts).where(and(eq(internalAccounts.id, id), owned)).get();
  if (!row) throw new ApiError("not_found", `No such internal account: ${id}.`);
  return row;
}

/**
 * Links the merchant's internal account to `ledgerAccountId` (null unlinks). Only an account
 * of the merchant's own ledger in the internal account's currency (assertLinkable). Applies to
 * details written from then on: nothing already written is posted again or backfilled.
 */
export async function linkInternalAccount(db: Db, merchantId: string, id: string, ledgerAccountId: string | null, now: number): Promise<InternalAccountRow> {
  const account = await findInternalAccount(db, { kind: "merchant", merchantId, keyPrefix: "" }, id);
  if (ledgerAccountId !== null) await assertLinkable(db, merchantId, ledgerAccountId, account.currency);
  const [updated] = await db
    .update(internalAccounts)
    .set({ ledger_account_id: ledgerAccountId, updated_at: now })
    .where(and(eq(internalAccounts.id, id), eq(internalAccounts.merchant_id, merchantId)))
    .returning();
  if (!updated) throw new Error(`internal account ${id} vanished (they are never deleted)`);
  return updated;
}
