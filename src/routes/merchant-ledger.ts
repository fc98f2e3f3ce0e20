/**
 * Ledger linking and incoming payment details (API §11): the merchant's own ledger accounts,
 * its internal accounts, and the details its virtual accounts receive. A merchant sees only its
 * own (another's id answers 404, exactly as one that does not exist); the operator reads every
 * merchant's, as it reads every event, and changes nothing here (it has no ledger of its own
 * to create accounts in or link to).
 */
import { createRoute } from "@hono/zod-openapi";
import { newRouter } from "../context";
import { database } from "../db/client";
import { enabledCurrency } from "../ledger/balances";
import { createMerchantLedgerAccount, listMerchantLedgerAccounts } from "../merchant-ledger/accounts";
import { findIncomingPaymentDetail, listIncomingPaymentDetails } from "../merchant-ledger/details";
import { findInternalAccount, linkInternalAccount, openInternalAccounts } from "../merchant-ledger/internal-accounts";
import { incomingPaymentDetailView, internalAccountView, merchantLedgerAccountView } from "../merchant-ledger/views";
import { merchantIdOf, requireMerchant } from "../middleware/auth";
import { decodeCursor, toPage } from "../pagination";
import { bodyProblemStatuses, jsonBody, jsonResponse, listSchema, paginationQuery, problemResponses } from "../schemas/common";
import { ledgerAccountSchema } from "../schemas/ledger";
import {
  createMerchantLedgerAccountRequest,
  incomingPaymentDetailIdParams,
  incomingPaymentDetailListQuery,
  incomingPaymentDetailSchema,
  internalAccountIdParams,
  internalAccountListSchema,
  internalAccountSchema,
  linkLedgerAccountRequest,
} from "../schemas/merchant-ledger";

const merchantOnly = { security: [{ merchantKey: [] }], middleware: [requireMerchant] };
const either = { security: [{ merchantKey: [] as string[] }, { operatorKey: [] as string[] }] as Record<string, string[]>[] };

const ownLedger =
  "Each merchant has its own ledger besides the platform's books (Modern Treasury's model): accounts it creates here, which its virtual accounts and " +
  "internal accounts link to, and in which auto-ledgering posts a transaction for each incoming payment detail when both are linked. " +
  "Its ids begin `la_ml_` (accounts) and `lt_ml_` (transactions); every other `la_`/`lt_` id is the platform's. GET /v1/ledger/accounts/{id}, " +
  "/v1/ledger/accounts/{id}/entries and /v1/ledger/transactions/{id} read both ledgers. The operator reads every merchant's ledger and creates nothing in it.";

const createAccount = createRoute({
  ...merchantOnly,
  tags: ["Ledger"],
  method: "post",
  path: "/v1/ledger/accounts",
  operationId: "createLedgerAccount",
  summary: "Create an account in the caller's own ledger",
  description:
    ownLedger +
    "\n\nThe account starts with zero balances; only auto-ledgering moves them. An `Idempotency-Key` makes a retry return the first answer (and never open a second account).",
  request: { body: jsonBody(createMerchantLedgerAccountRequest) },
  responses: {
    201: jsonResponse(ledgerAccountSchema, "The new account."),
    ...problemResponses(403, 409, 422, ...bodyProblemStatuses),
  },
});

const listAccounts = createRoute({
  ...either,
  tags: ["Ledger"],
  method: "get",
  path: "/v1/ledger/accounts",
  operationId: "listOwnLedgerAccounts",
  summary: "List the accounts of the caller's own ledger, newest first",
  description: ownLedger + "\n\nA merchant lists its own ledger's accounts; the operator lists every merchant's (the platform's accounts: GET /v1/admin/ledger/accounts).",
  request: { query: paginationQuery },
  responses: { 200: jsonResponse(listSchema(ledgerAccountSchema, "OwnLedgerAccountList"), "A page of accounts."), ...problemResponses() },
});

const internalAccounts =
  "An internal account is the platform's settlement account (its CBU, where every virtual account's money lands) as one merchant sees it: one per " +
  "enabled currency, `ia_…`, opened when first listed (concurrent first listings open one) or by the first payment at one of the merchant's virtual " +
  "accounts in that currency. Linked to an account of the merchant's ledger, it is the debit side of auto-ledgering.";

const listInternal = createRoute({
  ...merchantOnly,
  tags: ["Internal accounts"],
  method: "get",
  path: "/v1/internal-accounts",
  operationId: "listInternalAccounts",
  summary: "List the caller's internal accounts, one per enabled currency",
  description: internalAccounts + "\n\nAll of them in one page, ordered by currency.",
  responses: { 200: jsonResponse(internalAccountListSchema, "Every internal account of the caller."), ...problemResponses(403) },
});

const getInternal = createRoute({
  ...either,
  tags: ["Internal accounts"],
  method: "get",
  path: "/v1/internal-accounts/{id}",
  operationId: "getInternalAccount",
  summary: "Get an internal account",
  description: internalAccounts + "\n\nA merchant reads its own (another's is 404); the operator reads any.",
  request: { params: internalAccountIdParams },
  responses: { 200: jsonResponse(internalAccountSchema, "The internal account."), ...problemResponses(404) },
});

const linkInternal = createRoute({
  ...merchantOnly,
  tags: ["Internal accounts"],
  method: "patch",
  path: "/v1/internal-accounts/{id}",
  operationId: "updateInternalAccount",
  summary: "Link an internal account to an account of the caller's ledger, or unlink it",
  description:
    internalAccounts +
    "\n\nOnly an account of the caller's own ledger in the internal account's currency can be linked (`400 invalid_request` naming `ledger_account_id` otherwise; " +
    "another merchant's account answers as one that does not exist). A link applies to details written from then on: linking later does not backfill.",
  request: { params: internalAccountIdParams, body: jsonBody(linkLedgerAccountRequest) },
  responses: { 200: jsonResponse(internalAccountSchema, "The internal account, linked as asked."), ...problemResponses(403, 404, ...bodyProblemStatuses) },
});

const details =
  "Every payment that arrives at one of the caller's virtual accounts has a `credit` detail, and a bank reversal of it a `debit` one, written in the same " +
  "atomic write as the payment (or the reversal), exactly once whatever the redeliveries. Auto-ledgering: when, at that moment, both the virtual account " +
  "and the internal account (of the payment's currency) are linked to accounts of the caller's ledger in that currency, the detail posts one balanced " +
  "transaction there (`ledgerable_type: incoming_payment_detail`): a `credit` detail credits the virtual account's ledger account and debits the internal " +
  "account's; a `debit` detail is the mirror image. Otherwise nothing is posted (`ledger_transaction_id: null`), and linking later does not backfill. " +
  "A merchant sees its own details (another's is 404); the operator sees all.";

const getDetail = createRoute({
  ...either,
  tags: ["Incoming payment details"],
  method: "get",
  path: "/v1/incoming-payment-details/{id}",
  operationId: "getIncomingPaymentDetail",
  summary: "Get an incoming payment detail",
  description: details,
  request: { params: incomingPaymentDetailIdParams },
  responses: { 200: jsonResponse(incomingPaymentDetailSchema, "The detail."), ...problemResponses(404) },
});

const listDetails = createRoute({
  ...either,
  tags: ["Incoming payment details"],
  method: "get",
  path: "/v1/incoming-payment-details",
  operationId: "listIncomingPaymentDetails",
  summary: "List incoming payment details, newest first",
  description: details,
  request: { query: incomingPaymentDetailListQuery },
  responses: { 200: jsonResponse(listSchema(incomingPaymentDetailSchema, "IncomingPaymentDetailList"), "A page of details."), ...problemResponses() },
});

export const merchantLedgerRouter = newRouter()
  .openapi(createAccount, async (c) => {
    const body = c.req.valid("json");
    const currency = enabledCurrency(c.get("config").currencies, body.currency);
    const claim = c.get("idempotency");
    const cause = claim ? `${claim.key}:${claim.claim_id}` : null;
    const account = await createMerchantLedgerAccount(
      database(c.env.DB),
      merchantIdOf(c.get("caller")),
      { name: body.name, normal_balance: body.normal_balance, currency, description: body.description ?? undefined },
      cause,
      Date.now(),
    );
    return c.json(merchantLedgerAccountView(account), 201);
  })
  .openapi(listAccounts, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const rows = await listMerchantLedgerAccounts(database(c.env.DB), c.get("caller"), limit, decodeCursor(cursor));
    return c.json(toPage(rows, limit, merchantLedgerAccountView), 200);
  })
  .openapi(listInternal, async (c) => {
    const config = c.get("config");
    const rows = await openInternalAccounts(database(c.env.DB), merchantIdOf(c.get("caller")), config.currencies, Date.now());
    return c.json({ data: rows.map((row) => internalAccountView(row, config.settlementCbu)), has_more: false as const, next_cursor: null }, 200);
  })
  .openapi(getInternal, async (c) => {
    const row = await findInternalAccount(database(c.env.DB), c.get("caller"), c.req.valid("param").id);
    return c.json(internalAccountView(row, c.get("config").settlementCbu), 200);
  })
  .openapi(linkInternal, async (c) => {
    const { ledger_account_id } = c.req.valid("json");
    const row = await linkInternalAccount(database(c.env.DB), merchantIdOf(c.get("caller")), c.req.valid("param").id, ledger_account_id, Date.now());
    return c.json(internalAccountView(row, c.get("config").settlementCbu), 200);
  })
  .openapi(getDetail, async (c) => {
    const row = await findIncomingPaymentDetail(database(c.env.DB), c.get("caller"), c.req.valid("param").id);
    return c.json(incomingPaymentDetailView(row), 200);
  })
  .openapi(listDetails, async (c) => {
    const { limit, cursor, virtual_account_id } = c.req.valid("query");
    const rows = await listIncomingPaymentDetails(database(c.env.DB), c.get("caller"), { virtual_account_id, limit, cursor: decodeCursor(cursor) });
    return c.json(toPage(rows, limit, incomingPaymentDetailView), 200);
  });
