import { ledgerAccountKinds } from "../ledger/accounts";
import { z } from "@hono/zod-openapi";
import { idSchema, paginationQuery, timestampSchema } from "./common";

export const ledgerAccountIdParams = z.object({
  id: idSchema("la", "la_settlement_ars").openapi({
    param: { name: "id", in: "path" },
    description: "An account of the platform's ledger, or (`la_ml_…`) of a merchant's own ledger (API §11).",
  }),
});
export const ledgerTransactionIdParams = z.object({
  id: idSchema("lt", "lt_pay_6f1c0e7f2a7b4c1d9e8f7a6b5c4d3e2f").openapi({
    param: { name: "id", in: "path" },
    description: "A transaction of the platform's ledger, or (`lt_ml_…`) of a merchant's own ledger (API §11).",
  }),
});

export const ledgerAccountSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string().nullable().optional().openapi({ description: "Accounts of a merchant's own ledger (`la_ml_…`) only: as created." }),
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
  kind: z.enum(ledgerAccountKinds).optional(),
});

const coverageSchema = z
  .object({
    unit: z.string().openapi({ example: "customers" }),
    pass: z
      .object({
        started_at: timestampSchema,
        checked: z.number().int().openapi({ description: "Rows this pass has checked." }),
        total: z.number().int().openapi({ description: "Rows this pass checks in all: those checked and those after its position." }),
        total_is_lower_bound: z.boolean().openapi({ description: "The rows after its position were counted up to a bound: there are at least `total`." }),
        complete: z.boolean().openapi({ description: "This call completed the pass." }),
        failures: z.number().int().openapi({ description: "What this pass has found wrong for this check." }),
      })
      .openapi({ description: "The pass this call advanced: in progress, or completed by this call." }),
    last_complete_pass: z
      .object({ started_at: timestampSchema, ended_at: timestampSchema, checked: z.number().int(), failures: z.number().int() })
      .nullable()
      .openapi({ description: "The last pass that reached the end of its rows; null until one has." }),
  })
  .openapi("InvariantCoverage", { description: "How much of the books a swept check has covered (absent on checks made whole every call)." });

export const invariantsSchema = z
  .object({
    ok: z.boolean().openapi({ description: "Every check holds." }),
    checks: z.array(
      z.object({
        name: z.string(),
        ok: z.boolean(),
        detail: z.string().openapi({ description: "What holds, or a sample of what breaks it; for a sweep, how far it has got." }),
        coverage: coverageSchema.optional(),
      }),
    ),
  })
  .openapi("Invariants");
