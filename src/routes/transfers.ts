/**
 * Internal transfers and top-ups (API §12): money between two balance accounts, no bank payout.
 * The rules of who may move what live here; the movement itself is executeTransfer's.
 *
 * - The operator may move between any two balance accounts, except FROM a reserve (reserve
 *   money leaves only by the release cron, by the reserve policy's rules).
 * - A merchant may move only from its own `merchant` account, to any merchant or platform
 *   balance account of the platform (another merchant's included, as Adyen allows transfers
 *   between balance accounts of one platform: the recipient sees the transfer and its event),
 *   never to a reserve, its own included: money there would be stranded, since only the
 *   release cron moves it out, and that releases what the policy withheld.
 */
import { createRoute } from "@hono/zod-openapi";
import { assert } from "../assert";
import type { AppEnv, Caller, IdempotencyClaim } from "../context";
import { newRouter } from "../context";
import { ApiError } from "../errors";
import { balanceAccountId, merchantAccount, platformBalanceAccount } from "../ledger/accounts";
import { enabledCurrency } from "../ledger/balances";
import { requireOperator } from "../middleware/auth";
import { supersededAnswer } from "../middleware/idempotency";
import { decodeCursor, toPage } from "../pagination";
import { bodyProblemStatuses, jsonBody, jsonResponse, listSchema, problemResponses } from "../schemas/common";
import { merchantIdParams } from "../schemas/merchants";
import { idempotencyHeader } from "../schemas/payouts";
import { createTopUpRequest, createTransferRequest, transferIdParams, transferListQuery, transferSchema } from "../schemas/transfers";
import { readTransferAccounts, type TransferAccount, type TransferOrder } from "../transfers/execute-transfer";
import { listTransfers } from "../transfers/list-transfers";
import { executeTransferUnderKey, transferIdOf } from "../transfers/transfer-under-key";
import { findTransfer, transferView, transferVisibleTo, type TransferRow } from "../transfers/transfer-row";
import type { Context } from "hono";

const either = { tags: ["Transfers"], security: [{ merchantKey: [] as string[] }, { operatorKey: [] as string[] }] as Record<string, string[]>[] };

const sameData =
  "Idempotency-Key is required: a retry with the same key and body answers the first response (`Idempotent-Replayed: true`) and never moves twice; " +
  "another body under the key is 422 idempotency_key_reused. The transfer also keeps its own data: should a repeat of its id ever carry other data, " +
  "it is 409 conflict and nothing moves. The balance check and the movement are one atomic write: concurrent transfers and payouts on one account " +
  "can never take its available below zero (422 insufficient_funds, nothing moved). A movement that would take the destination's balance past " +
  "2^53 − 1 (9007199254740991) is 422 invalid_state, nothing moved (as a quarantined cash-in's release). " +
  "The key's answer always agrees with what exists: an attempt still running under a key another attempt has already answered (say, a retry's 422 insufficient_funds, stored while the first attempt stalled) moves nothing and answers the stored answer (`Idempotent-Replayed: true`); one whose key record expired (past retention) while it ran moves nothing and answers 503 unavailable: retry with the same key.";

const create = createRoute({
  ...either,
  method: "post",
  path: "/v1/transfers",
  operationId: "createTransfer",
  summary: "Move money between two balance accounts",
  description:
    "An internal transfer: the amount leaves `from_balance_account`'s available and reaches `to_balance_account`'s in one atomic write, with no bank payout " +
    "(`201`, status `completed`). The operator may move between any two balance accounts except from a reserve (reserve money leaves only by the release " +
    "cron). A merchant may move only from its own `merchant` account (another account of its own, or anyone else's, as `from` is 404 / 400), to any " +
    "merchant or platform balance account of the platform — another merchant's included: the recipient sees the transfer and gets its event — but never " +
    "to a reserve. To a merchant, an account it does not own that it may not send to (another's reserve, an account in another currency) is 404 " +
    "naming `to_balance_account`, exactly as an id that does not exist. Both accounts must be in `currency` (400 naming the field); the same account on both sides is 400.\n\n" +
    sameData,
  request: { headers: idempotencyHeader, body: jsonBody(createTransferRequest) },
  responses: { 201: jsonResponse(transferSchema, "The transfer, completed."), ...problemResponses(404, 409, 422, ...bodyProblemStatuses) },
});

const topUp = createRoute({
  tags: ["Transfers"],
  security: [{ operatorKey: [] }],
  middleware: [requireOperator],
  method: "post",
  path: "/v1/merchants/{id}/top-ups",
  operationId: "createTopUp",
  summary: "Top up a merchant's balance account",
  description:
    "A transfer of kind `top_up` from `source` (by default the platform's balance account in `currency`) to the merchant's balance account in `currency`. " +
    "The source may be any balance account but a reserve. An unknown merchant, or one with no account in that currency, is 404.\n\n" +
    sameData,
  request: { params: merchantIdParams, headers: idempotencyHeader, body: jsonBody(createTopUpRequest) },
  responses: { 201: jsonResponse(transferSchema, "The top-up, completed."), ...problemResponses(403, 404, 409, 422, ...bodyProblemStatuses) },
});

const get = createRoute({
  ...either,
  method: "get",
  path: "/v1/transfers/{id}",
  operationId: "getTransfer",
  summary: "Get a transfer",
  description: "A merchant sees the transfers from or to its accounts; any other id is 404, as one that does not exist. The operator sees all.",
  request: { params: transferIdParams },
  responses: { 200: jsonResponse(transferSchema, "The transfer."), ...problemResponses(404) },
});

const list = createRoute({
  ...either,
  method: "get",
  path: "/v1/transfers",
  operationId: "listTransfers",
  summary: "List transfers, newest first",
  description:
    "A merchant lists the transfers from or to its accounts (top-ups, sweeps and reserve releases included), each once — a transfer between two of its own " +
    "accounts too; the operator lists all. Newest first (created_at, then id, both descending); `next_cursor` continues after the last row shown.",
  request: { query: transferListQuery },
  responses: { 200: jsonResponse(listSchema(transferSchema, "TransferList"), "A page of transfers."), ...problemResponses() },
});

const notFound = (field: string) => new ApiError("not_found", `No such balance account: ${field}.`, [{ path: field, message: "no such balance account" }]);
const refused = (field: string, message: string) => new ApiError("invalid_request", message, [{ path: field, message }]);

function claimOf(c: Context<AppEnv>): IdempotencyClaim {
  const claim = c.get("idempotency");
  assert(claim !== undefined, `${c.req.path} runs under an idempotency claim`);
  return claim;
}

/** Both accounts are in `currency`, else 400 naming the field (refused before anything ran). */
function requireCurrency(currency: string, from: TransferAccount, to: TransferAccount, toField: string, fromField: string) {
  if (from.currency !== currency) throw refused("currency", `must be ${fromField}'s currency, ${from.currency}`);
  if (to.currency !== currency) throw refused("currency", `must be ${toField}'s currency, ${to.currency}`);
}

const created = (c: Context<AppEnv>, row: TransferRow) => c.json(transferView(row), 201);

/** Runs the order and answers as the API does: 201 with the transfer, or the refusal. */
async function answer(c: Context<AppEnv>, order: TransferOrder, fields: { from: string; to: string }) {
  const claim = claimOf(c);
  const outcome = await executeTransferUnderKey(c.env, claim, order, Date.now());
  switch (outcome.result) {
    case "created":
      // The key's record was written in the transfer's batch, holding exactly this answer
      // (201 and transferView of this same row: c.json is JSON.stringify of it).
      if (outcome.answered) c.set("idempotencyStored", 201);
      return created(c, outcome.transfer);
    case "replayed":
      return created(c, outcome.transfer);
    case "conflict":
      throw new ApiError("conflict", "This transfer was already created with different data; nothing moved.");
    case "insufficient_funds":
      throw new ApiError("insufficient_funds", `The available balance of ${fields.from} does not cover this transfer; nothing moved.`);
    case "balance_overflow":
      // The code a quarantined cash-in's release answers when it would overflow a balance.
      throw new ApiError("invalid_state", `This transfer would take the balance of ${fields.to} past ${Number.MAX_SAFE_INTEGER}; nothing moved.`);
    case "not_found":
      throw notFound(outcome.field === "from_balance_account" ? fields.from : fields.to);
    case "superseded": {
      // Another attempt under this key stored its answer (a refusal) while this one ran:
      // nothing moved, and this request answers what the key says.
      // (A replay, as the middleware sends it: not one of this route's typed bodies, hence the cast.)
      // (With no stored answer, the key's record expired meanwhile: 503, retry; see supersededAnswer.)
      return (await supersededAnswer(c.env.DB, claim)) as unknown as ReturnType<typeof created>;
    }
  }
}

function initiator(caller: Caller): string {
  return caller.kind === "operator" ? "operator" : caller.merchantId;
}

export const transfersRouter = newRouter()
  .openapi(create, async (c) => {
    const body = c.req.valid("json");
    const caller = c.get("caller");
    const currency = enabledCurrency(c.get("config").currencies, body.currency);
    if (body.from_balance_account === body.to_balance_account) {
      throw refused("to_balance_account", "must not be from_balance_account: a transfer moves between two accounts");
    }
    const accounts = await readTransferAccounts(c.env.DB, [body.from_balance_account, body.to_balance_account]);
    const from = accounts.get(body.from_balance_account);
    const to = accounts.get(body.to_balance_account);
    // Another merchant's account is answered as one that does not exist.
    if (!from || (caller.kind === "merchant" && from.owner_id !== caller.merchantId)) throw notFound("from_balance_account");
    if (!to) throw notFound("to_balance_account");
    // A merchant learns nothing about an account it does not own beyond "you may send to it":
    // another's reserve, or an account in another currency, is answered as a missing id.
    if (caller.kind === "merchant" && to.owner_id !== caller.merchantId && (to.kind === "reserve" || to.currency !== currency)) {
      throw notFound("to_balance_account");
    }
    if (caller.kind === "merchant" && from.kind !== "merchant") {
      throw refused("from_balance_account", "a merchant moves money only from its own merchant balance account");
    }
    if (from.kind === "reserve") throw refused("from_balance_account", "reserve money leaves only by the reserve release");
    if (caller.kind === "merchant" && to.kind === "reserve") throw refused("to_balance_account", "a merchant may not move money into a reserve");
    requireCurrency(currency, from, to, "to_balance_account", "from_balance_account");
    const order: TransferOrder = {
      id: await transferIdOf(claimOf(c)),
      kind: "transfer",
      from_balance_account: body.from_balance_account,
      to_balance_account: body.to_balance_account,
      amount: body.amount,
      currency,
      description: body.description ?? null,
      initiated_by: initiator(caller),
    };
    return answer(c, order, { from: "from_balance_account", to: "to_balance_account" });
  })
  .openapi(topUp, async (c) => {
    const body = c.req.valid("json");
    const merchantId = c.req.valid("param").id;
    const currency = enabledCurrency(c.get("config").currencies, body.currency);
    const target = balanceAccountId(merchantAccount(merchantId, currency).id);
    const source = body.source ?? balanceAccountId(platformBalanceAccount(currency).id);
    if (source === target) throw refused("source", "must not be the merchant's own balance account");
    const accounts = await readTransferAccounts(c.env.DB, [source, target]);
    const from = accounts.get(source);
    const to = accounts.get(target);
    if (!to) throw new ApiError("not_found", `No merchant ${merchantId} with a ${currency} balance account.`);
    if (!from) throw notFound("source");
    if (from.kind === "reserve") throw refused("source", "reserve money leaves only by the reserve release");
    if (from.currency !== currency) throw refused("currency", `must be source's currency, ${from.currency}`);
    const order: TransferOrder = {
      id: await transferIdOf(claimOf(c)),
      kind: "top_up",
      from_balance_account: source,
      to_balance_account: target,
      amount: body.amount,
      currency,
      description: body.description ?? null,
      initiated_by: "operator",
    };
    return answer(c, order, { from: "source", to: "id" });
  })
  .openapi(get, async (c) => {
    const row = await findTransfer(c.env.DB, c.req.valid("param").id);
    if (!row || !transferVisibleTo(row, c.get("caller"))) throw new ApiError("not_found", "No such transfer.");
    return c.json(transferView(row), 200);
  })
  .openapi(list, async (c) => {
    const { limit, cursor, balance_account, kind } = c.req.valid("query");
    const caller = c.get("caller");
    const filter = { merchantId: caller.kind === "merchant" ? caller.merchantId : undefined, balanceAccount: balance_account, kind };
    const rows = await listTransfers(c.env.DB, filter, decodeCursor(cursor), limit);
    return c.json(toPage(rows, limit, transferView), 200);
  });
