/** Reads of virtual accounts that other parts of the API show. */
import { and, eq } from "drizzle-orm";
import { database } from "../db/client";
import { virtualAccounts } from "../db/schema";

/** The pair's active per_customer account in this currency, for deposit details; null if none. */
export async function perCustomerVirtualAccount(d1: D1Database, customerId: string, merchantId: string, currency: string): Promise<{ id: string; account_number: string } | null> {
  const row = await database(d1)
    .select({ id: virtualAccounts.id, account_number: virtualAccounts.account_number })
    .from(virtualAccounts)
    .where(
      and(
        eq(virtualAccounts.customer_id, customerId),
        eq(virtualAccounts.merchant_id, merchantId),
        eq(virtualAccounts.kind, "per_customer"),
        eq(virtualAccounts.status, "active"),
        eq(virtualAccounts.currency, currency),
      ),
    )
    .get();
  return row ?? null;
}
