import { z } from "@hono/zod-openapi";
import { quarantineReasons } from "../cashins/virtual-account-routing";
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
    matched_by: z.enum(["virtual_account", "customer_reference", "merchant_reference", "manual"]).nullable().openapi({
      description:
        "How a credited payment was attributed (API §5's rules, or `manual`: the operator's assignment). Null while quarantined, " +
        "and for a payment returned to its sender.",
    }),
    virtual_account_id: z
      .string()
      .nullable()
      .openapi({
        description:
          "The virtual account (`va_…`) the transfer was sent to (routing rule 1), whatever became of the payment: credited, quarantined, " +
          "returned. Null when the destination was not one of our accounts (the settlement CBU, or a number of our range we never issued).",
        example: null,
      }),
    quarantine_reason: z
      .enum(quarantineReasons)
      .nullable()
      .openapi({
        description:
          "Why the payment was quarantined (kept once it is later assigned or returned, as its history); null if it never was. " +
          "Routing rule 1 (API §11): `unknown_virtual_account` (a number of our CVU range we never issued, or not yet active); " +
          "`virtual_account_closed` (a closed account: a per_customer one always; a per_transaction one under amount_policy hold or reject); " +
          "for a per_transaction account under amount_policy `hold` or `reject`, `amount_mismatch` (another amount or currency than expected), " +
          "`already_paid`, `expired` (expires_at at or before the moment of routing). " +
          "Under `reject` the payment is recorded quarantined with that reason and at once returned to the sender's CBU (a return payout " +
          "from suspense, the operator's `POST /v1/admin/quarantine/{id}/return`, started once per payment); it becomes `returned` when the " +
          "bank completes the return. A sender with no valid CBU cannot be returned to: the payment stays quarantined with the same reason " +
          "for the operator, and no return is started. " +
          "Rules 2–4 (API §5): `malformed_reference` (a reference with a wrong check character), `several_customers` / `several_merchants` " +
          "(references of more than one), `no_match` (nothing matched).",
        example: null,
      }),
    fee_amount: z
      .number()
      .int()
      .openapi({
        description:
          "Commission (API §12): what this cash-in moved from the merchant's balance account to the platform's, in the same ledger " +
          "transaction as the credit (the customer is credited the full `amount`). min(amount, floor(amount × cash_in_fee_bps / 10000) + " +
          "cash_in_fee_fixed), at the merchant's pricing when the cash-in was first credited (a pricing change applies to cash-ins received " +
          "from at most 5 s later), or, for a quarantined payment the operator assigned, at the assignment. Decided once: a redelivery " +
          "replays it. 0 while quarantined and when the merchant has no pricing. A bank reversal does not give it back.",
        example: 0,
      }),
    created_at: timestampSchema,
  })
  .openapi("Payment");

export const paymentListQuery = paginationQuery.extend({
  status: z.enum(["credited", "quarantined", "reversed", "returned"]).optional(),
});

export type PaymentView = z.infer<typeof paymentSchema>;
