/** What the routing rules look up, answered from D1, with the immutable answers cached. */
import { and, eq, gt, isNull, notExists, or, sql } from "drizzle-orm";
import { database } from "../db/client";
import { findOrCreateCustomer } from "../db/customers";
import { customerLinks, merchants, payments, virtualAccounts } from "../db/schema";
import { isInCvuRange } from "../domain/cvu";
import type { Config, Env } from "../env";
import { limits } from "../limits";
import { timedRead } from "../metrics";
import type { RoutingLookups } from "./route-transfer";
import type { VirtualAccountFacts } from "./virtual-account-routing";

/**
 * A reference, once issued, names the same customer and merchant forever (links are never
 * deleted or re-keyed), so a found reference can be cached for the life of the isolate. A
 * reference not found is not cached: it may be issued a moment later.
 */
class ImmutableCache<V> {
  private readonly entries = new Map<string, V>();
  constructor(private readonly capacity: number) {}

  async get(key: string, load: () => Promise<V | null>): Promise<V | null> {
    const hit = this.entries.get(key);
    if (hit !== undefined) return hit;
    const value = await load();
    if (value !== null) {
      if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value as string);
      this.entries.set(key, value);
    }
    return value;
  }
}

const customerReferences = new ImmutableCache<{ customer_id: string; merchant_id: string }>(limits.reference_cache_entries);
const merchantReferences = new ImmutableCache<{ merchant_id: string }>(limits.reference_cache_entries);

export function d1RoutingLookups(env: Env, config: Config): RoutingLookups {
  const d1 = env.DB;
  return {
    virtualAccount: (accountNumber) => virtualAccountByNumber(d1, config, accountNumber),
    claimVirtualAccount: (accountId, claim) => claimVirtualAccount(d1, accountId, claim),
    customerReference: (code) => customerReferences.get(code, () => customerOfReference(d1, code)),
    merchantReference: (code) => merchantReferences.get(code, () => merchantOfReference(d1, code)),
    senderCustomer: async (sender) => {
      const { customer } = await findOrCreateCustomer(d1, { ...sender, origin: "auto" }, config.currencies);
      return customer.id;
    },
  };
}

/** A customer reference's link, by the unique reference: timed (src/metrics.ts), as it runs on the cash-in path. */
async function customerOfReference(d1: D1Database, code: string): Promise<{ customer_id: string; merchant_id: string } | null> {
  const db = database(d1);
  const [link] = await timedRead(
    db,
    db.select({ customer_id: customerLinks.customer_id, merchant_id: customerLinks.merchant_id }).from(customerLinks).where(eq(customerLinks.reference, code)).limit(1),
  );
  return link ?? null;
}

/** A merchant reference's merchant, by the unique reference: timed, like the customer reference's read. */
async function merchantOfReference(d1: D1Database, code: string): Promise<{ merchant_id: string } | null> {
  const db = database(d1);
  const [merchant] = await timedRead(db, db.select({ merchant_id: merchants.id }).from(merchants).where(eq(merchants.reference, code)).limit(1));
  return merchant ?? null;
}

const accountColumns = {
  id: true,
  kind: true,
  status: true,
  customer_id: true,
  merchant_id: true,
  currency: true,
  expected_amount: true,
  expires_at: true,
  amount_policy: true,
  paid_by_payment_id: true,
  paid_amount: true,
} as const;

type AccountRow = Omit<VirtualAccountFacts, "status"> & { status: VirtualAccountFacts["status"] | "registering" | "retired" };

/**
 * Rule 1's read: one point read by the unique account_number, on every transfer to our range.
 * Not cached: the status (active, paid, closed) must be seen the moment it changes, and the
 * read that finds the account costs the same whether its immutable half is cached or not.
 */
async function virtualAccountByNumber(d1: D1Database, config: Config, destination: string): Promise<VirtualAccountFacts | "unknown" | null> {
  // Banks print CVUs with spaces or dashes; check digits are not required (isInCvuRange).
  const accountNumber = destination.replace(/[\s-]/g, "");
  if (!isInCvuRange(accountNumber, config.cvuPspCode)) return null;
  const row = (await database(d1).query.virtualAccounts.findFirst({ columns: accountColumns, where: eq(virtualAccounts.account_number, accountNumber) })) as AccountRow | undefined;
  // Registering (the bank not yet confirmed) and retired accounts never route: as never issued.
  if (!row || row.status === "registering" || row.status === "retired") return "unknown";
  return row as VirtualAccountFacts;
}

/**
 * The paid compare-and-set: the account becomes paid by this payment only if it is still an
 * active, unexpired per_transaction account expecting this amount (or none), and no payment of
 * this bank transfer exists yet (an earlier delivery routed otherwise stands). Of two payments
 * racing for the account, D1 applies one update first: the other finds it paid. The row is
 * read back in the same batch (one round trip), whoever won.
 */
/**
 * Undoes a paid mark this payment's delivery made, when that delivery is refused: unless a
 * payment of this id that really paid the account (credited there, with the paid amount) is in
 * D1, the account is active again.
 */
export async function releaseVirtualAccountClaim(d1: D1Database, accountId: string, paymentId: string): Promise<void> {
  const now = Date.now();
  await database(d1)
    .update(virtualAccounts)
    .set({ status: "active", paid_by_payment_id: null, paid_amount: null, paid_at: null, updated_at: now })
    .where(
      and(
        eq(virtualAccounts.id, accountId),
        eq(virtualAccounts.status, "paid"),
        eq(virtualAccounts.paid_by_payment_id, paymentId),
        sql`NOT EXISTS (SELECT 1 FROM payments WHERE payments.id = ${paymentId} AND payments.virtual_account_id = ${accountId} AND payments.status IN ('credited', 'reversed') AND payments.amount = virtual_accounts.paid_amount)`,
      ),
    );
}

async function claimVirtualAccount(d1: D1Database, accountId: string, claim: { payment_id: string; amount: number; now: number }): Promise<VirtualAccountFacts> {
  const db = database(d1);
  const [, after] = await db.batch([
    db
      .update(virtualAccounts)
      .set({ status: "paid", paid_by_payment_id: claim.payment_id, paid_amount: claim.amount, paid_at: claim.now, updated_at: claim.now })
      .where(
        and(
          eq(virtualAccounts.id, accountId),
          eq(virtualAccounts.status, "active"),
          eq(virtualAccounts.kind, "per_transaction"),
          or(isNull(virtualAccounts.expected_amount), eq(virtualAccounts.expected_amount, claim.amount)),
          or(isNull(virtualAccounts.expires_at), gt(virtualAccounts.expires_at, claim.now)),
          notExists(db.select({ id: payments.id }).from(payments).where(eq(payments.id, claim.payment_id))),
          // One bank transfer pays at most one account (UNIQUE paid_by_payment_id): a repeat of a
          // transfer that paid another account is not a claim here, and is then refused as a
          // conflict instead of failing on the constraint (a 500 the bank would retry forever).
          sql`NOT EXISTS (SELECT 1 FROM virtual_accounts AS other WHERE other.paid_by_payment_id = ${claim.payment_id})`,
        ),
      ),
    db.query.virtualAccounts.findFirst({ columns: accountColumns, where: eq(virtualAccounts.id, accountId) }),
  ]);
  return after as VirtualAccountFacts;
}
