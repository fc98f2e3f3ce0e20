/** A merchant's own ledger, internal accounts and incoming payment details (API §11) as the API shows them. */
import { z } from "@hono/zod-openapi";
import { limits } from "../limits";
import { currencySchema, idSchema, paginationQuery, timestampSchema } from "./common";
import { nameSchema } from "./merchants";

const exampleAccountId = "la_ml_3f9a2c71d04b4e8b9c1d2e3f4a5b6c7d";
const exampleInternalAccountId = "ia_0mhx2k3p1a8bcdefghjkmnpq_ars";
const exampleDetailId = "ipd_pay_0mhx2k3p1a8bcdefghjkmnpq";

export const merchantLedgerAccountIdSchema = idSchema("la_ml", exampleAccountId).openapi({
  description: "An account of the caller's own ledger: `la_ml_…` (the platform's ledger accounts never begin so).",
});

export const createMerchantLedgerAccountRequest = z
  .object({
    name: nameSchema.openapi({ description: "What the account is for, trimmed.", example: "Customer wallets" }),
    normal_balance: z.enum(["credit", "debit"]).openapi({
      description: "`credit` for what the merchant owes (a wallet, revenue), `debit` for what it holds (cash): it signs `balances`.",
      example: "credit",
    }),
    currency: currencySchema.openapi({ description: "ISO 4217, an enabled currency (else `400 unsupported_currency`). Only accounts of the same currency can be linked.", example: "ARS" }),
    description: z.string().trim().max(limits.description_length_max).nullable().optional().openapi({ example: "One per customer's virtual account" }),
  })
  .strict()
  .openapi("CreateLedgerAccountRequest");

export const internalAccountIdParams = z.object({
  id: idSchema("ia", exampleInternalAccountId).openapi({ param: { name: "id", in: "path" } }),
});

export const linkLedgerAccountRequest = z
  .object({
    ledger_account_id: merchantLedgerAccountIdSchema.nullable().openapi({
      description: "An account of the caller's own ledger in the same currency (else `400 invalid_request` naming `ledger_account_id`), or null to unlink.",
      example: exampleAccountId,
    }),
  })
  .strict()
  .openapi("LinkLedgerAccountRequest");

export const internalAccountSchema = z
  .object({
    id: z.string().openapi({ example: exampleInternalAccountId }),
    account_number: z.string().openapi({ description: "The platform's settlement CBU: where every virtual account's money lands.", example: "2850590940090418135201" }),
    currency: z.string().openapi({ example: "ARS" }),
    ledger_account_id: z.string().nullable().openapi({ description: "The account of the caller's ledger it is linked to, or null.", example: exampleAccountId }),
    created_at: timestampSchema,
    updated_at: timestampSchema,
  })
  .openapi("InternalAccount", {
    description:
      "The settlement account as one merchant sees it, one per enabled currency, opened when first listed (or by the first payment at one of the merchant's virtual accounts in that currency).",
  });

export const internalAccountListSchema = z
  .object({ data: z.array(internalAccountSchema), has_more: z.literal(false), next_cursor: z.null() })
  .openapi("InternalAccountList", { description: "Every internal account of the caller, one per enabled currency, in one page." });

export const incomingPaymentDetailIdParams = z.object({
  id: idSchema("ipd", exampleDetailId).openapi({ param: { name: "id", in: "path" } }),
});

export const incomingPaymentDetailListQuery = paginationQuery.extend({
  virtual_account_id: idSchema("va", "va_0mhx2k3p1a8bcdefghjkmnpq").optional().openapi({
    description: "Only details of this virtual account. Another merchant's (or an unknown) id gives an empty page.",
  }),
});

export const incomingPaymentDetailSchema = z
  .object({
    id: z.string().openapi({ example: exampleDetailId }),
    direction: z.enum(["credit", "debit"]).openapi({ description: "`credit`: money arrived at the virtual account; `debit`: the bank reversed it." }),
    amount: z.number().int().openapi({ example: 150000 }),
    currency: z.string().openapi({ example: "ARS" }),
    virtual_account_id: z.string().openapi({ example: "va_0mhx2k3p1a8bcdefghjkmnpq" }),
    internal_account_id: z.string().openapi({ example: exampleInternalAccountId }),
    payment_id: z.string().openapi({ example: "pay_0mhx2k3p1a8bcdefghjkmnpq" }),
    ledger_transaction_id: z.string().nullable().openapi({
      description:
        "The transaction auto-ledgering posted in the caller's ledger (`lt_ml_…`, readable at GET /v1/ledger/transactions/{id}); null when the virtual account or the internal account was not linked when the detail was written.",
      example: "lt_ml_pay_0mhx2k3p1a8bcdefghjkmnpq",
    }),
    created_at: timestampSchema,
  })
  .openapi("IncomingPaymentDetail", {
    description:
      "Money that arrived at one of the caller's virtual accounts (`credit`), or its reversal by the bank (`debit`). Written in the same atomic write as the payment (or its reversal), " +
      "exactly once whatever the redeliveries: every payment that arrives at a virtual account has one, credited, held (quarantined) or later returned to its sender alike. " +
      "A return to the sender is not a `debit` detail: it is a payout of the platform's suspense, shown on the payment (`status: returned`).",
  });
