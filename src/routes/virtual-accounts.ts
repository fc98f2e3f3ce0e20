/** Virtual account numbers (API §11): create, read, list, link to the merchant's ledger, close. */
import { createRoute } from "@hono/zod-openapi";
import { and, count, desc, eq, gt, inArray, isNull, lte, or, type SQL } from "drizzle-orm";
import { newRouter } from "../context";
import { findLinkFacts } from "../db/customers";
import { database, type Db } from "../db/client";
import { virtualAccounts, type VirtualAccountRow } from "../db/schema";
import { ApiError } from "../errors";
import { enabledCurrency } from "../ledger/balances";
import { assertLinkable } from "../merchant-ledger/linkable";
import { merchantIdOf, requireMerchant } from "../middleware/auth";
import { afterCursor, decodeCursor, toPage } from "../pagination";
import { bodyProblemStatuses, jsonBody, jsonResponse, listSchema, problemResponse, problemResponses } from "../schemas/common";
import {
  createVirtualAccountRequest,
  updateVirtualAccountRequest,
  virtualAccountIdParams,
  virtualAccountListQuery,
  virtualAccountSchema,
} from "../schemas/virtual-accounts";
import { virtualAccountLimits } from "../virtual-accounts/limits";
import { provisionVirtualAccount, virtualAccountIdFor } from "../virtual-accounts/provision";
import { shownStoredStatuses, virtualAccountView, type ShownStatus } from "../virtual-accounts/view";

const merchant = { tags: ["Virtual accounts"], security: [{ merchantKey: [] }], middleware: [requireMerchant] };

const create = createRoute({
  ...merchant,
  method: "post",
  path: "/v1/virtual-accounts",
  operationId: "createVirtualAccount",
  summary: "Create a virtual account (CVU)",
  description:
    "Allocates a CVU in the platform's range, registers it with the bank, and only then answers `201` with the account active. " +
    "If the bank does not register it, `503 unavailable`: nothing routes or lists as active; retry with the same `Idempotency-Key` " +
    "and the same account (same id, same number) is finished. Without a key, a retry makes a new account (the half-made one is " +
    "finished or retired by the repair cron, its number never reused). `per_customer` is one per customer and merchant: a repeat " +
    "answers `200` with the existing account (whatever else the repeat says). The customer must be one the caller registered or " +
    "transacted with (404 otherwise). At most " +
    `${virtualAccountLimits.open_per_transaction_per_customer_max} active per_transaction accounts per customer and merchant (422 invalid_state beyond).`,
  request: { body: jsonBody(createVirtualAccountRequest) },
  responses: {
    201: jsonResponse(virtualAccountSchema, "The account, active and registered at the bank: answered to the request that made it active."),
    200: jsonResponse(virtualAccountSchema, "per_customer: the pair's existing account (one another request made active)."),
    ...problemResponses(403, 404, 409, 422, ...bodyProblemStatuses),
    503: problemResponse("unavailable: the bank did not register the number; nothing is active. Retry with the same Idempotency-Key."),
  },
});

const get = createRoute({
  ...merchant,
  method: "get",
  path: "/v1/virtual-accounts/{id}",
  operationId: "getVirtualAccount",
  summary: "Get a virtual account",
  request: { params: virtualAccountIdParams },
  responses: { 200: jsonResponse(virtualAccountSchema, "The account; `expired` is exact at the moment of the read."), ...problemResponses(403, 404) },
});

const list = createRoute({
  ...merchant,
  method: "get",
  path: "/v1/virtual-accounts",
  operationId: "listVirtualAccounts",
  summary: "List the caller's virtual accounts, newest first",
  request: { query: virtualAccountListQuery },
  responses: { 200: jsonResponse(listSchema(virtualAccountSchema, "VirtualAccountList"), "A page of accounts."), ...problemResponses(400, 403) },
});

const update = createRoute({
  ...merchant,
  method: "patch",
  path: "/v1/virtual-accounts/{id}",
  operationId: "updateVirtualAccount",
  summary: "Link a virtual account to an account of the caller's ledger, or unlink it",
  description: "Only an account of the caller's own ledger, of the same currency (400 otherwise). Linking does not backfill: only payments that arrive afterwards are auto-ledgered.",
  request: { params: virtualAccountIdParams, body: jsonBody(updateVirtualAccountRequest) },
  responses: { 200: jsonResponse(virtualAccountSchema, "The account."), ...problemResponses(400, 403, 404, ...bodyProblemStatuses) },
});

const close = createRoute({
  ...merchant,
  method: "post",
  path: "/v1/virtual-accounts/{id}/close",
  operationId: "closeVirtualAccount",
  summary: "Close a virtual account",
  description:
    "Idempotent: closing a closed account answers `200` with it. A paid or expired account can be closed too. Money sent to a closed " +
    "account is never dropped: a per_customer one's is quarantined (`virtual_account_closed`), a per_transaction one's follows its `amount_policy`.",
  request: { params: virtualAccountIdParams },
  responses: { 200: jsonResponse(virtualAccountSchema, "The account, closed."), ...problemResponses(403, 404, ...bodyProblemStatuses) },
});

async function findOwn(db: Db, merchantId: string, id: string): Promise<VirtualAccountRow> {
  const row = await db
    .select()
    .from(virtualAccounts)
    .where(and(eq(virtualAccounts.id, id), eq(virtualAccounts.merchant_id, merchantId), inArray(virtualAccounts.status, [...shownStoredStatuses])))
    .get();
  if (!row) throw new ApiError("not_found", "No such virtual account.");
  return row;
}

/** What `status=` selects, with expiry decided at `now`, exactly as the view decides it. */
function statusFilter(status: ShownStatus | undefined, now: number): SQL | undefined {
  const unexpired = or(isNull(virtualAccounts.expires_at), gt(virtualAccounts.expires_at, now));
  switch (status) {
    case undefined:
      return inArray(virtualAccounts.status, [...shownStoredStatuses]);
    case "active":
      return and(eq(virtualAccounts.status, "active"), unexpired);
    case "expired":
      return and(eq(virtualAccounts.status, "active"), lte(virtualAccounts.expires_at, now));
    case "paid":
    case "closed":
      return eq(virtualAccounts.status, status);
  }
}

export const virtualAccountsRouter = newRouter()
  .openapi(create, async (c) => {
    const body = c.req.valid("json");
    const config = c.get("config");
    const merchantId = merchantIdOf(c.get("caller"));
    const now = Date.now();
    const db = database(c.env.DB);
    if (!(await findLinkFacts(c.env.DB, body.customer_id, merchantId, "link"))) throw new ApiError("not_found", `No such customer: ${body.customer_id}.`);
    const currency = enabledCurrency(config.currencies, body.currency);
    let expiresAt: number | null = null;
    if (body.kind === "per_transaction") {
      if (body.expires_at !== undefined) {
        expiresAt = Date.parse(body.expires_at);
        if (expiresAt <= now || expiresAt > now + virtualAccountLimits.expiry_max_ms) {
          throw new ApiError("invalid_request", "expires_at must be in the future and at most 90 days ahead.", [{ path: "expires_at", message: "must be in the future, at most 90 days ahead" }]);
        }
      }
      const [open] = await db
        .select({ n: count() })
        .from(virtualAccounts)
        .where(and(eq(virtualAccounts.customer_id, body.customer_id), eq(virtualAccounts.merchant_id, merchantId), eq(virtualAccounts.kind, "per_transaction"), eq(virtualAccounts.status, "active")));
      // A bound, not an exact count: concurrent creations may pass it by a few.
      if ((open?.n ?? 0) >= virtualAccountLimits.open_per_transaction_per_customer_max) {
        throw new ApiError("invalid_state", `The customer already has ${virtualAccountLimits.open_per_transaction_per_customer_max} active per_transaction accounts with you; close some first.`);
      }
    }
    if (body.ledger_account_id) await assertLinkable(db, merchantId, body.ledger_account_id, currency);
    const id = await virtualAccountIdFor(c.get("idempotency"));
    const { account, created } = await provisionVirtualAccount(c.env, config, id, {
      merchant_id: merchantId,
      customer_id: body.customer_id,
      kind: body.kind,
      currency,
      expected_amount: body.expected_amount ?? null,
      expires_at: expiresAt,
      amount_policy: body.kind === "per_transaction" ? (body.amount_policy ?? "hold") : null,
      ledger_account_id: body.ledger_account_id ?? null,
      description: body.description ?? null,
    });
    return c.json(virtualAccountView(account), created ? 201 : 200);
  })
  .openapi(get, async (c) => {
    const account = await findOwn(database(c.env.DB), merchantIdOf(c.get("caller")), c.req.valid("param").id);
    return c.json(virtualAccountView(account), 200);
  })
  .openapi(list, async (c) => {
    const { limit, cursor, customer_id, kind, status } = c.req.valid("query");
    const now = Date.now();
    const rows = await database(c.env.DB)
      .select()
      .from(virtualAccounts)
      .where(
        and(
          eq(virtualAccounts.merchant_id, merchantIdOf(c.get("caller"))),
          statusFilter(status, now),
          customer_id ? eq(virtualAccounts.customer_id, customer_id) : undefined,
          kind ? eq(virtualAccounts.kind, kind) : undefined,
          afterCursor(virtualAccounts.created_at, virtualAccounts.id, decodeCursor(cursor)),
        ),
      )
      .orderBy(desc(virtualAccounts.created_at), desc(virtualAccounts.id))
      .limit(limit + 1);
    return c.json(toPage(rows, limit, (row) => virtualAccountView(row, now)), 200);
  })
  .openapi(update, async (c) => {
    const db = database(c.env.DB);
    const merchantId = merchantIdOf(c.get("caller"));
    const account = await findOwn(db, merchantId, c.req.valid("param").id);
    const { ledger_account_id } = c.req.valid("json");
    if (ledger_account_id !== null) await assertLinkable(db, merchantId, ledger_account_id, account.currency);
    const updated = await db
      .update(virtualAccounts)
      .set({ ledger_account_id, updated_at: Date.now() })
      .where(and(eq(virtualAccounts.id, account.id), eq(virtualAccounts.merchant_id, merchantId)))
      .returning()
      .get();
    return c.json(virtualAccountView(updated ?? account), 200);
  })
  .openapi(close, async (c) => {
    const db = database(c.env.DB);
    const merchantId = merchantIdOf(c.get("caller"));
    const account = await findOwn(db, merchantId, c.req.valid("param").id);
    if (account.status === "closed") return c.json(virtualAccountView(account), 200);
    const now = Date.now();
    // Compare-and-set: a payment that marks it paid meanwhile is kept (paid_at), and it closes anyway.
    const closed = await db
      .update(virtualAccounts)
      .set({ status: "closed", closed_at: now, updated_at: now })
      .where(and(eq(virtualAccounts.id, account.id), inArray(virtualAccounts.status, ["active", "paid"])))
      .returning()
      .get();
    return c.json(virtualAccountView(closed ?? (await findOwn(db, merchantId, account.id))), 200);
  });
