import { z } from "@hono/zod-openapi";
import { limits } from "../limits";
import { amountSchema, currencySchema, idSchema, paginationQuery, timestampSchema } from "./common";
import { cbuInput, customerIdSchema } from "./customers";

export const payoutIdSchema = idSchema("po", "po_2b7e151628aed2a6abf7158809cf4f3c");

export const payoutIdParams = z.object({ id: payoutIdSchema.openapi({ param: { name: "id", in: "path" } }) });

export const createPayoutRequest = z
  .object({
    customer_id: customerIdSchema,
    amount: amountSchema,
    currency: currencySchema.default("ARS"),
    destination_cbu: cbuInput.nullable().optional().openapi({
      description: "Defaults to the customer's CBU on file. Must be an account the customer holds (422 invalid_destination otherwise).",
    }),
    description: z.string().trim().max(limits.description_length_max).nullable().optional(),
  })
  .strict()
  .openapi("CreatePayoutRequest");

export const payoutSchema = z
  .object({
    id: payoutIdSchema,
    object: z.literal("payout"),
    status: z.enum(["pending", "processing", "completed", "failed", "canceled"]).openapi({
      description: "pending → processing (submitted to the bank) → completed | failed; canceled by the merchant while pending.",
    }),
    amount: z.number().int().openapi({ description: "What leaves the balance (the customer's and the merchant's; a merchant payout: the merchant's balance account)." }),
    withheld_amount: z.number().int().openapi({
      description: "A merchant payout (API §12): what its reserve policy withheld into the merchant's reserve, posted at creation. 0 for a customer's payout.",
    }),
    net_amount: z.number().int().openapi({
      description: "What the bank is sent: amount − withheld_amount. A merchant payout withheld whole (net 0) is completed at once and never reaches the bank.",
    }),
    currency: currencySchema,
    customer_id: z.string().nullable().openapi({ description: "The customer whose money is paid out; null for a merchant payout (POST /v1/merchant/payouts)." }),
    merchant_id: z.string(),
    destination_cbu: z.string(),
    description: z.string().nullable(),
    failure_reason: z.string().nullable(),
    bank_transaction_id: z.string().nullable(),
    created_at: timestampSchema,
    updated_at: timestampSchema,
  })
  .openapi("Payout");

export const payoutListQuery = paginationQuery.extend({
  status: z.enum(["pending", "processing", "completed", "failed", "canceled"]).optional(),
});

export const idempotencyHeader = z.object({
  "idempotency-key": z
    .string()
    .min(1)
    .max(limits.idempotency_key_length_max)
    .openapi({ param: { name: "idempotency-key", in: "header" }, description: "Required: 1-255 printable ASCII characters.", example: "payout-2026-11-21-0001" }),
});
