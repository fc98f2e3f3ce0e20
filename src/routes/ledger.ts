/**
 * The ledger (API §8). The operator reads everything; a merchant reads the accounts it owns
 * and the transactions that touch them, and nothing else (another's is 404, as if absent).
 * The same routes read a merchant's own ledger (API §11, `la_ml_…` / `lt_ml_…` ids:
 * src/merchant-ledger/), so that a detail's ledger_transaction_id can be followed.
 */
import { createRoute } from "@hono/zod-openapi";
import { newRouter } from "../context";
import { database } from "../db/client";
import { ApiError } from "../errors";
import { requireOperator } from "../middleware/auth";
import { decodeCursor, selectPage, toPage } from "../pagination";
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
  type LedgerEntryRow,
  type LedgerTransactionRow,
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

async function readableAccount(d1: D1Database, caller: Parameters<typeof mayReadAccount>[0], id: string): Promise<LedgerAccountRow> {
  const account = await d1.prepare("SELECT * FROM ledger_accounts WHERE id = ?").bind(id).first<LedgerAccountRow>();
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
    const account = await readableAccount(c.env.DB, c.get("caller"), c.req.valid("param").id);
    return c.json(ledgerAccountView(account), 200);
  })
  .openapi(listEntries, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    if (isMerchantLedgerAccountId(c.req.valid("param").id)) {
      const db = database(c.env.DB);
      const own = await findMerchantLedgerAccount(db, c.get("caller"), c.req.valid("param").id);
      if (!own) throw new ApiError("not_found", "No such ledger account.");
      return c.json(toPage(await listMerchantLedgerEntries(db, own.id, limit, decodeCursor(cursor)), limit, merchantLedgerEntryView), 200);
    }
    const account = await readableAccount(c.env.DB, c.get("caller"), c.req.valid("param").id);
    const rows = await selectPage<LedgerEntryRow>(c.env.DB, "ledger_entries", "ledger_account_id = ?", [account.id], decodeCursor(cursor), limit);
    return c.json(toPage(rows, limit, ledgerEntryView), 200);
  })
  .openapi(getTransaction, async (c) => {
    const id = c.req.valid("param").id;
    const caller = c.get("caller");
    if (isMerchantLedgerTransactionId(id)) {
      const own = await findMerchantLedgerTransaction(database(c.env.DB), caller, id);
      if (!own) throw new ApiError("not_found", "No such ledger transaction.");
      return c.json(merchantLedgerTransactionView(own.transaction, own.entries), 200);
    }
    const [transaction, entries] = await c.env.DB.batch([
      c.env.DB.prepare("SELECT * FROM ledger_transactions WHERE id = ?").bind(id),
      c.env.DB.prepare(
        "SELECT e.*, a.owner_id FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.ledger_account_id WHERE e.transaction_id = ? ORDER BY e.id",
      ).bind(id),
    ]);
    const row = transaction?.results[0] as LedgerTransactionRow | undefined;
    const entryRows = (entries?.results ?? []) as (LedgerEntryRow & { owner_id: string })[];
    if (!row || !entryRows.some((entry) => mayReadAccount(caller, entry))) throw new ApiError("not_found", "No such ledger transaction.");
    return c.json(ledgerTransactionView(row, entryRows), 200);
  })
  .openapi(listAccounts, async (c) => {
    const { limit, cursor, kind } = c.req.valid("query");
    const rows = await selectPage<LedgerAccountRow>(c.env.DB, "ledger_accounts", kind ? "kind = ?" : "1", kind ? [kind] : [], decodeCursor(cursor), limit);
    return c.json(toPage(rows, limit, ledgerAccountView), 200);
  });
