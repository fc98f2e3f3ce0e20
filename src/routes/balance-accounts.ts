/**
 * Balance accounts (API §12). A merchant reads its own merchant and reserve accounts (anything
 * else, the platform's included, is 404 as if absent); the operator reads all.
 */
import { createRoute } from "@hono/zod-openapi";
import { and, eq, inArray, type SQL } from "drizzle-orm";
import type { Caller } from "../context";
import { newRouter } from "../context";
import { database } from "../db/client";
import { balanceAccounts, type BalanceAccountRow } from "../db/schema";
import { ApiError } from "../errors";
import { ledgerAccountIdOfBalanceAccount } from "../ledger/accounts";
import { decodeCursor, toPage } from "../pagination";
import { jsonResponse, listSchema, problemResponses } from "../schemas/common";
import { balanceAccountIdParams, balanceAccountListQuery, balanceAccountSchema } from "../schemas/transfers";
import { balanceAccountView } from "../transfers/balance-account-view";

const either = { tags: ["Balance accounts"], security: [{ merchantKey: [] as string[] }, { operatorKey: [] as string[] }] as Record<string, string[]>[] };

const visibility =
  "A merchant sees its own accounts, kind `merchant` and `reserve`, in every enabled currency; any other id (another merchant's, the platform's) is 404 " +
  "not_found, exactly as one that does not exist. The operator sees all, the platform's (owner_id `platform`) included.";

const get = createRoute({
  ...either,
  method: "get",
  path: "/v1/balance-accounts/{id}",
  operationId: "getBalanceAccount",
  summary: "Get a balance account",
  description: visibility,
  request: { params: balanceAccountIdParams },
  responses: { 200: jsonResponse(balanceAccountSchema, "The balance account."), ...problemResponses(404) },
});

const list = createRoute({
  ...either,
  method: "get",
  path: "/v1/balance-accounts",
  operationId: "listBalanceAccounts",
  summary: "List balance accounts, newest first",
  description: visibility,
  request: { query: balanceAccountListQuery },
  responses: { 200: jsonResponse(listSchema(balanceAccountSchema, "BalanceAccountList"), "A page of balance accounts."), ...problemResponses() },
});

/** The SQL condition limiting rows to what `caller` may see. */
function visibleTo(caller: Caller): { sql: string; params: unknown[] } {
  return caller.kind === "operator" ? { sql: "1", params: [] } : { sql: "owner_id = ? AND kind IN ('merchant', 'reserve')", params: [caller.merchantId] };
}

/** The same condition for a drizzle query (undefined: no limit, the operator). */
function visibleWhere(caller: Caller): SQL | undefined {
  return caller.kind === "operator" ? undefined : and(eq(balanceAccounts.owner_id, caller.merchantId), inArray(balanceAccounts.kind, ["merchant", "reserve"]));
}

export const balanceAccountsRouter = newRouter()
  .openapi(get, async (c) => {
    const id = c.req.valid("param").id;
    const ledgerAccountId = ledgerAccountIdOfBalanceAccount(id);
    // By ledger_account_id (the table's primary key): the view's own `id` is computed.
    const row =
      ledgerAccountId === null
        ? undefined
        : await database(c.env.DB)
            .select()
            .from(balanceAccounts)
            .where(and(eq(balanceAccounts.ledger_account_id, ledgerAccountId), visibleWhere(c.get("caller"))))
            .get();
    if (!row) throw new ApiError("not_found", "No such balance account.");
    return c.json(balanceAccountView(row), 200);
  })
  .openapi(list, async (c) => {
    const { limit, cursor, owner_id, kind } = c.req.valid("query");
    const visible = visibleTo(c.get("caller"));
    const conditions = [visible.sql];
    const params = [...visible.params];
    if (owner_id !== undefined) {
      conditions.push("owner_id = ?");
      params.push(owner_id);
    }
    if (kind !== undefined) {
      conditions.push("kind = ?");
      params.push(kind);
    }
    // Newest first by (created_at, ledger_account_id): ledger_accounts' own index orders it, and
    // `ba_<x>` sorts exactly as `la_<x>`, so the cursor's `ba_` id maps to the ledger id.
    const after = decodeCursor(cursor);
    const afterLedgerId = after ? (ledgerAccountIdOfBalanceAccount(after.id) ?? "") : null;
    if (after) {
      conditions.push("(created_at < ? OR (created_at = ? AND ledger_account_id < ?))");
      params.push(after.created_at, after.created_at, afterLedgerId);
    }
    const { results } = await c.env.DB.prepare(
      `SELECT * FROM balance_accounts WHERE ${conditions.join(" AND ")} ORDER BY created_at DESC, ledger_account_id DESC LIMIT ?`,
    )
      .bind(...params, limit + 1)
      .all<BalanceAccountRow>();
    return c.json(toPage(results, limit, balanceAccountView), 200);
  });
