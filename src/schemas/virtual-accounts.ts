import { z } from "@hono/zod-openapi";
import { limits } from "../limits";
import { amountSchema, currencySchema, idSchema, paginationQuery, timestampSchema } from "./common";
import { customerIdSchema } from "./customers";

export const virtualAccountIdSchema = idSchema("va", "va_5c0a1b2c3d4e5f60718293a4b5c6d7e8");

export const virtualAccountIdParams = z.object({ id: virtualAccountIdSchema.openapi({ param: { name: "id", in: "path" } }) });

const ledgerAccountLink = z
  .string()
  .min(1)
  .max(80)
  .nullable()
  .openapi({ description: "An account of the caller's own ledger (`POST /v1/ledger/accounts`), of the account's currency; `null` unlinks.", example: "la_ml_3f2a9c1d7e6b5a4f" });

export const createVirtualAccountRequest = z
  .object({
    customer_id: customerIdSchema,
    kind: z.enum(["per_customer", "per_transaction"]).openapi({
      description: "`per_customer`: one per customer and merchant, receives any number of transfers. `per_transaction`: one expected payment.",
    }),
    expected_amount: amountSchema.optional().openapi({ description: "per_transaction only: the amount expected (any amount when absent)." }),
    expires_at: z.iso
      .datetime({ offset: true, error: "must be an RFC 3339 date-time" })
      .optional()
      .openapi({ description: "per_transaction only: in the future, at most 90 days ahead.", example: "2026-12-01T03:00:00.000Z" }),
    amount_policy: z.enum(["accept", "reject", "hold"]).optional().openapi({
      description:
        "per_transaction only (default `hold`): what a transfer that is not the expected payment gets (wrong amount, already paid, expired or closed): " +
        "`accept` credits it, `reject` returns it to the sender, `hold` quarantines it with its `quarantine_reason`.",
    }),
    currency: currencySchema.optional().openapi({ description: "An addition to the contract, as for payouts: ARS unless given; must be enabled (400 unsupported_currency)." }),
    ledger_account_id: ledgerAccountLink.optional(),
    description: z.string().trim().max(limits.description_length_max).nullable().optional(),
  })
  .strict()
  .superRefine((body, context) => {
    if (body.kind !== "per_customer") return;
    for (const field of ["expected_amount", "expires_at", "amount_policy"] as const) {
      if (body[field] !== undefined) context.addIssue({ code: "custom", path: [field], message: "only for kind per_transaction" });
    }
  })
  .openapi("CreateVirtualAccountRequest");

export const updateVirtualAccountRequest = z
  .object({ ledger_account_id: ledgerAccountLink })
  .strict()
  .openapi("UpdateVirtualAccountRequest");

const statuses = ["active", "paid", "expired", "closed"] as const;

export const virtualAccountSchema = z
  .object({
    id: virtualAccountIdSchema,
    object: z.literal("virtual_account"),
    account_number: z.string().openapi({ description: "The 22-digit CVU, registered with the bank: where the payer transfers.", example: "0000042600000000000017" }),
    kind: z.enum(["per_customer", "per_transaction"]),
    status: z.enum(statuses).openapi({
      description:
        "`active`; `paid`: a per_transaction account that received its expected payment; `expired`: a per_transaction account past `expires_at` " +
        "without it (exact at read time); `closed`. Money sent to an account in any state is never dropped (API §11).",
    }),
    customer_id: z.string(),
    merchant_id: z.string(),
    currency: currencySchema.openapi({ description: "An addition to the contract: the account's currency. per_customer is one per customer and merchant whatever the currency." }),
    expected_amount: z.number().int().nullable(),
    expires_at: timestampSchema.nullable(),
    amount_policy: z.enum(["accept", "reject", "hold"]).nullable(),
    ledger_account_id: z.string().nullable(),
    description: z.string().nullable(),
    created_at: timestampSchema,
    paid_at: timestampSchema.nullable(),
    closed_at: timestampSchema.nullable(),
  })
  .openapi("VirtualAccount");

export const virtualAccountListQuery = paginationQuery.extend({
  customer_id: customerIdSchema.optional(),
  kind: z.enum(["per_customer", "per_transaction"]).optional(),
  status: z.enum(statuses).optional(),
});
