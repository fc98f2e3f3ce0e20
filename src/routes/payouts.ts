/** Payouts (API §7): the merchant sends a customer's money out to a bank account. */
import { createRoute } from "@hono/zod-openapi";
import type { TypedResponse } from "hono";
import { and, eq, ne } from "drizzle-orm";
import { assert } from "../assert";
import { newRouter } from "../context";
import { database } from "../db/client";
import { findLinkFacts } from "../db/customers";
import { payouts } from "../db/schema";
import { ApiError } from "../errors";
import { enabledCurrency } from "../ledger/balances";
import { merchantIdOf, requireMerchant } from "../middleware/auth";
import { supersededAnswer } from "../middleware/idempotency";
import { decodeCursor, pageQuery, toPage } from "../pagination";
import { createPayout } from "../payouts/create-payout";
import { finishPayout } from "../payouts/finish-payout";
import { findMerchantPayout, payoutView, type PayoutView } from "../payouts/payout-row";
import { bodyProblemStatuses, jsonBody, jsonResponse, listSchema, problemResponse, problemResponses } from "../schemas/common";
import { customerIdParams } from "../schemas/customers";
import { createPayoutRequest, idempotencyHeader, payoutIdParams, payoutListQuery, payoutSchema } from "../schemas/payouts";

const merchant = { tags: ["Payouts"], security: [{ merchantKey: [] }], middleware: [requireMerchant] };
const payoutList = listSchema(payoutSchema, "PayoutList");

const create = createRoute({
  ...merchant,
  method: "post",
  path: "/v1/payouts",
  operationId: "createPayout",
  summary: "Create a payout",
  description:
    "Reserves the amount on both the customer's and the calling merchant's available balance, or on neither " +
    "(422 insufficient_funds), then submits the payout to the bank. Idempotency-Key is required: a retry with the " +
    "same key never pays twice, and after a 5xx only the same body may be retried (another is 422 " +
    "idempotency_key_reused). A key reused after its retention creates a new payout. The payout also keeps its own " +
    "data: should a repeat of its id ever carry other data (amount, customer, destination, description), it is 409 " +
    "conflict and nothing moves. A payout that cannot be created is never shown. " +
    "The key's answer always agrees with what exists: an attempt still running under a key another attempt has already answered (say, a retry's 422 insufficient_funds, stored while the first attempt stalled) moves nothing and answers the stored answer (`Idempotent-Replayed: true`); one whose key record expired (past retention) while it ran moves nothing and answers 503 unavailable: retry with the same key. " +
    "The same holds after a 5xx: a payout the platform could not record before its key's retention (48 h) ran out (a long outage) is never created (like any payout that cannot be created, it is never shown) and its funds are released, not paid, because past retention the key starts a new payout and paying both would pay twice.\n\n" +
    "**Own accounts only** (*cuenta propia*): the destination (`destination_cbu`, or the customer's CBU on file) " +
    "must be an account the customer holds — one we have received a transfer from whose sender CUIT is the " +
    "customer's, or one whose holder the bank's account-holder lookup reports with the customer's CUIT (in the " +
    "sandbox: the senders of the transfers it booked and the accounts registered with `POST /v1/sandbox/accounts`). " +
    "Otherwise 422 invalid_destination and nothing moves. If the bank cannot answer the lookup, 503 unavailable and " +
    "nothing moves: retry with the same key.",
  request: { headers: idempotencyHeader, body: jsonBody(createPayoutRequest) },
  responses: {
    201: jsonResponse(payoutSchema, "The payout, pending."),
    ...problemResponses(403, 404, 409, 422, ...bodyProblemStatuses),
    503: problemResponse(
      "unavailable: the bank did not answer the destination lookup, the service's configuration is invalid, or the key's record expired while the request ran; nothing moved: retry with the same Idempotency-Key (within its 48 h retention: past it, an unrecorded payout is released, not paid, and the key starts a new one).",
    ),
  },
});

const get = createRoute({
  ...merchant,
  method: "get",
  path: "/v1/payouts/{id}",
  operationId: "getPayout",
  summary: "Get a payout",
  request: { params: payoutIdParams },
  responses: { 200: jsonResponse(payoutSchema, "The payout."), ...problemResponses(403, 404) },
});

const list = createRoute({
  ...merchant,
  method: "get",
  path: "/v1/payouts",
  operationId: "listPayouts",
  summary: "List the caller's payouts, newest first",
  request: { query: payoutListQuery },
  responses: { 200: jsonResponse(payoutList, "A page of payouts."), ...problemResponses(403) },
});

const cancel = createRoute({
  ...merchant,
  method: "post",
  path: "/v1/payouts/{id}/cancel",
  operationId: "cancelPayout",
  summary: "Cancel a pending payout",
  description: "Only while pending (not yet submitted to the bank): the reserved funds return to both balances. Otherwise 422 invalid_state.",
  request: { params: payoutIdParams },
  responses: { 200: jsonResponse(payoutSchema, "The payout, canceled."), ...problemResponses(403, 404, 409, 422, ...bodyProblemStatuses) },
});

const listForCustomer = createRoute({
  ...merchant,
  method: "get",
  path: "/v1/customers/{id}/payouts",
  operationId: "listCustomerPayouts",
  summary: "List a customer's payouts made by the caller",
  request: { params: customerIdParams, query: payoutListQuery },
  responses: { 200: jsonResponse(payoutList, "A page of payouts."), ...problemResponses(403, 404) },
});

/** Without a status filter a list hides rejected attempts, which a merchant never sees (as findMerchantPayout). */
const visible = ne(payouts.status, "rejected");

export const payoutsRouter = newRouter()
  .openapi(create, async (c) => {
    const body = c.req.valid("json");
    const currency = enabledCurrency(c.get("config").currencies, body.currency);
    // The key is required here, so the idempotency middleware holds a claim of it: the payout
    // id comes from that claim, so that a key reused after retention is a new payout.
    const claim = c.get("idempotency");
    assert(claim !== undefined, "POST /v1/payouts runs under an idempotency claim");
    const created = await createPayout(c.env, merchantIdOf(c.get("caller")), claim, {
      customer_id: body.customer_id,
      amount: body.amount,
      currency,
      destination_cbu: body.destination_cbu ?? null,
      description: body.description ?? null,
    });
    if ("superseded" in created) {
      // Nothing moved: answer what the key stored (a replay, as the middleware sends it: not
      // one of this route's typed bodies, hence the cast).
      return (await supersededAnswer(c.env.DB, claim)) as unknown as TypedResponse<PayoutView, 201, "json">;
    }
    if (created.stored) {
      // The key's record was written with the payout, holding exactly this answer (the
      // payout_objects view of the row, payoutView's shape): answer its very text.
      c.set("idempotencyStored", created.stored.status);
      return c.body(created.stored.body, 201, { "content-type": "application/json" }) as unknown as TypedResponse<PayoutView, 201, "json">;
    }
    return c.json(payoutView(created.payout), 201);
  })
  .openapi(get, async (c) => {
    const payout = await findMerchantPayout(c.env.DB, merchantIdOf(c.get("caller")), c.req.valid("param").id);
    if (!payout) throw new ApiError("not_found", "No such payout.");
    return c.json(payoutView(payout), 200);
  })
  .openapi(list, async (c) => {
    const { limit, cursor, status } = c.req.valid("query");
    const merchantId = merchantIdOf(c.get("caller"));
    const filter = and(eq(payouts.merchant_id, merchantId), status ? eq(payouts.status, status) : visible);
    const rows = await pageQuery(database(c.env.DB), payouts, filter, decodeCursor(cursor), limit);
    return c.json(toPage(rows, limit, payoutView), 200);
  })
  .openapi(cancel, async (c) => {
    const merchantId = merchantIdOf(c.get("caller"));
    const payoutId = c.req.valid("param").id;
    if (!(await findMerchantPayout(c.env.DB, merchantId, payoutId))) throw new ApiError("not_found", "No such payout.");
    const result = await finishPayout(c.env, payoutId, { kind: "canceled" });
    if (!result.ok) {
      throw new ApiError("invalid_state", `Only a pending payout can be canceled; this one is ${result.payout?.status ?? "gone"}.`);
    }
    return c.json(payoutView(result.payout), 200);
  })
  .openapi(listForCustomer, async (c) => {
    const { limit, cursor, status } = c.req.valid("query");
    const merchantId = merchantIdOf(c.get("caller"));
    const customerId = c.req.valid("param").id;
    if (!(await findLinkFacts(c.env.DB, customerId, merchantId, "link"))) throw new ApiError("not_found", "No such customer.");
    const filter = and(eq(payouts.customer_id, customerId), eq(payouts.merchant_id, merchantId), status ? eq(payouts.status, status) : visible);
    const rows = await pageQuery(database(c.env.DB), payouts, filter, decodeCursor(cursor), limit);
    return c.json(toPage(rows, limit, payoutView), 200);
  });
