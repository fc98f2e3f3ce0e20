/** Cash-ins as the merchant sees them (API §5): only payments whose merchant_id is the caller. */
import { createRoute } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { findMerchantPayment, paymentView } from "../cashins/payment-row";
import { newRouter } from "../context";
import { database } from "../db/client";
import { findLinkFacts } from "../db/customers";
import { payments } from "../db/schema";
import { ApiError } from "../errors";
import { merchantIdOf, requireMerchant } from "../middleware/auth";
import { decodeCursor, pageQuery, toPage } from "../pagination";
import { jsonResponse, listSchema, problemResponses } from "../schemas/common";
import { customerIdParams } from "../schemas/customers";
import { paymentIdParams, paymentListQuery, paymentSchema } from "../schemas/payments";

const merchant = { tags: ["Payments"], security: [{ merchantKey: [] }], middleware: [requireMerchant] };
const paymentList = listSchema(paymentSchema, "PaymentList");

/** Said on every read that D1 serves after a cash-in (docs/MONEY.md, "Group commit"). */
const trailsCashIns =
  "A cash-in is acknowledged to the bank once the customer's balance has it; its payment is written here with the other cash-ins of the moment (a group commit), " +
  "so a payment appears here a fraction of a second after the customer's balance shows it (a group gathers for at most 200 ms; p99 measured in docs/PERFORMANCE.md).";

const getPayment = createRoute({
  ...merchant,
  method: "get",
  path: "/v1/payments/{id}",
  operationId: "getPayment",
  summary: "Get a payment (cash-in)",
  description: trailsCashIns,
  request: { params: paymentIdParams },
  responses: { 200: jsonResponse(paymentSchema, "The payment."), ...problemResponses(403, 404) },
});

const listPayments = createRoute({
  ...merchant,
  method: "get",
  path: "/v1/payments",
  operationId: "listPayments",
  summary: "List the caller's payments, newest first",
  description: trailsCashIns,
  request: { query: paymentListQuery },
  responses: { 200: jsonResponse(paymentList, "A page of payments."), ...problemResponses(403) },
});

const listCustomerPayments = createRoute({
  ...merchant,
  method: "get",
  path: "/v1/customers/{id}/payments",
  operationId: "listCustomerPayments",
  summary: "List a customer's payments made through the caller",
  description: trailsCashIns,
  request: { params: customerIdParams, query: paymentListQuery },
  responses: { 200: jsonResponse(paymentList, "A page of payments."), ...problemResponses(403, 404) },
});

export const paymentsRouter = newRouter()
  .openapi(getPayment, async (c) => {
    const payment = await findMerchantPayment(c.env.DB, merchantIdOf(c.get("caller")), c.req.valid("param").id);
    if (!payment) throw new ApiError("not_found", "No such payment.");
    return c.json(paymentView(payment), 200);
  })
  .openapi(listPayments, async (c) => {
    const { limit, cursor, status } = c.req.valid("query");
    const merchantId = merchantIdOf(c.get("caller"));
    const filter = and(eq(payments.merchant_id, merchantId), status ? eq(payments.status, status) : undefined);
    const rows = await pageQuery(database(c.env.DB), payments, filter, decodeCursor(cursor), limit);
    return c.json(toPage(rows, limit, paymentView), 200);
  })
  .openapi(listCustomerPayments, async (c) => {
    const { limit, cursor, status } = c.req.valid("query");
    const merchantId = merchantIdOf(c.get("caller"));
    const customerId = c.req.valid("param").id;
    if (!(await findLinkFacts(c.env.DB, customerId, merchantId, "link"))) throw new ApiError("not_found", "No such customer.");
    const filter = and(eq(payments.customer_id, customerId), eq(payments.merchant_id, merchantId), status ? eq(payments.status, status) : undefined);
    const rows = await pageQuery(database(c.env.DB), payments, filter, decodeCursor(cursor), limit);
    return c.json(toPage(rows, limit, paymentView), 200);
  });
