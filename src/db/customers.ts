/**
 * Customers and their links to merchants. A customer is platform-wide, one per CUIT; a
 * merchant sees it once linked, and each link carries the customer's deposit reference for
 * that merchant. Everything here is safe under concurrent calls: the database's UNIQUE
 * constraints decide who wins, never a read-then-write check.
 */
import { and, desc, eq, sql } from "drizzle-orm";
import { assert } from "../assert";
import { BoundedCache } from "../cache";
import { newId } from "../crypto";
import { generateReference } from "../domain/reference-code";
import { customerAccounts, openAccountStatement } from "../ledger/accounts";
import { limits } from "../limits";
import { afterCursor, type Cursor } from "../pagination";
import { database } from "./client";
import { customerLinks, customers, type CustomerRow } from "./schema";

export interface NewCustomer {
  /** 11 bare digits, already normalized (normalizeCuit). */
  cuit: string;
  name: string;
  /** 22 bare digits, already normalized (normalizeCbu), or null. */
  cbu: string | null;
  origin: CustomerRow["origin"];
}

/**
 * A customer as one merchant sees it: with the reference issued to that merchant, and what
 * decides how much of the customer that merchant may see (API §4, routes/customers.ts).
 */
export type LinkedCustomer = CustomerRow & {
  reference: string;
  linked_at: number;
  /** The CBU this merchant supplied when it registered the customer, if it was the one on file. */
  supplied_cbu: string | null;
  /** The customer has a payment, or a payout that was created, with this merchant. */
  transacted: boolean;
};

/**
 * Whether the linked pair has transacted: two index seeks (payments_by_customer,
 * payouts_by_customer) inside the query that reads the link, so knowing it costs no write on
 * the cash-in or payout paths and no extra round trip. A rejected payout was never created.
 */
const transacted = sql<number>`(EXISTS (SELECT 1 FROM payments WHERE payments.customer_id = ${customerLinks.customer_id} AND payments.merchant_id = ${customerLinks.merchant_id})
  OR EXISTS (SELECT 1 FROM payouts WHERE payouts.customer_id = ${customerLinks.customer_id} AND payouts.merchant_id = ${customerLinks.merchant_id} AND payouts.status <> 'rejected'))`;

const linkedColumns = {
  customer: customers,
  reference: customerLinks.reference,
  linked_at: customerLinks.created_at,
  supplied_cbu: customerLinks.supplied_cbu,
  transacted,
};

function linkedCustomer(row: { customer: CustomerRow; reference: string; linked_at: number; supplied_cbu: string | null; transacted: number }): LinkedCustomer {
  return { ...row.customer, reference: row.reference, linked_at: row.linked_at, supplied_cbu: row.supplied_cbu, transacted: Boolean(row.transacted) };
}

const customerColumns = "id, cuit, name, cbu, origin, last_merchant_id, created_at";

/**
 * The customer with this CUIT, created (with its ledger accounts in every enabled currency)
 * if there is none. Two concurrent calls for one CUIT both get the same customer, and only
 * one of them `created` it. An existing customer is returned unchanged: a second registration
 * never rewrites the name or CBU that someone else's money is tied to.
 */
export async function findOrCreateCustomer(
  d1: D1Database,
  input: NewCustomer,
  currencies: readonly string[],
): Promise<{ customer: CustomerRow; created: boolean }> {
  assert(/^[0-9]{11}$/.test(input.cuit), "findOrCreateCustomer: cuit must be normalized");
  assert(input.cbu === null || /^[0-9]{22}$/.test(input.cbu), "findOrCreateCustomer: cbu must be normalized");
  assert(currencies.length > 0, "findOrCreateCustomer: no currency enabled");

  // The common case (a known sender) costs one read and no write.
  const existing = await database(d1).select().from(customers).where(eq(customers.cuit, input.cuit)).get();
  if (existing) return { customer: existing, created: false };

  const id = newId("cus");
  const now = Date.now();
  // One atomic batch: the insert loses quietly to a concurrent one (UNIQUE cuit), and then
  // the owner guard keeps our accounts from being opened for an id that never existed. Raw
  // statements: the ledger's conditional openers share the batch, and a D1 batch cannot mix
  // them with drizzle's.
  const results = await d1.batch([
    d1
      .prepare(
        `INSERT INTO customers (id, cuit, name, cbu, origin, last_merchant_id, created_at)
         VALUES (?, ?, ?, ?, ?, NULL, ?) ON CONFLICT (cuit) DO NOTHING`,
      )
      .bind(id, input.cuit, input.name, input.cbu, input.origin, now),
    ...customerAccounts(id, currencies).map((account) => openAccountStatement(d1, account, now, "customers")),
    d1.prepare(`SELECT ${customerColumns} FROM customers WHERE cuit = ?`).bind(input.cuit),
  ]);
  const customer = results[results.length - 1]?.results[0] as CustomerRow | undefined;
  assert(customer !== undefined, "findOrCreateCustomer: the customer is missing right after its upsert");
  return { customer, created: customer.id === id };
}

/**
 * Links a customer to a merchant (idempotent) and returns the customer's reference for that
 * merchant: the existing one, or a freshly minted one. A minted reference that collides with
 * another link's is dropped by the database and minted again. `knownCbu`, when given, is a
 * CBU the merchant has shown it knows (the caller checks it is the one on file): the link
 * keeps it, and a later call without one never forgets it.
 */
export async function linkCustomer(
  d1: D1Database,
  customerId: string,
  merchantId: string,
  knownCbu: string | null = null,
): Promise<{ reference: string; created: boolean }> {
  assert(knownCbu === null || /^[0-9]{22}$/.test(knownCbu), "linkCustomer: knownCbu must be normalized");
  const db = database(d1);
  const thePair = and(eq(customerLinks.customer_id, customerId), eq(customerLinks.merchant_id, merchantId));
  const existing = await db.select({ reference: customerLinks.reference, supplied_cbu: customerLinks.supplied_cbu }).from(customerLinks).where(thePair).get();
  if (existing) {
    if (knownCbu !== null && existing.supplied_cbu !== knownCbu) {
      await db.update(customerLinks).set({ supplied_cbu: knownCbu }).where(thePair);
    }
    return { reference: existing.reference, created: false };
  }

  // Raw statements from here: the read must share the conditional insert's atomic batch.
  const select = d1.prepare("SELECT reference FROM customer_links WHERE customer_id = ? AND merchant_id = ?").bind(customerId, merchantId);

  for (let attempt = 0; attempt < limits.reference_mint_attempts; attempt++) {
    const reference = generateReference("customer");
    // DO NOTHING on any conflict: the pair already linked (a concurrent call won) or the
    // reference taken. The read in the same batch tells which. A known CBU is also written
    // over a concurrent winner's link that lacked it (and nothing more on the cash-in path).
    const insert = d1
      .prepare("INSERT INTO customer_links (customer_id, merchant_id, reference, created_at, supplied_cbu) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
      .bind(customerId, merchantId, reference, Date.now(), knownCbu);
    const teach = d1.prepare("UPDATE customer_links SET supplied_cbu = ? WHERE customer_id = ? AND merchant_id = ?").bind(knownCbu, customerId, merchantId);
    const results = await d1.batch(knownCbu === null ? [insert, select] : [insert, teach, select]);
    const read = results[results.length - 1];
    const row = read?.results[0] as { reference: string } | undefined;
    if (row) return { reference: row.reference, created: row.reference === reference };
  }
  throw new Error(`linkCustomer: no unique reference after ${limits.reference_mint_attempts} attempts`);
}

/**
 * What this isolate knows of a linked pair and may serve without asking D1 (issue 9, the
 * front door), because none of it ever changes once true:
 * - the link itself and its reference: links are never deleted or re-keyed;
 * - the customer's id, CUIT, name, CBU, origin and creation time: nothing ever updates them
 *   (a second registration never rewrites them; only last_merchant_id changes);
 * - `transacted`, only once true: a payment is never deleted nor moved to another customer or
 *   merchant once it has one, and a payout once created is never turned into a rejected one.
 * Not here, because they change: last_merchant_id, the link's supplied_cbu (see
 * findLinkedCustomer), and `transacted` while still false (an entry holding false is used only
 * for what needs the link alone). A pair not linked is never cached: it may be linked next.
 */
export type LinkFacts = Omit<LinkedCustomer, "last_merchant_id" | "supplied_cbu">;

const knownLinks = new BoundedCache<LinkFacts>(limits.link_cache_entries);

function linkKey(customerId: string, merchantId: string): string {
  return `${customerId} ${merchantId}`;
}

function factsOf(customer: LinkedCustomer): LinkFacts {
  const { last_merchant_id: _mutable, supplied_cbu: _alsoMutable, ...facts } = customer;
  return facts;
}

/** Both tables read in full: the one answer that is always exact. */
async function readLinkedCustomer(d1: D1Database, customerId: string, merchantId: string): Promise<LinkedCustomer | null> {
  const rows = await database(d1)
    .select(linkedColumns)
    .from(customers)
    .innerJoin(customerLinks, eq(customerLinks.customer_id, customers.id))
    .where(and(eq(customers.id, customerId), eq(customerLinks.merchant_id, merchantId)))
    .limit(1);
  const row = rows[0];
  if (!row) return null;
  const customer = linkedCustomer(row);
  knownLinks.set(linkKey(customerId, merchantId), factsOf(customer));
  return customer;
}

/**
 * The immutable facts of a linked pair, or null if the customer is not linked to the merchant
 * (exactly as if it did not exist). `needs: "transacted"` (the default) makes `transacted`
 * exact: a pair cached as not yet transacted is read again. `needs: "link"` is for callers that
 * only need the link, its reference or the customer's immutable fields. No D1 read once the
 * pair is cached (and, for "transacted", known to have transacted).
 */
export async function findLinkFacts(d1: D1Database, customerId: string, merchantId: string, needs: "link" | "transacted" = "transacted"): Promise<LinkFacts | null> {
  const cached = knownLinks.get(linkKey(customerId, merchantId));
  if (cached !== undefined && (needs === "link" || cached.transacted)) return cached;
  const customer = await readLinkedCustomer(d1, customerId, merchantId);
  return customer && factsOf(customer);
}

/**
 * The customer if it is linked to the merchant, else null (exactly as if it did not exist),
 * with every field exact. For a pair known to have transacted only the fields that change are
 * read (two primary-key seeks, no scan of payments or payouts).
 */
export async function findLinkedCustomer(d1: D1Database, customerId: string, merchantId: string): Promise<LinkedCustomer | null> {
  const cached = knownLinks.get(linkKey(customerId, merchantId));
  if (cached === undefined || !cached.transacted) return readLinkedCustomer(d1, customerId, merchantId);
  const mutable = await database(d1)
    .select({ last_merchant_id: customers.last_merchant_id, supplied_cbu: customerLinks.supplied_cbu })
    .from(customers)
    .innerJoin(customerLinks, and(eq(customerLinks.customer_id, customers.id), eq(customerLinks.merchant_id, merchantId)))
    .where(eq(customers.id, customerId))
    .get();
  assert(mutable !== undefined, `customer ${customerId} is linked to ${merchantId} (links are never removed)`);
  return { ...cached, ...mutable };
}

/**
 * One page of the merchant's customers, most recently linked first (for a merchant, a
 * customer is new when it became visible to it). `limit + 1` rows: see toPage.
 */
export async function listLinkedCustomers(
  d1: D1Database,
  merchantId: string,
  options: { cuit?: string; limit: number; cursor: Cursor | null },
): Promise<Array<Cursor & { customer: LinkedCustomer }>> {
  const rows = await database(d1)
    .select(linkedColumns)
    .from(customerLinks)
    .innerJoin(customers, eq(customers.id, customerLinks.customer_id))
    .where(
      and(
        eq(customerLinks.merchant_id, merchantId),
        options.cuit === undefined ? undefined : eq(customers.cuit, options.cuit),
        afterCursor(customerLinks.created_at, customerLinks.customer_id, options.cursor),
      ),
    )
    .orderBy(desc(customerLinks.created_at), desc(customerLinks.customer_id))
    .limit(options.limit + 1);
  return rows.map((row) => ({
    created_at: row.linked_at,
    id: row.customer.id,
    customer: linkedCustomer(row),
  }));
}
