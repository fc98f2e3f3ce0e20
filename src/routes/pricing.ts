/**
 * Commission pricing (API §12): the operator sets and reads a merchant's price for cash-ins.
 * The cash-in path reads it through a per-isolate cache (src/commission/pricing-cache.ts).
 */
import { createRoute } from "@hono/zod-openapi";
import { pricingCache } from "../commission/pricing-cache";
import { readPricing, writePricing, pricingView } from "../commission/pricing";
import { newRouter } from "../context";
import { requireOperator } from "../middleware/auth";
import { bodyProblemStatuses, jsonBody, jsonResponse, problemResponses } from "../schemas/common";
import { merchantIdParams } from "../schemas/merchants";
import { pricingSchema, setPricingRequest } from "../schemas/pricing";
import { findMerchant } from "./merchants";

const operator = { tags: ["Merchants"], security: [{ operatorKey: [] }], middleware: [requireOperator] };

const setPricing = createRoute({
  method: "post",
  path: "/v1/merchants/{id}/pricing",
  operationId: "updateMerchantPricing",
  ...operator,
  summary: "Set a merchant's commission",
  description:
    "Sets the merchant's cash-in commission, replacing any before (`cash_in_fee_fixed` defaults to 0; `cash_in_fee_bps: 0` " +
    "with no fixed fee charges nothing). The fee a cash-in pays is decided when it is processed (first credited or " +
    "assigned), not by its bank booking date: a change applies to cash-ins processed from at most 5 s later. " +
    "Answers 200 with the pricing, as Stripe does for a POST that creates no object " +
    "with its own id. 404 for an unknown merchant.",
  request: { params: merchantIdParams, body: jsonBody(setPricingRequest) },
  responses: { 200: jsonResponse(pricingSchema, "The merchant's pricing, as set."), ...problemResponses(403, 404, 409, 422, ...bodyProblemStatuses) },
});

const getPricing = createRoute({
  method: "get",
  path: "/v1/merchants/{id}/pricing",
  operationId: "getMerchantPricing",
  ...operator,
  summary: "Retrieve a merchant's commission",
  description: "The merchant's cash-in commission; a merchant whose pricing was never set pays none (both 0, `updated_at: null`).",
  request: { params: merchantIdParams },
  responses: { 200: jsonResponse(pricingSchema, "The merchant's pricing."), ...problemResponses(403, 404) },
});

export const pricingRouter = newRouter()
  .openapi(setPricing, async (c) => {
    const id = c.req.valid("param").id;
    const body = c.req.valid("json");
    await findMerchant(c.env.DB, id);
    const row = await writePricing(c.env.DB, id, { cash_in_fee_bps: body.cash_in_fee_bps, cash_in_fee_fixed: body.cash_in_fee_fixed ?? 0 }, Date.now());
    // This isolate's cash-ins see the change at once; others within pricing_cache_ms.
    pricingCache.forget(id);
    return c.json(pricingView(id, row), 200);
  })
  .openapi(getPricing, async (c) => {
    const id = c.req.valid("param").id;
    await findMerchant(c.env.DB, id);
    return c.json(pricingView(id, await readPricing(c.env.DB, id)), 200);
  });
