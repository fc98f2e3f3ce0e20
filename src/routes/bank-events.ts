/**
 * The bank's webhook (API §6). The signature is checked over the raw body before anything
 * parses it; then the event is applied, and answered only once its outcome is durable.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { bankEventSchema } from "../bank/events";
import { handleBankEvent } from "../bank/handle-event";
import { verifySignature } from "../bank/signature";
import { newRouter } from "../context";
import { problem } from "../errors";
import { bodyProblemStatuses, jsonResponse, problemResponse, problemResponses } from "../schemas/common";

// The bank is never rate limited (its webhook carries money already received), never answers 400
// (an event that does not parse is stored failed: 422), and authenticates by signature, not by key.
const { 400: _neverInvalid, 429: _neverLimited, ...bankProblems } = problemResponses(...bodyProblemStatuses);
const bankResponses = {
  ...bankProblems,
  401: problemResponse("invalid_signature: the Bank-Signature header is missing or wrong, or its timestamp is more than 300 s away."),
  422: problemResponse("unprocessable_event: signed, but it cannot be applied (malformed, unknown, or other data for a cause already applied); stored failed for the operator."),
};

const receive = createRoute({
  method: "post",
  path: "/v1/bank/events",
  operationId: "receiveBankEvent",
  tags: ["Bank"],
  summary: "Receive a bank event (webhook)",
  description:
    "Signed by the bank: `Bank-Signature: t=<unix seconds>,v1=<hex>` (several v1 values allowed during secret rotation), " +
    "HMAC-SHA256 with BANK_WEBHOOK_SECRET over `<t>.<raw body>`, at most 300 s from now. 200 once the effect is durable " +
    "(also for a repeat with the same data, which changes nothing): a cash-in credited to a customer is durable in the customer's balance, " +
    "and its payment and the merchant's balance follow within a moment (a group commit). A repeat of a bank_transaction_id (or a second " +
    "payout.completed) carrying other data moves nothing: the first version stands, and the event is stored failed, 422 — except when " +
    "the repeat routes to a customer other than the first version's and the first is already recorded: that customer's balance " +
    "acknowledges it (200), and the group commit undoes it a moment later and stores the event failed (it can never be paid out meanwhile). " +
    "A credit that would take a balance past 2^53 - 1 is refused the same way. A signed event that cannot be applied is stored for the operator and " +
    "answered 422 with code `unprocessable_event` (an addition to the contract's list: the bank needs to tell it from a bad signature).",
  security: [{ bankSignature: [] }],
  // Documented, not validated here: the body must be verified as raw bytes before parsing.
  request: { body: { content: { "application/json": { schema: bankEventSchema } }, required: true } },
  responses: {
    200: jsonResponse(z.object({ received: z.literal(true) }).openapi("BankEventReceived"), "Applied, or already applied."),
    ...bankResponses,
  },
});

export const bankEventsRouter = newRouter();

// Registered for the OpenAPI document only; the handler below reads the raw body itself.
bankEventsRouter.openAPIRegistry.registerPath(receive);

bankEventsRouter.post("/v1/bank/events", async (c) => {
  const rawBytes = new Uint8Array(await c.req.arrayBuffer());
  const config = c.get("config");
  if (!(await verifySignature(rawBytes, c.req.header("bank-signature"), config.bankWebhookSecret))) {
    return problem(c, "invalid_signature", "Missing or invalid Bank-Signature, or its timestamp is more than 300 s away.");
  }
  // Verified as bytes; decoded only now. Invalid UTF-8 becomes U+FFFD and fails parsing as data.
  const result = await handleBankEvent(c.env, config, new TextDecoder().decode(rawBytes), {
    waitUntil: (promise) => c.executionCtx.waitUntil(promise),
  });
  if (result.status === "failed") return problem(c, "unprocessable_event", `Stored for the operator: ${result.error}`);
  return c.json({ received: true as const }, 200);
});
