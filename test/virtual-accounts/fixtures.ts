/**
 * Virtual accounts for routing tests, written straight into D1 (the provisioning routes arrive
 * on another branch): an allocation from the CVU allocator, and the account row.
 */
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { database } from "../../src/db/client";
import { cvuAllocations, payments, virtualAccounts } from "../../src/db/schema";
import { cvuOf } from "../../src/domain/cvu";
import { paymentIdOf } from "../../src/cashins/receive-transfer";

export type VirtualAccountRow = typeof virtualAccounts.$inferSelect;

export interface AccountOptions {
  merchant_id: string;
  customer_id: string;
  kind?: "per_customer" | "per_transaction";
  status?: VirtualAccountRow["status"];
  expected_amount?: number | null;
  expires_at?: number | null;
  amount_policy?: "accept" | "reject" | "hold" | null;
  currency?: string;
}

let counter = 0;

export async function insertVirtualAccount(options: AccountOptions): Promise<VirtualAccountRow> {
  const db = database(env.DB);
  const id = `va_test${Date.now().toString(36)}${++counter}${Math.random().toString(36).slice(2, 8)}`;
  const now = Date.now();
  const [allocation] = await db.insert(cvuAllocations).values({ virtual_account_id: id, allocated_at: now }).returning();
  const kind = options.kind ?? "per_customer";
  const row = {
    id,
    account_number: cvuOf("0042", allocation!.seq),
    kind,
    status: options.status ?? "active",
    merchant_id: options.merchant_id,
    customer_id: options.customer_id,
    currency: options.currency ?? "ARS",
    expected_amount: options.expected_amount ?? null,
    expires_at: options.expires_at === undefined ? (kind === "per_transaction" ? now + 86_400_000 : null) : options.expires_at,
    amount_policy: options.amount_policy === undefined ? (kind === "per_transaction" ? "hold" : null) : options.amount_policy,
    registered_at: now,
    created_at: now,
    updated_at: now,
  } as const;
  await db.insert(virtualAccounts).values(row);
  return (await virtualAccountRow(id))!;
}

export async function virtualAccountRow(id: string): Promise<VirtualAccountRow | undefined> {
  return database(env.DB).query.virtualAccounts.findFirst({ where: eq(virtualAccounts.id, id) });
}

export async function setAccountStatus(id: string, status: VirtualAccountRow["status"]): Promise<void> {
  await database(env.DB).update(virtualAccounts).set({ status, updated_at: Date.now() }).where(eq(virtualAccounts.id, id));
}

/** The payment of a bank transfer as D1 holds it (quarantined ones have no merchant to GET them through). */
export async function paymentOf(bankTransactionId: string) {
  const id = await paymentIdOf(bankTransactionId);
  return { id, row: await database(env.DB).query.payments.findFirst({ where: eq(payments.id, id) }) };
}

/** A number of our range that no account was ever allocated (the allocator counts up from 1). */
export function neverIssuedNumber(): string {
  return cvuOf("0042", 900_000_000_000 + Math.floor(Math.random() * 99_999_999_999));
}
