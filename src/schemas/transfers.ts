/** Internal transfers, top-ups and balance accounts (API §12) as the API shows them. */
import { z } from "@hono/zod-openapi";
import { limits } from "../limits";
import { amountSchema, currencySchema, idSchema, paginationQuery, timestampSchema } from "./common";

export const balanceAccountIdSchema = idSchema("ba", "ba_m0mhx2k3p1a8bcdefghjkmnpq_ars");
export const transferIdSchema = idSchema("tr", "tr_2b7e151628aed2a6abf7158809cf4f3c");

export const balanceAccountIdParams = z.object({ id: balanceAccountIdSchema.openapi({ param: { name: "id", in: "path" } }) });
export const transferIdParams = z.object({ id: transferIdSchema.openapi({ param: { name: "id", in: "path" } }) });

const balanceAccountKind = z.enum(["merchant", "reserve", "platform"]).openapi({
  description:
    "merchant: the merchant's balance (its `available` and `reserved` are GET /v1/merchant/balance); reserve: money withheld from the merchant's payouts " +
    "as a risk buffer, released by the cron only; platform: the platform's own balance, where commission lands (owner_id `platform`).",
});

export const balanceAccountSchema = z
  .object({
    id: balanceAccountIdSchema,
    object: z.literal("balance_account"),
    owner_id: z.string().openapi({ description: "The merchant's id, or `platform`.", example: "mer_0mhx2k3p1a8bcdefghjkmnpq" }),
    kind: balanceAccountKind,
    currency: currencySchema,
    available: z.number().int().openapi({ description: "Minor units that may be moved or paid out now.", example: 150000 }),
    reserved: z.number().int().openapi({ description: "Minor units held by payouts not yet settled (already out of available).", example: 0 }),
    updated_at: timestampSchema.openapi({
      description:
        "When the balance last changed. Never decreases for an account, but two changes may share it: a consumer of `balance_account.balance.updated` " +
        "events cannot order two with the same `updated_at` (nor trust delivery order); GET the account for its latest state.",
    }),
  })
  .openapi("BalanceAccount", { description: "A balance account (API §12): real money owed to a merchant or kept by the platform." });

export const balanceAccountListQuery = paginationQuery.extend({
  owner_id: z.string().max(80).optional().openapi({
    description: "Only accounts of this owner (a merchant id, or `platform`). A merchant key lists only its own accounts whatever this says: another owner gives an empty page.",
  }),
  kind: balanceAccountKind.optional().openapi({ description: "Only accounts of this kind." }),
});

const transferFields = {
  from_balance_account: balanceAccountIdSchema.openapi({ description: "The balance account the money leaves." }),
  to_balance_account: balanceAccountIdSchema.openapi({ description: "The balance account the money reaches." }),
  amount: amountSchema,
  currency: currencySchema.default("ARS").openapi({ description: "Must be both accounts' currency. ARS unless given." }),
  description: z.string().trim().max(limits.description_length_max).nullable().optional(),
};

export const createTransferRequest = z.object(transferFields).strict().openapi("CreateTransferRequest");

export const createTopUpRequest = z
  .object({
    amount: amountSchema,
    currency: currencySchema.default("ARS").openapi({ description: "The currency of the merchant's balance account to credit. ARS unless given." }),
    source: balanceAccountIdSchema.optional().openapi({
      description: "The balance account the money comes from: by default the platform's balance account in that currency. Never a reserve.",
    }),
    description: z.string().trim().max(limits.description_length_max).nullable().optional(),
  })
  .strict()
  .openapi("CreateTopUpRequest");

export const transferSchema = z
  .object({
    id: transferIdSchema,
    object: z.literal("transfer"),
    status: z.literal("completed").openapi({ description: "A transfer is final when created: both balances moved in the same atomic write." }),
    kind: z.string().openapi({
      description: "Why it moved: `transfer` (POST /v1/transfers), `top_up`, `sweep`, `reserve_release`.",
      example: "transfer",
    }),
    from_balance_account: balanceAccountIdSchema,
    to_balance_account: balanceAccountIdSchema,
    amount: z.number().int(),
    currency: currencySchema,
    description: z.string().nullable(),
    metadata: z.record(z.string(), z.string()).openapi({ description: "What the platform attached (a sweep's id, …); empty for API transfers.", example: {} }),
    created_at: timestampSchema,
  })
  .openapi("Transfer", { description: "An internal transfer between two balance accounts: no bank payout." });

export const transferListQuery = paginationQuery.extend({
  balance_account: balanceAccountIdSchema.optional().openapi({ description: "Only transfers from or to this balance account." }),
  kind: z.string().max(40).optional().openapi({ description: "Only transfers of this kind (`transfer`, `top_up`, `sweep`, `reserve_release`)." }),
});
