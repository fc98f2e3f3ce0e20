/**
 * The sandbox bank's controls (API §10), operator only, and only when SANDBOX=true: every
 * route answers 404 otherwise, exactly like a route that does not exist.
 */
import { createRoute } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { deliverBankEvent } from "../bank/deliver";
import type { SandboxAccount } from "../bank/sandbox-bank";
import { newRouter, type AppEnv } from "../context";
import { randomToken } from "../crypto";
import { ApiError, problem } from "../errors";
import { enabledCurrency } from "../ledger/balances";
import { metricsSnapshot } from "../metrics";
import { requireOperator } from "../middleware/auth";
import { findPayout } from "../payouts/payout-row";
import { submitPayout } from "../payouts/submit-payout";
import { bodyProblemStatuses, jsonBody, jsonResponse, problemResponses, rfc3339 } from "../schemas/common";
import { payoutIdParams } from "../schemas/payouts";
import {
  faultPlanRequest,
  faultPlanSchema,
  metricsSchema,
  sandboxAccountRequest,
  sandboxAccountSchema,
  sandboxTransferRequest,
  sandboxTransferResponse,
  settleRequest,
  settleResponse,
  statementQuery,
  statementResponse,
  virtualAccountParams,
  virtualAccountStatusSchema,
} from "../schemas/sandbox";

const sandboxOnly: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!c.get("config").sandbox) return problem(c, "not_found", `No route for ${c.req.method} ${c.req.path}.`);
  return next();
};

const operator = { tags: ["Sandbox bank"], security: [{ operatorKey: [] }], middleware: [sandboxOnly, requireOperator] };

const bank = (env: AppEnv["Bindings"]) => env.SANDBOX_BANK.get(env.SANDBOX_BANK.idFromName("sandbox"));

const transfer = createRoute({
  ...operator,
  method: "post",
  path: "/v1/sandbox/transfers",
  operationId: "createSandboxTransfer",
  summary: "Simulate an incoming bank transfer",
  description: "Books the transfer on the sandbox bank's statement and delivers its signed `transfer.received` event once, twice, or not at all.",
  request: { body: jsonBody(sandboxTransferRequest) },
  responses: { 201: jsonResponse(sandboxTransferResponse, "Booked (and delivered)."), ...problemResponses(403, 404, ...bodyProblemStatuses) },
});

const settle = createRoute({
  ...operator,
  method: "post",
  path: "/v1/sandbox/payouts/{id}/settle",
  operationId: "settleSandboxPayout",
  summary: "Settle a payout at the sandbox bank",
  description:
    "The bank completes or fails a processing payout and delivers the event. A payout still pending (the queue has not " +
    "submitted it yet) is submitted first, through the same code the queue runs.",
  request: { params: payoutIdParams, body: jsonBody(settleRequest) },
  responses: { 200: jsonResponse(settleResponse, "Settled and delivered."), ...problemResponses(403, 404, 422, ...bodyProblemStatuses) },
});

const statement = createRoute({
  ...operator,
  method: "get",
  path: "/v1/sandbox/statement",
  operationId: "getSandboxStatement",
  summary: "The sandbox bank's statement for a business day",
  request: { query: statementQuery },
  responses: { 200: jsonResponse(statementResponse, "Statement lines, in booking order."), ...problemResponses(403, 404) },
});

const registerAccount = createRoute({
  ...operator,
  method: "post",
  path: "/v1/sandbox/accounts",
  operationId: "createSandboxAccount",
  summary: "Register an account holder with the sandbox bank",
  description:
    "The sandbox bank's account-holder lookup (COELSA's *titularidad* check in production) then reports this holder " +
    "for the CBU, which makes it a legal payout destination for the customer with that CUIT (API §7, own accounts " +
    "only). Without it the lookup knows only the senders of the transfers the sandbox booked. `201` registered; " +
    "`200` the same account registered again with the same data; `409 conflict` when the CBU is already held by " +
    "another holder (or name), or its transfers came from another CUIT — nothing changes.",
  request: { body: jsonBody(sandboxAccountRequest) },
  responses: {
    201: jsonResponse(sandboxAccountSchema, "Registered."),
    200: jsonResponse(sandboxAccountSchema, "Already registered with the same data."),
    ...problemResponses(403, 404, 409, ...bodyProblemStatuses),
  },
});

const virtualAccount = createRoute({
  ...operator,
  method: "get",
  path: "/v1/sandbox/virtual-accounts/{account_number}",
  operationId: "getSandboxVirtualAccount",
  summary: "The sandbox bank's view of a virtual account number",
  description: "Whether the bank has registered this account number (CVU) as routable to our settlement account (API §11).",
  request: { params: virtualAccountParams },
  responses: { 200: jsonResponse(virtualAccountStatusSchema, "The bank's view."), ...problemResponses(403, 404) },
});

const faults = createRoute({
  ...operator,
  method: "post",
  path: "/v1/sandbox/faults",
  operationId: "planSandboxFaults",
  summary: "Make the sandbox bank fail the next calls",
  description:
    "The next `n` calls of each kind given fail transiently at the bank (0 clears it; a kind left out keeps its " +
    "plan), so that clients and tests can watch retries: a payout submission is retried by the queue, a virtual " +
    "account registration by its caller. Answers the plan as it now stands.",
  request: { body: jsonBody(faultPlanRequest) },
  responses: { 200: jsonResponse(faultPlanSchema, "The fault plan."), ...problemResponses(403, 404, ...bodyProblemStatuses) },
});

const metrics = createRoute({
  ...operator,
  method: "get",
  path: "/v1/sandbox/metrics",
  operationId: "getSandboxMetrics",
  summary: "This isolate's counters (for the benchmark)",
  description:
    "D1 write transactions, statements, busy time (the sum of D1's own `meta.duration`), merchant-row writes and group " +
    "commits counted by the isolate that answers, since it started. `npm run bench` reads it before and after each " +
    "scenario. Per isolate: compare two readings only when `isolate_id` is the same.",
  responses: { 200: jsonResponse(metricsSchema, "The counters."), ...problemResponses(403, 404) },
});

function accountView(account: SandboxAccount) {
  return { cbu: account.cbu, holder_cuit: account.holder_cuit, holder_name: account.holder_name, registered_at: rfc3339(account.registered_at) };
}

export const sandboxRouter = newRouter()
  .openapi(transfer, async (c) => {
    const body = c.req.valid("json");
    const config = c.get("config");
    const currency = enabledCurrency(config.currencies, body.currency);
    const sender = { cuit: body.sender.cuit ?? null, name: body.sender.name ?? null, cbu: body.sender.cbu ?? null };
    const line = await bank(c.env).bookTransfer({
      amount: body.amount,
      currency,
      sender,
      account_number: body.destination?.account_number ?? null,
      concepto: body.concepto ?? null,
    });
    const event = {
      id: `evt_${randomToken(24)}`,
      type: "transfer.received",
      created_at: new Date().toISOString(),
      data: {
        bank_transaction_id: line.bank_transaction_id,
        amount: line.amount,
        currency: line.currency,
        sender,
        destination: { account_number: line.account_number },
        concepto: line.concepto,
        booked_at: line.booked_at,
      },
    };
    const times = { once: 1, twice: 2, none: 0 }[body.deliver];
    const deliveries = [];
    for (let attempt = 0; attempt < times; attempt++) {
      deliveries.push(await deliverBankEvent(c.env, c.executionCtx, config.bankWebhookSecret, event));
    }
    return c.json({ transfer: line, event_id: event.id, deliveries }, 201);
  })
  .openapi(settle, async (c) => {
    const payoutId = c.req.valid("param").id;
    const { outcome, permanent } = c.req.valid("json");
    const config = c.get("config");
    const payout = await findPayout(c.env.DB, payoutId);
    if (!payout || payout.status === "rejected") throw new ApiError("not_found", "No such payout.");
    if (payout.status === "pending") await submitPayout(c.env, config, payoutId);
    const settled = await bank(c.env).settlePayout(payoutId, outcome, permanent);
    if (!settled.ok) {
      throw new ApiError("invalid_state", `The sandbox bank is not processing this payout (${settled.reason}${settled.status ? `: ${settled.status}` : ""}).`);
    }
    const event = {
      id: `evt_${randomToken(24)}`,
      type: outcome === "completed" ? "payout.completed" : "payout.failed",
      created_at: new Date().toISOString(),
      data:
        outcome === "completed"
          ? { payout_id: payoutId, bank_transaction_id: settled.bank_transaction_id }
          : { payout_id: payoutId, permanent, reason: permanent ? "sandbox: account closed" : "sandbox: temporarily unavailable" },
    };
    const delivery = await deliverBankEvent(c.env, c.executionCtx, config.bankWebhookSecret, event);
    return c.json({ payout_id: payoutId, outcome, event_id: event.id, delivery }, 200);
  })
  .openapi(statement, async (c) => {
    const { date, limit, cursor } = c.req.valid("query");
    // The bank's cursors are statement sequence numbers. Anything else would silently restart
    // from the first line (a client paging with it would loop): refuse it like other lists do.
    if (cursor !== undefined && !/^\d{1,15}$/.test(cursor)) {
      throw new ApiError("invalid_request", "cursor is not one this API issued.", [{ path: "query.cursor", message: "invalid cursor" }]);
    }
    const page = await bank(c.env).statement(date, cursor ?? null, limit);
    return c.json({ date, data: page.lines, has_more: page.next_cursor !== null, next_cursor: page.next_cursor }, 200);
  })
  .openapi(registerAccount, async (c) => {
    const body = c.req.valid("json");
    const result = await bank(c.env).registerAccount(body);
    if (result.status === "conflict") {
      const holder = `CUIT ${result.holder.cuit}${result.holder.name === null ? "" : `, name ${JSON.stringify(result.holder.name)}`}`;
      throw new ApiError("conflict", `The sandbox bank already knows CBU ${body.cbu} with other data (${holder}); nothing changed.`);
    }
    return c.json(accountView(result.account), result.status === "created" ? 201 : 200);
  })
  .openapi(virtualAccount, async (c) => {
    const accountNumber = c.req.valid("param").account_number;
    return c.json({ account_number: accountNumber, registered: await bank(c.env).isVirtualAccountRegistered(accountNumber) }, 200);
  })
  .openapi(faults, async (c) => c.json(await bank(c.env).planFaults(c.req.valid("json")), 200))
  .openapi(metrics, (c) => c.json(metricsSnapshot(), 200));
