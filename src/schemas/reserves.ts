/** Reserve policies and merchant payouts (API §12): what the routes accept and show. */
import { z } from "@hono/zod-openapi";
import { limits } from "../limits";
import { amountSchema, currencySchema, idSchema, timestampSchema } from "./common";
import { merchantIdSchema } from "./merchants";

/** A percentage with at most two decimals (stored as basis points), 0 < p ≤ 100. */
const percentageSchema = z
  .number({ error: "must be a number" })
  .gt(0, "must be greater than 0")
  .lte(100, "must be at most 100")
  .refine((value) => Number.isInteger(Math.round(value * 100)) && Math.abs(value * 100 - Math.round(value * 100)) < 1e-6, "at most two decimals")
  .openapi({ description: "The share of every merchant payout withheld, 0 < percentage ≤ 100, at most two decimals (stored as basis points).", example: 10 });

export const reservePolicyRequest = z
  .object({
    type: z.enum(["percentage", "fixed"]).openapi({ description: "percentage: a share of every payout, released after holding_days; fixed: payouts are withheld until the reserve holds `amount`." }),
    percentage: percentageSchema.optional(),
    amount: amountSchema.optional().openapi({ description: "fixed only: the reserve's target, in minor units of `currency`." }),
    holding_days: z
      .number({ error: "must be an integer number of days" })
      .int("must be an integer number of days")
      .min(0, "must be at least 0")
      .max(limits.holding_days_max, `must be at most ${limits.holding_days_max}`)
      .openapi({
        description:
          "percentage: each withholding is released back to the balance account this many days after its payout was created (0: at the next cron tick). " +
          "fixed: recorded, no effect: a fixed reserve is a standing buffer the cron never releases (the operator moves it with an internal transfer).",
        example: 90,
      }),
    currency: currencySchema.optional().openapi({ description: "The currency of the payouts it applies to (and of a fixed target). Defaults to ARS." }),
  })
  .strict()
  .superRefine((body, context) => {
    if (body.type === "percentage") {
      if (body.percentage === undefined) context.addIssue({ code: "custom", path: ["percentage"], message: "required for type percentage" });
      if (body.amount !== undefined) context.addIssue({ code: "custom", path: ["amount"], message: "only for type fixed" });
    } else {
      if (body.amount === undefined) context.addIssue({ code: "custom", path: ["amount"], message: "required for type fixed" });
      if (body.percentage !== undefined) context.addIssue({ code: "custom", path: ["percentage"], message: "only for type percentage" });
    }
  })
  .openapi("ReservePolicyRequest");

export const reservePolicySchema = z
  .object({
    id: idSchema("rp", "rp_0mhx2k3p1a8bcdefghjkmnpq").openapi({ description: "This version of the policy: a POST replaces it with a new id." }),
    object: z.literal("reserve_policy"),
    merchant_id: merchantIdSchema,
    type: z.enum(["percentage", "fixed"]),
    percentage: z.number().nullable(),
    amount: z.number().int().nullable(),
    currency: currencySchema,
    holding_days: z.number().int(),
    threshold_reached_at: timestampSchema.nullable().openapi({ description: "fixed: when this version's target was first reached (reserve_account.threshold_reached): by a withholding, or by the POST itself when the reserve already held `amount`. Null: not reached (and always for percentage)." }),
    created_at: timestampSchema,
  })
  .openapi("ReservePolicy");

/** `reserve_account.threshold_reached`'s object: the reserve balance account when the target was reached. */
export const createMerchantPayoutRequest = z
  .object({
    amount: amountSchema.openapi({ description: "What leaves the balance account: the bank is sent amount − withheld_amount." }),
    currency: currencySchema.default("ARS"),
  })
  .strict()
  .openapi("CreateMerchantPayoutRequest");
