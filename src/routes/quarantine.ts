/** The operator's side of cash-ins (API §5): quarantined payments, assigned or returned. */
import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { paymentView } from "../cashins/payment-row";
import { assignQuarantined, returnQuarantined, suggestCustomer } from "../cashins/quarantine";
import { newRouter } from "../context";
import { database } from "../db/client";
import { payments } from "../db/schema";
import { requireOperator } from "../middleware/auth";
import { decodeCursor, pageQuery, toPage } from "../pagination";
import { bodyProblemStatuses, jsonBody, jsonResponse, listSchema, paginationQuery, problemResponses, rfc3339 } from "../schemas/common";
import { customerIdSchema } from "../schemas/customers";
import { merchantIdSchema } from "../schemas/merchants";
import { paymentIdParams, paymentSchema } from "../schemas/payments";

const operator = { tags: ["Quarantine"], security: [{ operatorKey: [] }], middleware: [requireOperator] };

const quarantinedSchema = paymentSchema
  .extend({
    age_seconds: z.number().int().openapi({ description: "Since the bank booked it." }),
    suggestion: z
      .object({ customer_id: z.string(), merchant_id: z.string().nullable(), reason: z.string() })
      .nullable()
      .openapi({ description: "A likely owner: a customer reference one typo away from the concepto's, or a sender CUIT we know." }),
  })
  .openapi("QuarantinedPayment");

const returnSchema = z
  .object({
    payment_id: z.string(),
    payout: z.object({
      id: z.string(),
      status: z.enum(["pending", "processing", "completed", "failed", "canceled"]),
      amount: z.number().int(),
      currency: z.string(),
      destination_cbu: z.string(),
      created_at: z.string(),
    }),
  })
  .openapi("QuarantineReturn");

const list = createRoute({
  ...operator,
  method: "get",
  path: "/v1/admin/quarantine",
  operationId: "listQuarantinedPayments",
  summary: "List quarantined cash-ins, newest first, with a suggested owner",
  request: { query: paginationQuery },
  responses: { 200: jsonResponse(listSchema(quarantinedSchema, "QuarantinedPaymentList"), "A page."), ...problemResponses(403) },
});

const assign = createRoute({
  ...operator,
  method: "post",
  path: "/v1/admin/quarantine/{id}/assign",
  operationId: "assignQuarantinedPayment",
  summary: "Credit a quarantined cash-in to a customer and merchant",
  description:
    "Credits exactly once (matched_by \"manual\"): assigning again to the same pair answers the same payment; to another pair, 422 invalid_state. " +
    "Refused (422 invalid_state) while a return to the sender is under way; once that return has failed, assigning again credits it. " +
    "409 conflict if the customer was already credited this payment through another merchant.",
  request: { params: paymentIdParams, body: jsonBody(z.object({ customer_id: customerIdSchema, merchant_id: merchantIdSchema }).strict().openapi("AssignQuarantinedRequest")) },
  responses: { 200: jsonResponse(paymentSchema, "The payment, credited."), ...problemResponses(403, 404, 409, 422, ...bodyProblemStatuses) },
});

const sendBack = createRoute({
  ...operator,
  method: "post",
  path: "/v1/admin/quarantine/{id}/return",
  operationId: "returnQuarantinedPayment",
  summary: "Send a quarantined cash-in back to its sender's CBU",
  description:
    "Creates a return payout from suspense, submitted to the bank like any payout (202: it completes asynchronously; the payment becomes " +
    "`returned` when the bank confirms). Asking again answers the live return.",
  request: { params: paymentIdParams },
  responses: { 202: jsonResponse(returnSchema, "The return, on its way."), ...problemResponses(403, 404, 422, ...bodyProblemStatuses) },
});

export const quarantineRouter = newRouter()
  .openapi(list, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const rows = await pageQuery(database(c.env.DB), payments, eq(payments.status, "quarantined"), decodeCursor(cursor), limit);
    const page = toPage(rows, limit, (row) => row);
    const now = Date.now();
    const data = [];
    for (const row of page.data) {
      data.push({ ...paymentView(row), age_seconds: Math.max(0, Math.floor((now - row.booked_at) / 1000)), suggestion: await suggestCustomer(c.env.DB, row) });
    }
    return c.json({ ...page, data }, 200);
  })
  .openapi(assign, async (c) => {
    const { customer_id, merchant_id } = c.req.valid("json");
    const payment = await assignQuarantined(c.env, c.req.valid("param").id, customer_id, merchant_id);
    return c.json(paymentView(payment), 200);
  })
  .openapi(sendBack, async (c) => {
    const payout = await returnQuarantined(c.env, c.req.valid("param").id);
    return c.json(
      {
        payment_id: payout.payment_id ?? c.req.valid("param").id,
        payout: {
          id: payout.id,
          status: payout.status as "pending" | "processing" | "completed" | "failed" | "canceled",
          amount: payout.amount,
          currency: payout.currency,
          destination_cbu: payout.destination_cbu,
          created_at: rfc3339(payout.created_at),
        },
      },
      202,
    );
  });
