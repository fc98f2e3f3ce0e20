/**
 * Customers and their links to merchants. A customer is platform-wide, one per CUIT; a
 * merchant sees it once linked, and each link carries the customer's deposit reference for
 * that merchant. Everything here is safe under concurrent calls: the database's UNIQUE
 * constraints decide who wins, never a read-then-write check.
 */
import { and, desc, eq } from "drizzle-orm";
import { assert } from "../assert";
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

/** A customer as one merchant sees it: with the reference issued to that merchant. */
export type LinkedCustomer = CustomerRow & { reference: string; linked_at: number };

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
  const existing = await d1.prepare(`SELECT ${customerColumns} FROM customers WHERE cuit = ?`).bind(input.cuit).first<CustomerRow>();
  if (existing) return { customer: existing, created: false };

  const id = newId("cus");
  const now = Date.now();
  // One atomic batch: the insert loses quietly to a concurrent one (UNIQUE cuit), and then
  // the owner guard keeps our accounts from being opened for an id that never existed.
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
 * another link's is dropped by the database and minted again.
 */
export async function linkCustomer(d1: D1Database, customerId: string, merchantId: string): Promise<{ reference: string; created: boolean }> {
  const select = d1.prepare("SELECT reference FROM customer_links WHERE customer_id = ? AND merchant_id = ?").bind(customerId, merchantId);
  const existing = await select.first<{ reference: string }>();
  if (existing) return { reference: existing.reference, created: false };

  for (let attempt = 0; attempt < limits.reference_mint_attempts; attempt++) {
    const reference = generateReference("customer");
    // DO NOTHING on any conflict: the pair already linked (a concurrent call won) or the
    // reference taken. The read in the same batch tells which.
    const [, read] = await d1.batch([
      d1
        .prepare("INSERT INTO customer_links (customer_id, merchant_id, reference, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
        .bind(customerId, merchantId, reference, Date.now()),
      select,
    ]);
    const row = read?.results[0] as { reference: string } | undefined;
    if (row) return { reference: row.reference, created: row.reference === reference };
  }
  throw new Error(`linkCustomer: no unique reference after ${limits.reference_mint_attempts} attempts`);
}

/** The customer if it is linked to the merchant, else null (exactly as if it did not exist). */
export async function findLinkedCustomer(d1: D1Database, customerId: string, merchantId: string): Promise<LinkedCustomer | null> {
  const rows = await database(d1)
    .select({ customer: customers, reference: customerLinks.reference, linked_at: customerLinks.created_at })
    .from(customers)
    .innerJoin(customerLinks, eq(customerLinks.customer_id, customers.id))
    .where(and(eq(customers.id, customerId), eq(customerLinks.merchant_id, merchantId)))
    .limit(1);
  const row = rows[0];
  return row ? { ...row.customer, reference: row.reference, linked_at: row.linked_at } : null;
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
    .select({ customer: customers, reference: customerLinks.reference, linked_at: customerLinks.created_at })
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
    customer: { ...row.customer, reference: row.reference, linked_at: row.linked_at },
  }));
}
