import { z } from "@hono/zod-openapi";
import { normalizeCbu } from "../domain/cbu";
import type { Balance } from "../ledger/balances";
import { limits } from "../limits";
import { webhookEventsField, webhookEventsRules } from "../webhooks/event-filter";
import { currencySchema, idSchema, rfc3339, timestampSchema } from "./common";

/** A name as people type it: trimmed, then 1..name_length_max characters. */
export const nameSchema = z
  .string()
  .trim()
  .min(1, "must not be empty")
  .max(limits.name_length_max, `must be at most ${limits.name_length_max} characters`);

export const merchantIdSchema = idSchema("mer", "mer_0mhx2k3p1a8bcdefghjkmnpq");

export const merchantIdParams = z.object({
  id: merchantIdSchema.openapi({ param: { name: "id", in: "path" } }),
});

/**
 * A webhook URL as a body carries it. Its schema checks only the type and length: where we may
 * send (src/webhooks/destination.ts) depends on SANDBOX, so the handler checks that, answering
 * 400 invalid_request naming `webhook_url` as a schema error would.
 */
const webhookUrlRules =
  "Where outbound events are delivered (API §14). https only, to a public host: IP literals in private, loopback, " +
  "link-local, unique-local and reserved ranges, local names (`localhost`, `*.local`, `*.internal`, single labels) and " +
  "credentials in the URL are refused. When SANDBOX=true (local development), plain http is accepted to localhost " +
  "(`localhost`, `*.localhost`, `127.0.0.1`, `[::1]`) and only there. Redirects are never followed.";

const webhookUrlField = z
  .string()
  .max(limits.webhook_url_length_max, `must be at most ${limits.webhook_url_length_max} characters`)
  .openapi({ description: webhookUrlRules, example: "https://tiendasur.example/webhooks/virtual-accounts" });

export const createMerchantRequest = z
  .object({
    name: nameSchema.openapi({ description: "Display name, trimmed.", example: "Tienda Sur" }),
    webhook_url: webhookUrlField.optional(),
    webhook_events: webhookEventsField.optional().openapi({ description: `${webhookEventsRules} Defaults to \`["*"]\`.` }),
  })
  .strict()
  .openapi("CreateMerchantRequest");

export const updateCurrentMerchantRequest = z
  .object({
    webhook_url: webhookUrlField
      .nullable()
      .optional()
      .openapi({
        description: `${webhookUrlRules} null removes the endpoint: later events are not delivered. Required unless \`webhook_events\` is given.`,
      }),
    webhook_events: webhookEventsField.optional(),
  })
  .strict()
  // Reported at webhook_url, the field this body was about before webhook_events existed.
  .refine((body) => body.webhook_url !== undefined || body.webhook_events !== undefined, {
    path: ["webhook_url"],
    message: "required unless webhook_events is given",
  })
  .openapi("UpdateCurrentMerchantRequest");

const payoutCbuMessage = "must be a CBU: 22 digits (dashes allowed) with both check digits valid";

/** A merchant's payout CBU as the operator gives it (src/domain/cbu.ts), stored as its 22 digits. */
const payoutCbuInput = z
  .string({ error: payoutCbuMessage })
  .max(40, payoutCbuMessage)
  .transform((value, context) => {
    const normalized = normalizeCbu(value);
    if (normalized === null) {
      context.addIssue({ code: "custom", message: payoutCbuMessage });
      return z.NEVER;
    }
    return normalized;
  });

export const updateMerchantRequest = z
  .object({
    name: nameSchema.optional().openapi({ description: "Display name, trimmed.", example: "Tienda Sur" }),
    webhook_url: webhookUrlField
      .nullable()
      .optional()
      .openapi({ description: `${webhookUrlRules} null removes the endpoint: later events are not delivered.` }),
    webhook_events: webhookEventsField.optional(),
    payout_cbu: payoutCbuInput
      .nullable()
      .optional()
      .openapi({ description: "Where the merchant's own payouts go (POST /v1/merchant/payouts, API §12): a CBU/CVU with valid check digits, stored as 22 digits; null clears it." }),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, "must set at least one field (name, webhook_url, webhook_events, payout_cbu)")
  .openapi("UpdateMerchantRequest");

const merchantFields = {
  id: merchantIdSchema,
  name: z.string().openapi({ example: "Tienda Sur" }),
  reference: z.string().openapi({
    description: "The merchant's deposit reference (display form). A payer who writes it in a transfer's concepto credits this merchant.",
    example: "MR-7K4M-9QX3",
  }),
  webhook_url: z.string().nullable().openapi({ example: "https://tiendasur.example/webhooks/virtual-accounts" }),
  webhook_events: z.array(z.string()).openapi({ description: webhookEventsRules, example: ["*"] }),
  balance_account_id: z.string().openapi({
    description:
      "The merchant's balance account (API §12, kind `merchant`) in the platform's primary currency: the first of the CURRENCIES variable (ARS by default). " +
      "Its accounts in other enabled currencies are listed by GET /v1/balance-accounts.",
    example: "ba_m0mhx2k3p1a8bcdefghjkmnpq_ars",
  }),
  reserve_account_id: z.string().openapi({
    description: "The merchant's reserve account (API §12, kind `reserve`) in the platform's primary currency (the first of CURRENCIES).",
    example: "ba_r0mhx2k3p1a8bcdefghjkmnpq_ars",
  }),
  payout_cbu: z.string().nullable().openapi({ description: "Where the merchant's own payouts go (API §12); set by the operator.", example: "0110599520000001234569" }),
  created_at: timestampSchema,
};

export const merchantSchema = z.object(merchantFields).openapi("Merchant", { description: "A merchant, without its secrets." });

export const createdMerchantSchema = z
  .object({
    id: merchantFields.id,
    name: merchantFields.name,
    reference: merchantFields.reference,
    api_key: z.string().nullable().openapi({
      description: "The merchant's first API key. Shown only in this response: only its hash is stored (null on an idempotent replay).",
      example: "vak_k3m9x2pq_7d4hw...",
    }),
    webhook_secret: z.string().nullable().openapi({
      description: "Signs outbound webhooks (header Signature). Shown only in this response (null on an idempotent replay).",
      example: "whsec_9fq2...",
    }),
    webhook_url: merchantFields.webhook_url,
    webhook_events: merchantFields.webhook_events,
    balance_account_id: merchantFields.balance_account_id,
    reserve_account_id: merchantFields.reserve_account_id,
    created_at: merchantFields.created_at,
  })
  .openapi("CreatedMerchant");

export const rotatedWebhookSecretSchema = z
  .object({
    merchant_id: merchantIdSchema,
    webhook_secret: z.string().nullable().openapi({
      description:
        "The new secret: every delivery attempt from now on is signed with it, and only with it. Shown only in this " +
        "response (null on an idempotent replay: it is stored only sealed, and the replay does not rotate again).",
      example: "whsec_9fq2...",
    }),
    rotated_at: timestampSchema,
  })
  .openapi("RotatedWebhookSecret");

export const keyPrefixSchema = z.string().min(1).max(64).openapi({
  description: "The first 12 characters of a key (`vak_` + 8), which identify it without revealing it.",
  example: "vak_k3m9x2pq",
});

export const apiKeyParams = z.object({
  id: merchantIdSchema.openapi({ param: { name: "id", in: "path" } }),
  key_prefix: keyPrefixSchema.openapi({ param: { name: "key_prefix", in: "path" } }),
});

export const createdApiKeySchema = z
  .object({
    api_key: z.string().nullable().openapi({ description: "The new key. Shown only in this response (null on an idempotent replay).", example: "vak_p2x8m4kq_3nf7..." }),
    key_prefix: keyPrefixSchema,
  })
  .openapi("CreatedApiKey");

export const revokedApiKeySchema = z
  .object({
    key_prefix: keyPrefixSchema,
    revoked: z.literal(true),
    revoked_at: timestampSchema.openapi({ description: "When the key was first revoked (a repeat does not move it)." }),
  })
  .openapi("RevokedApiKey");

export const balanceQuery = z.object({
  currency: currencySchema.optional().openapi({ param: { name: "currency", in: "query" }, description: "Defaults to ARS." }),
});

const balanceFields = {
  currency: currencySchema,
  available: z.number().int().openapi({ description: "Minor units that can be paid out now.", example: 150000 }),
  reserved: z.number().int().openapi({ description: "Minor units held by payouts not yet settled.", example: 0 }),
  updated_at: timestampSchema.nullable().openapi({ description: "When the balance last changed; null if nothing was ever recorded in this currency." }),
};

export const merchantBalanceSchema = z
  .object({ merchant_id: merchantIdSchema, ...balanceFields })
  .openapi("MerchantBalance");

export { balanceFields };

/** A balance as both balance routes render it (the owner's id is added by each). */
export function balanceView(balance: Balance) {
  return {
    currency: balance.currency,
    available: balance.available,
    reserved: balance.reserved,
    updated_at: balance.updated_at === null ? null : rfc3339(balance.updated_at),
  };
}
