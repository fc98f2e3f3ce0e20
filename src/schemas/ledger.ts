import { z } from "@hono/zod-openapi";
import { idSchema, paginationQuery, timestampSchema } from "./common";

export const ledgerAccountIdParams = z.object({
  id: idSchema("la", "la_settlement_ars").openapi({ param: { name: "id", in: "path" } }),
});
export const ledgerTransactionIdParams = z.object({
  id: idSchema("lt", "lt_pay_6f1c0e7f2a7b4c1d9e8f7a6b5c4d3e2f").openapi({ param: { name: "id", in: "path" } }),
});

export const ledgerAccountSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    normal_balance: z.enum(["credit", "debit"]),
    currency: z.string(),
    balances: z.object({ posted: z.number().int(), pending: z.number().int(), available: z.number().int() }),
    ledgerable_type: z.string().nullable(),
    ledgerable_id: z.string().nullable(),
    created_at: timestampSchema,
    updated_at: timestampSchema,
  })
  .openapi("LedgerAccount");

export const ledgerEntrySchema = z
  .object({
    id: z.string(),
    ledger_transaction_id: z.string(),
    ledger_account_id: z.string(),
    direction: z.enum(["debit", "credit"]),
    amount: z.number().int(),
    status: z.enum(["pending", "posted", "archived"]),
    created_at: timestampSchema,
  })
  .openapi("LedgerEntry");

export const ledgerTransactionSchema = z
  .object({
    id: z.string(),
    status: z.enum(["pending", "posted", "archived"]),
    description: z.string(),
    entries: z.array(z.object({ ledger_account_id: z.string(), direction: z.enum(["debit", "credit"]), amount: z.number().int() })),
    ledgerable_type: z.string().nullable(),
    ledgerable_id: z.string().nullable(),
    effective_at: timestampSchema,
    created_at: timestampSchema,
  })
  .openapi("LedgerTransaction");

export const ledgerAccountListQuery = paginationQuery.extend({
  kind: z.enum(["settlement", "suspense", "attribution", "customer", "merchant", "merchant_unassigned"]).optional(),
});

export const invariantsSchema = z
  .object({
    ok: z.boolean(),
    checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string() })),
  })
  .openapi("Invariants");
