import { z } from "@hono/zod-openapi";
import { limits } from "../limits";
import { merchantIdSchema } from "./merchants";
import { timestampSchema } from "./common";

const delay = `${limits.pricing_cache_ms / 1000} s`;

export const setPricingRequest = z
  .object({
    cash_in_fee_bps: z
      .number()
      .int("must be an integer")
      .min(0, "must be at least 0")
      .max(10_000, "must be at most 10000 (100%)")
      .openapi({ description: "The proportional fee in basis points (1/100 of a percent): 0..10000.", example: 150 }),
    cash_in_fee_fixed: z
      .number()
      .int("must be an integer")
      .min(0, "must be at least 0")
      .max(limits.cash_in_fee_fixed_max, `must be at most ${limits.cash_in_fee_fixed_max}`)
      .optional()
      .openapi({ description: "A fixed fee per cash-in, in minor units of the cash-in's currency (centavos). Default 0.", example: 0 }),
  })
  .strict()
  .openapi("SetPricingRequest");

export const pricingSchema = z
  .object({
    merchant_id: merchantIdSchema,
    cash_in_fee_bps: z.number().int().openapi({ example: 150 }),
    cash_in_fee_fixed: z.number().int().openapi({ example: 0 }),
    updated_at: timestampSchema.nullable().openapi({ description: "When the pricing was last set; null if it never was (no fee)." }),
  })
  .openapi("Pricing", {
    description:
      "A merchant's commission on cash-ins (API §12). Each credited cash-in moves fee = min(amount, floor(amount × " +
      "cash_in_fee_bps / 10000) + cash_in_fee_fixed) from the merchant's balance account to the platform's, in the same " +
      "ledger transaction as the credit; the customer is credited the full amount, and the payment shows `fee_amount`. " +
      `A change applies to cash-ins received from at most ${delay} later (each isolate caches pricing that long); a ` +
      "cash-in's fee is decided when it is first credited and never changes, a redelivery included. A quarantined " +
      "cash-in pays no fee until the operator assigns it (then at the pricing in effect). A bank reversal does not " +
      "give the fee back.",
  });
