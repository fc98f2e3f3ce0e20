/**
 * Reserve policies (operator) and merchant payouts (merchant), API §12. The money path is in
 * src/payouts/create-merchant-payout.ts; the releases in src/reserves/release-holds.ts.
 */
import { createRoute } from "@hono/zod-openapi";
import type { TypedResponse } from "hono";
import { assert } from "../assert";
import { newRouter } from "../context";
import { ApiError } from "../errors";
import { enabledCurrency } from "../ledger/balances";
import { merchantIdOf, requireMerchant, requireOperator } from "../middleware/auth";
import { supersededAnswer } from "../middleware/idempotency";
import { createMerchantPayout } from "../payouts/create-merchant-payout";
import { payoutView, type PayoutView } from "../payouts/payout-row";
import { dispatchAfterWrite } from "../webhooks/dispatch-after-write";
import { findReservePolicy, replaceReservePolicy, reservePolicyView } from "../reserves/policy";
import { bodyProblemStatuses, jsonBody, jsonResponse, problemResponses } from "../schemas/common";
import { merchantIdParams } from "../schemas/merchants";
import { idempotencyHeader, payoutSchema } from "../schemas/payouts";
import { createMerchantPayoutRequest, reservePolicyRequest, reservePolicySchema } from "../schemas/reserves";

const operator = { tags: ["Reserves"], security: [{ operatorKey: [] }], middleware: [requireOperator] };
const merchant = { tags: ["Payouts"], security: [{ merchantKey: [] }], middleware: [requireMerchant] };

const setPolicy = createRoute({
  ...operator,
  method: "post",
  path: "/v1/merchants/{id}/reserve-policy",
  operationId: "createReservePolicy",
  summary: "Set a merchant's reserve policy",
  description:
    "Replaces the merchant's reserve policy (a new version with a new id); it applies to merchant payouts created after " +
    "this call only: holds already made keep their amounts and release dates. `percentage`: that share of every merchant " +
    "payout (rounded down to the centavo) is withheld into the merchant's reserve and released back to its balance account " +
    "`holding_days` after the payout was created, by the cron. `fixed`: merchant payouts are withheld (up to their whole " +
    "amount) while the reserve holds less than `amount`; the withholding that makes it reach the target emits " +
    "`reserve_account.threshold_reached`, once per policy version. A fixed version whose `amount` the reserve already " +
    "holds (its available ≥ amount) is reached at once: this call emits `reserve_account.threshold_reached` (its object the " +
    "reserve balance account) in the same atomic write as the new version, and answers with `threshold_reached_at` set; merchant " +
    "payouts under it then withhold nothing and emit no second event, whatever runs concurrently. Each POST is a new version, " +
    "so setting the same fixed policy again emits the event again for the new version; a replay of a POST with the same " +
    "Idempotency-Key answers the stored response and emits nothing. A fixed reserve is never released by the cron " +
    "(`holding_days` is recorded only). A failed or canceled payout's withholding goes back to the balance account (API §12: the lifecycle of section 7). " +
    "A policy applies to payouts in its `currency` (ARS by default).",
  request: { params: merchantIdParams, body: jsonBody(reservePolicyRequest) },
  responses: { 201: jsonResponse(reservePolicySchema, "The policy now in force."), ...problemResponses(403, 404, 409, 422, ...bodyProblemStatuses) },
});

const getPolicy = createRoute({
  ...operator,
  method: "get",
  path: "/v1/merchants/{id}/reserve-policy",
  operationId: "getReservePolicy",
  summary: "Get a merchant's reserve policy",
  request: { params: merchantIdParams },
  responses: { 200: jsonResponse(reservePolicySchema, "The policy in force."), ...problemResponses(403, 404) },
});

const createOwnPayout = createRoute({
  ...merchant,
  method: "post",
  path: "/v1/merchant/payouts",
  operationId: "createMerchantPayout",
  summary: "Pay out the merchant's own funds",
  description:
    "Pays `amount` out of the calling merchant's balance account to its `payout_cbu` (set by the operator with PATCH " +
    "/v1/merchants/{id}; none → 422 invalid_destination naming `payout_cbu`). `amount` is what leaves the balance account: " +
    "the reserve policy's `withheld_amount` goes to the merchant's reserve at once, and the bank is sent `net_amount` = " +
    "amount − withheld_amount. 422 insufficient_funds when the balance account's available lacks `amount`; nothing moves. " +
    "The same lifecycle as any payout (pending → processing → completed | failed; cancel while pending); a failure or a " +
    "cancel returns the whole amount to the balance account: the net, and the withheld amount out of the reserve (once " +
    "the reserve can cover it; a completed payout's withholding stays in the reserve until its release). " +
    "A payout withheld whole (net 0) is completed at once without the bank. Listed by GET /v1/payouts (customer_id null). " +
    "Idempotency-Key required: a retry with the same key and body replays; another body is 422 idempotency_key_reused; " +
    "a repeat of the payout's id with other data is 409 conflict and moves nothing. " +
    "The key's answer always agrees with what exists: an attempt still running under a key another attempt has already answered (say, a retry's 422 insufficient_funds, stored while the first attempt stalled) moves nothing and answers the stored answer (`Idempotent-Replayed: true`); one whose key record expired (past retention) while it ran moves nothing and answers 503 unavailable: retry with the same key.",
  request: { headers: idempotencyHeader, body: jsonBody(createMerchantPayoutRequest) },
  responses: { 201: jsonResponse(payoutSchema, "The payout."), ...problemResponses(403, 404, 409, 422, ...bodyProblemStatuses) },
});

export const reservesRouter = newRouter()
  .openapi(setPolicy, async (c) => {
    const body = c.req.valid("json");
    const currency = enabledCurrency(c.get("config").currencies, body.currency);
    const merchantId = c.req.valid("param").id;
    const row = await replaceReservePolicy(c.env.DB, merchantId, { ...body, currency });
    if (!row) throw new ApiError("not_found", `No such merchant: ${merchantId}.`);
    // The batch may have written reserve_account.threshold_reached (a target already held).
    if (row.threshold_reached_at !== null) await dispatchAfterWrite(c.env, [merchantId]);
    return c.json(reservePolicyView(row), 201);
  })
  .openapi(getPolicy, async (c) => {
    const merchantId = c.req.valid("param").id;
    const row = await findReservePolicy(c.env.DB, merchantId);
    if (!row) throw new ApiError("not_found", `Merchant ${merchantId} has no reserve policy.`);
    return c.json(reservePolicyView(row), 200);
  })
  .openapi(createOwnPayout, async (c) => {
    const body = c.req.valid("json");
    const currency = enabledCurrency(c.get("config").currencies, body.currency);
    const claim = c.get("idempotency");
    assert(claim !== undefined, "POST /v1/merchant/payouts runs under an idempotency claim");
    const outcome = await createMerchantPayout(c.env, merchantIdOf(c.get("caller")), claim, { amount: body.amount, currency });
    if (outcome.result === "superseded") {
      // Another attempt under this key stored its answer (a refusal) while this one ran:
      // nothing moved, and this request answers what the key says (as the middleware replays
      // it: not one of this route's typed bodies, hence the cast).
      return (await supersededAnswer(c.env.DB, claim)) as unknown as TypedResponse<PayoutView, 201, "json">;
    }
    if (outcome.storedBody === null) return c.json(payoutView(outcome.payout), 201);
    // The key completed with this very answer in the payout's batch: answer its exact text.
    c.set("idempotencyStored", 201);
    return c.body(outcome.storedBody, 201, { "content-type": "application/json" }) as unknown as TypedResponse<PayoutView, 201, "json">;
  });
