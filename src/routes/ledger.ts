/**
 * The ledger (API §8). The operator reads everything; a merchant reads the accounts it owns
 * and the transactions that touch them, and nothing else (another's is 404, as if absent).
 * The same routes read a merchant's own ledger (API §11, `la_ml_…` / `lt_ml_…` ids:
 * src/merchant-ledger/), so that a detail's ledger_transaction_id can be followed.
 */
import { createRoute } from "@hono/zod-openapi";
import { and, asc, desc, eq, getTableColumns } from "drizzle-orm";
import { newRouter } from "../context";
import { database, type Db } from "../db/client";
import { ledgerAccounts, ledgerEntries, ledgerTransactions } from "../db/schema";
import { ApiError } from "../errors";
import { requireOperator } from "../middleware/auth";
import { afterCursor, decodeCursor, toPage } from "../pagination";
import { jsonResponse, listSchema, paginationQuery, problemResponses } from "../schemas/common";
import {
  ledgerAccountIdParams,
  ledgerAccountListQuery,
  ledgerAccountSchema,
  ledgerEntrySchema,
  ledgerTransactionIdParams,
  ledgerTransactionSchema,
} from "../schemas/ledger";
import {
  ledgerAccountView,
  ledgerEntryView,
  ledgerTransactionView,
  mayReadAccount,
  type LedgerAccountRow,
} from "../ledger/views";
import { findMerchantLedgerAccount, listMerchantLedgerEntries } from "../merchant-ledger/accounts";
import { isMerchantLedgerAccountId, isMerchantLedgerTransactionId } from "../merchant-ledger/ids";
import { findMerchantLedgerTransaction } from "../merchant-ledger/transactions";
import { merchantLedgerAccountView, merchantLedgerEntryView, merchantLedgerTransactionView } from "../merchant-ledger/views";

const either = { tags: ["Ledger"], security: [{ merchantKey: [] as string[] }, { operatorKey: [] as string[] }] as Record<string, string[]>[] };

const getAccount = createRoute({
  ...either,
  method: "get",
  path: "/v1/ledger/accounts/{id}",
  operationId: "getLedgerAccount",
  summary: "Get a ledger account and its balances",
  request: { params: ledgerAccountIdParams },
  responses: { 200: jsonResponse(ledgerAccountSchema, "The account."), ...problemResponses(404) },
});

const listEntries = createRoute({
  ...either,
  method: "get",
  path: "/v1/ledger/accounts/{id}/entries",
  operationId: "listLedgerAccountEntries",
  summary: "List a ledger account's entries, newest first",
  request: { params: ledgerAccountIdParams, query: paginationQuery },
  responses: { 200: jsonResponse(listSchema(ledgerEntrySchema, "LedgerEntryList"), "A page of entries."), ...problemResponses(404) },
});

const getTransaction = createRoute({
  ...either,
  method: "get",
  path: "/v1/ledger/transactions/{id}",
  operationId: "getLedgerTransaction",
  summary: "Get a ledger transaction and its entries",
  request: { params: ledgerTransactionIdParams },
  responses: { 200: jsonResponse(ledgerTransactionSchema, "The transaction."), ...problemResponses(404) },
});

const listAccounts = createRoute({
  tags: ["Operator"],
  security: [{ operatorKey: [] }],
  middleware: [requireOperator],
  method: "get",
  path: "/v1/admin/ledger/accounts",
  operationId: "listLedgerAccounts",
  summary: "List every ledger account, newest first",
  request: { query: ledgerAccountListQuery },
  responses: { 200: jsonResponse(listSchema(ledgerAccountSchema, "LedgerAccountList"), "A page of accounts."), ...problemResponses(403) },
});

async function readableAccount(db: Db, caller: Parameters<typeof mayReadAccount>[0], id: string): Promise<LedgerAccountRow> {
  const account = await db.select().from(ledgerAccounts).where(eq(ledgerAccounts.id, id)).get();
  if (!account || !mayReadAccount(caller, account)) throw new ApiError("not_found", "No such ledger account.");
  return account;
}

export const ledgerRouter = newRouter()
  .openapi(getAccount, async (c) => {
    if (isMerchantLedgerAccountId(c.req.valid("param").id)) {
      const own = await findMerchantLedgerAccount(database(c.env.DB), c.get("caller"), c.req.valid("param").id);
      if (!own) throw new ApiError("not_found", "No such ledger account.");
      return c.json(merchantLedgerAccountView(own), 200);
    }
    const account = await readableAccount(database(c.env.DB), c.get("caller"), c.req.valid("param").id);
    return c.json(ledgerAccountView(account), 200);
  })
  .openapi(listEntries, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const db = database(c.env.DB);
    if (isMerchantLedgerAccountId(c.req.valid("param").id)) {
      const own = await findMerchantLedgerAccount(db, c.get("caller"), c.req.valid("param").id);
      if (!own) throw new ApiError("not_found", "No such ledger account.");
      return c.json(toPage(await listMerchantLedgerEntries(db, own.id, limit, decodeCursor(cursor)), limit, merchantLedgerEntryView), 200);
    }
    const account = await readableAccount(db, c.get("caller"), c.req.valid("param").id);
    // Newest first, limit + 1 rows (see toPage).
    const rows = await db
      .select()
      .from(ledgerEntries)
      .where(and(eq(ledgerEntries.ledger_account_id, account.id), afterCursor(ledgerEntries.created_at, ledgerEntries.id, decodeCursor(cursor))))
      .orderBy(desc(ledgerEntries.created_at), desc(ledgerEntries.id))
      .limit(limit + 1);
    return c.json(toPage(rows, limit, ledgerEntryView), 200);
  })
  .openapi(getTransaction, async (c) => {
    const id = c.req.valid("param").id;
    const caller = c.get("caller");
    const db = database(c.env.DB);
    if (isMerchantLedgerTransactionId(id)) {
      const own = await findMerchantLedgerTransaction(db, caller, id);
      if (!own) throw new ApiError("not_found", "No such ledger transaction.");
      return c.json(merchantLedgerTransactionView(own.transaction, own.entries), 200);
    }
    // One round trip: the transaction and its entries, each with its account's owner (who may read it).
    const [transactions, entryRows] = await db.batch([
      db.select().from(ledgerTransactions).where(eq(ledgerTransactions.id, id)),
      db
        .select({ ...getTableColumns(ledgerEntries), owner_id: ledgerAccounts.owner_id })
        .from(ledgerEntries)
        .innerJoin(ledgerAccounts, eq(ledgerAccounts.id, ledgerEntries.ledger_account_id))
        .where(eq(ledgerEntries.transaction_id, id))
        .orderBy(asc(ledgerEntries.id)),
    ]);
    const row = transactions[0];
    if (!row || !entryRows.some((entry) => mayReadAccount(caller, entry))) throw new ApiError("not_found", "No such ledger transaction.");
    return c.json(ledgerTransactionView(row, entryRows), 200);
  })
  .openapi(listAccounts, async (c) => {
    const { limit, cursor, kind } = c.req.valid("query");
    // Newest first, limit + 1 rows (see toPage).
    const rows = await database(c.env.DB)
      .select()
      .from(ledgerAccounts)
      .where(and(kind ? eq(ledgerAccounts.kind, kind) : undefined, afterCursor(ledgerAccounts.created_at, ledgerAccounts.id, decodeCursor(cursor))))
      .orderBy(desc(ledgerAccounts.created_at), desc(ledgerAccounts.id))
      .limit(limit + 1);
    return c.json(toPage(rows, limit, ledgerAccountView), 200);
  });
