import { z } from "@hono/zod-openapi";
import { currencySchema, idSchema, paginationQuery, timestampSchema } from "./common";

export const paymentIdSchema = idSchema("pay", "pay_6f1c0e7f2a7b4c1d9e8f7a6b5c4d3e2f");

export const paymentIdParams = z.object({ id: paymentIdSchema.openapi({ param: { name: "id", in: "path" } }) });

export const paymentSchema = z
  .object({
    id: paymentIdSchema,
    status: z.enum(["credited", "quarantined", "reversed", "returned"]).openapi({
      description: "`returned` (an addition to the contract): quarantined money the operator sent back to its sender.",
    }),
    amount: z.number().int().openapi({ example: 150000 }),
    currency: currencySchema,
    customer_id: z.string().nullable().openapi({ description: "Null when the sender had no usable CUIT (merchant default balance) or when quarantined." }),
    merchant_id: z.string().nullable(),
    bank_transaction_id: z.string(),
    sender: z.object({ cuit: z.string().nullable(), name: z.string().nullable(), cbu: z.string().nullable() }),
    concepto: z.string().nullable(),
    matched_by: z.enum(["virtual_account", "customer_reference", "merchant_reference", "manual"]).nullable(),
    created_at: timestampSchema,
  })
  .openapi("Payment");

export const paymentListQuery = paginationQuery.extend({
  status: z.enum(["credited", "quarantined", "reversed", "returned"]).optional(),
});

export type PaymentView = z.infer<typeof paymentSchema>;
