/**
 * A merchant's webhook settings (API §3, §14): its endpoint, set by itself or by the operator,
 * and the rotation of its signing secret. The sender reads both at every attempt
 * (src/webhooks/endpoint.ts), so a change applies to the next attempt of every delivery.
 */
import { createRoute } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { newRouter } from "../context";
import { database } from "../db/client";
import { merchants, type MerchantRow } from "../db/schema";
import { ApiError } from "../errors";
import { merchantIdOf, requireMerchant, requireOperator } from "../middleware/auth";
import { bodyProblemStatuses, jsonBody, jsonResponse, problemResponses, rfc3339 } from "../schemas/common";
import {
  merchantIdParams,
  merchantSchema,
  rotatedWebhookSecretSchema,
  updateCurrentMerchantRequest,
  updateMerchantRequest,
} from "../schemas/merchants";
import type { WebhookEvents } from "../webhooks/event-filter";
import { mintWebhookSecret } from "../webhooks/merchant-secret";
import { assertWebhookUrlAllowed, merchantView } from "./merchants";

const operator = { tags: ["Merchants"], security: [{ operatorKey: [] }], middleware: [requireOperator] };
const merchantSelf = { tags: ["Merchant self"], security: [{ merchantKey: [] }], middleware: [requireMerchant] };

const endpointChanges =
  "A new or changed `webhook_url` applies to the next attempt of every pending delivery; events are queued for " +
  "delivery only while the merchant has a `webhook_url`, so events that happened while it had none are not sent " +
  "(they stay listed under GET /v1/events). `webhook_events` (default `[\"*\"]`, every type) chooses which event types are " +
  "delivered, Stripe's `enabled_events`: every event is still stored and listed, and a change applies to events that " +
  "happen after it. A field left out is left as it is.";

const updateSelf = createRoute({
  method: "patch",
  path: "/v1/merchant",
  operationId: "updateCurrentMerchant",
  ...merchantSelf,
  summary: "Set the calling merchant's webhook endpoint and the event types it receives",
  description:
    "Sets (a URL) or removes (null) the endpoint that receives the merchant's events, and/or the event types delivered " +
    "to it (`webhook_events`). At least one of the two is required (an empty body is 400 naming `webhook_url`); any " +
    `other field is refused (400 naming it). ${endpointChanges} A PATCH is idempotent by itself: it takes no Idempotency-Key.`,
  request: { body: jsonBody(updateCurrentMerchantRequest) },
  responses: { 200: jsonResponse(merchantSchema, "The merchant, updated."), ...problemResponses(403, ...bodyProblemStatuses) },
});

const updateMerchant = createRoute({
  method: "patch",
  path: "/v1/merchants/{id}",
  operationId: "updateMerchant",
  ...operator,
  summary: "Update a merchant",
  description:
    "Changes the fields given (at least one; an empty object is 400). `webhook_url` and `webhook_events` follow the rules of PATCH " +
    `/v1/merchant; a null webhook_url removes it. ${endpointChanges} \`payout_cbu\` (API §3, §12): where the merchant's own payouts ` +
    "go, a CBU/CVU with valid check digits (stored as its 22 digits); null clears it (POST /v1/merchant/payouts then answers " +
    "422 invalid_destination). A payout already created keeps the destination it was created with. Any other field is refused (400 naming it).",
  request: { params: merchantIdParams, body: jsonBody(updateMerchantRequest) },
  responses: { 200: jsonResponse(merchantSchema, "The merchant, updated."), ...problemResponses(403, 404, ...bodyProblemStatuses) },
});

const rotateWebhookSecret = createRoute({
  method: "post",
  path: "/v1/merchant/webhook-secret",
  operationId: "rotateWebhookSecret",
  ...merchantSelf,
  summary: "Rotate the webhook signing secret",
  description:
    "Replaces the merchant's webhook secret with a new `whsec_…`, shown only in this answer and stored sealed. Every " +
    "delivery attempt after this call is signed with the new secret only (no overlap: the old one stops at once), " +
    "retries of earlier events included; update the receiver right after rotating, and redeliver what it refused meanwhile " +
    "(POST /v1/events/{id}/redeliver). Answers 200, as Stripe does for every successful POST that does not create an " +
    "object with its own id. No body. Under an Idempotency-Key, a replay answers the same 200 with `webhook_secret: null` " +
    "and `Idempotent-Replayed: true`, and rotates nothing: a secret is never shown twice; if its answer was lost, rotate " +
    "again with a new key.",
  responses: {
    200: jsonResponse(rotatedWebhookSecretSchema, "The new secret, shown only here."),
    ...problemResponses(403, 409, 422, ...bodyProblemStatuses),
  },
});

/** Writes the given columns of a merchant; null if there is no such merchant. */
async function updateMerchantRow(
  d1: D1Database,
  id: string,
  changes: { name?: string; webhook_url?: string | null; webhook_events?: WebhookEvents; payout_cbu?: string | null },
): Promise<MerchantRow | null> {
  // drizzle leaves out the keys that are undefined: only the given columns are written.
  const { webhook_events, ...columns } = changes;
  const set = { ...columns, webhook_events: webhook_events === undefined ? undefined : JSON.stringify(webhook_events) };
  const row = await database(d1).update(merchants).set(set).where(eq(merchants.id, id)).returning().get();
  return row ?? null;
}

export const merchantSettingsRouter = newRouter()
  .openapi(updateSelf, async (c) => {
    const { webhook_url, webhook_events } = c.req.valid("json");
    assertWebhookUrlAllowed(webhook_url, c.get("config"));
    const merchantId = merchantIdOf(c.get("caller"));
    const row = await updateMerchantRow(c.env.DB, merchantId, { webhook_url, webhook_events });
    if (!row) throw new ApiError("not_found", `No such merchant: ${merchantId}.`);
    return c.json(merchantView(row, c.get("config").currencies[0]!), 200);
  })
  .openapi(updateMerchant, async (c) => {
    const id = c.req.valid("param").id;
    const body = c.req.valid("json");
    assertWebhookUrlAllowed(body.webhook_url, c.get("config"));
    const row = await updateMerchantRow(c.env.DB, id, { name: body.name, webhook_url: body.webhook_url, webhook_events: body.webhook_events, payout_cbu: body.payout_cbu });
    if (!row) throw new ApiError("not_found", `No such merchant: ${id}.`);
    return c.json(merchantView(row, c.get("config").currencies[0]!), 200);
  })
  .openapi(rotateWebhookSecret, async (c) => {
    const merchantId = merchantIdOf(c.get("caller"));
    const secret = await mintWebhookSecret(c.get("config").webhookSecretKey, merchantId);
    const rotatedAt = Date.now();
    const row = await database(c.env.DB).update(merchants).set({ webhook_secret: secret.sealed }).where(eq(merchants.id, merchantId)).returning({ id: merchants.id }).get();
    if (!row) throw new ApiError("not_found", `No such merchant: ${merchantId}.`);
    // The idempotency log keeps this answer with the secret nulled (a replay shows no secret).
    c.set("secretFields", ["webhook_secret"]);
    return c.json({ merchant_id: merchantId, webhook_secret: secret.secret, rotated_at: rfc3339(rotatedAt) }, 200);
  });
