/**
 * The D1 schema as drizzle sees it. The SQL in migrations/ is the source of truth (it also
 * holds the ledger's triggers and checks); this file mirrors it for typed queries.
 */
import { integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const merchants = sqliteTable("merchants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  reference: text("reference").notNull().unique(),
  webhook_url: text("webhook_url"),
  webhook_secret: text("webhook_secret").notNull(),
  created_at: integer("created_at").notNull(),
});

export const apiKeys = sqliteTable("api_keys", {
  prefix: text("prefix").primaryKey(),
  merchant_id: text("merchant_id").notNull(),
  key_hash: text("key_hash").notNull().unique(),
  created_at: integer("created_at").notNull(),
  revoked_at: integer("revoked_at"),
});

export const customers = sqliteTable("customers", {
  id: text("id").primaryKey(),
  cuit: text("cuit").notNull().unique(),
  name: text("name").notNull(),
  cbu: text("cbu"),
  origin: text("origin", { enum: ["api", "auto"] }).notNull(),
  last_merchant_id: text("last_merchant_id"),
  created_at: integer("created_at").notNull(),
});

export const customerLinks = sqliteTable(
  "customer_links",
  {
    customer_id: text("customer_id").notNull(),
    merchant_id: text("merchant_id").notNull(),
    reference: text("reference").notNull().unique(),
    created_at: integer("created_at").notNull(),
    /** The CBU this merchant gave when registering the customer, kept only if it was the one on file (API §4). */
    supplied_cbu: text("supplied_cbu"),
  },
  (table) => [primaryKey({ columns: [table.customer_id, table.merchant_id] })],
);

export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    caller: text("caller").notNull(),
    key: text("key").notNull(),
    /** One claim of the key: kept by its retries, new once the key is claimed after retention. */
    claim_id: text("claim_id").notNull(),
    fingerprint: text("fingerprint").notNull(),
    state: text("state", { enum: ["in_flight", "completed"] }).notNull(),
    response_status: integer("response_status"),
    response_body: text("response_body"),
    locked_until: integer("locked_until").notNull(),
    created_at: integer("created_at").notNull(),
  },
  (table) => [primaryKey({ columns: [table.caller, table.key] })],
);

export type MerchantRow = typeof merchants.$inferSelect;
export type CustomerRow = typeof customers.$inferSelect;
