/** Transactions of a merchant's ledger: only auto-ledgering posts them (migrations/0012). */
import { and, asc, eq } from "drizzle-orm";
import type { Caller } from "../context";
import type { Db } from "../db/client";
import { merchantLedgerEntries, merchantLedgerTransactions } from "../db/schema";

export type MerchantLedgerTransactionRow = typeof merchantLedgerTransactions.$inferSelect;
export type MerchantLedgerEntryRow = typeof merchantLedgerEntries.$inferSelect;

/** The transaction with its entries, if the caller may read it (its own; the operator: any). */
export async function findMerchantLedgerTransaction(
  db: Db,
  caller: Caller,
  id: string,
): Promise<{ transaction: MerchantLedgerTransactionRow; entries: MerchantLedgerEntryRow[] } | undefined> {
  const owned = caller.kind === "merchant" ? eq(merchantLedgerTransactions.merchant_id, caller.merchantId) : undefined;
  const [transactions, entries] = await db.batch([
    db.select().from(merchantLedgerTransactions).where(and(eq(merchantLedgerTransactions.id, id), owned)),
    db.select().from(merchantLedgerEntries).where(eq(merchantLedgerEntries.transaction_id, id)).orderBy(asc(merchantLedgerEntries.id)),
  ]);
  const transaction = transactions[0];
  return transaction ? { transaction, entries } : undefined;
}
