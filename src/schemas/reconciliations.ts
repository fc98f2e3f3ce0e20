import { z } from "@hono/zod-openapi";
import { paginationQuery, timestampSchema } from "./common";

const isRealDate = (value: string) => !Number.isNaN(Date.parse(`${value}T12:00:00Z`)) && new Date(`${value}T12:00:00Z`).toISOString().startsWith(value);

export const businessDateSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, { message: "must be a date, YYYY-MM-DD", abort: true })
  .refine(isRealDate, "must be a real calendar date")
  .openapi({ description: "A business day in America/Argentina/Buenos_Aires.", example: "2026-11-20" });

export const startReconciliationRequest = z.object({ date: businessDateSchema }).strict().openapi("StartReconciliationRequest");

export const runIdParams = z.object({ id: z.string().min(5).max(80).openapi({ param: { name: "id", in: "path" }, example: "rec_0mhx2k3p1a8bcdefghjkmnpq" }) });

export const discrepancyParams = runIdParams.extend({
  discrepancy_id: z.string().min(5).max(80).openapi({ param: { name: "discrepancy_id", in: "path" } }),
});

export const discrepancySchema = z
  .object({
    id: z.string(),
    kind: z.enum(["missing_in_ledger", "missing_at_bank", "amount_mismatch"]),
    direction: z.enum(["credit", "debit"]).openapi({ description: "credit: money in (a transfer); debit: money out (a payout)." }),
    bank_transaction_id: z.string(),
    ledger_amount: z.number().int().nullable(),
    bank_amount: z.number().int().nullable(),
    record_id: z.string().nullable().openapi({ description: "The payment or payout involved." }),
    resolution: z.enum(["recovered", "open", "resolved"]).openapi({
      description: "recovered: replayed as its lost webhook; open: for an operator; resolved: closed by an operator with a note.",
    }),
    detail: z.string().nullable(),
    note: z.string().nullable(),
    resolved_at: timestampSchema.nullable(),
    created_at: timestampSchema,
  })
  .openapi("Discrepancy");

const totals = z.object({
  statement_lines: z.number().int(),
  matched: z.number().int(),
  missing_in_ledger: z.number().int(),
  missing_at_bank: z.number().int(),
  amount_mismatch: z.number().int(),
});

export const runSummarySchema = z
  .object({
    id: z.string(),
    date: z.string(),
    status: z.enum(["running", "completed", "failed"]),
    trigger: z.enum(["cron", "operator"]),
    totals,
    steps: z.number().int().openapi({ description: "Invocations the run has taken so far (one statement page or ledger page each)." }),
    error: z.string().nullable(),
    created_at: timestampSchema,
    completed_at: timestampSchema.nullable(),
  })
  .openapi("ReconciliationSummary");

export const runReportSchema = runSummarySchema
  .extend({
    discrepancies: z.array(discrepancySchema),
    discrepancies_truncated: z.boolean().openapi({ description: "More than 1,000: page through /discrepancies." }),
  })
  .openapi("Reconciliation");

export const startedSchema = z
  .object({ id: z.string(), date: z.string(), status: z.literal("running") })
  .openapi("ReconciliationStarted");

export const resolveRequest = z.object({ note: z.string().trim().min(1).max(1000) }).strict().openapi("ResolveDiscrepancyRequest");

export const runListQuery = paginationQuery.extend({ date: businessDateSchema.optional() });
