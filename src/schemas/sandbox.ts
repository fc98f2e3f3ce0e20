import { z } from "@hono/zod-openapi";
import { limits } from "../limits";
import { amountSchema, currencySchema, timestampSchema } from "./common";
import { cbuInput, cuitInput } from "./customers";
import { nameSchema } from "./merchants";

const loose = (max: number) => z.string().max(max).nullable().optional();

export const sandboxTransferRequest = z
  .object({
    amount: amountSchema,
    currency: currencySchema.optional(),
    sender: z
      .object({ cuit: loose(32), name: loose(limits.name_length_max), cbu: loose(32) })
      .strict()
      .openapi({ description: "As the bank reports it: not validated, so a sender without a usable CUIT can be simulated." }),
    destination: z.object({ account_number: loose(32) }).strict().optional(),
    concepto: z.string().max(limits.concepto_length_max).nullable().optional(),
    deliver: z.enum(["once", "twice", "none"]).default("once").openapi({ description: "`none` simulates a dropped webhook." }),
  })
  .strict()
  .openapi("SandboxTransferRequest");

export const statementLineSchema = z
  .object({
    bank_transaction_id: z.string(),
    direction: z.enum(["credit", "debit"]),
    amount: z.number().int(),
    currency: z.string(),
    booked_at: z.string(),
    business_date: z.string(),
    counterparty: z.object({ cuit: z.string().nullable(), name: z.string().nullable(), cbu: z.string().nullable() }),
    account_number: z.string().nullable(),
    concepto: z.string().nullable(),
    payout_id: z.string().nullable(),
    position: z.string().openapi({ description: "Pass as `cursor` to read the lines after this one." }),
  })
  .openapi("StatementLine");

export const deliverySchema = z.object({ status: z.number().int(), body: z.unknown() });

export const sandboxTransferResponse = z
  .object({ transfer: statementLineSchema, event_id: z.string(), deliveries: z.array(deliverySchema) })
  .openapi("SandboxTransfer");

export const settleRequest = z
  .object({ outcome: z.enum(["completed", "failed"]), permanent: z.boolean().default(true) })
  .strict()
  .openapi("SandboxSettleRequest");

export const settleResponse = z
  .object({ payout_id: z.string(), outcome: z.enum(["completed", "failed"]), event_id: z.string(), delivery: deliverySchema })
  .openapi("SandboxSettlement");

export const statementQuery = z.object({
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "must be YYYY-MM-DD").openapi({ example: "2026-11-21" }),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(40).optional(),
});

export const statementResponse = z
  .object({ date: z.string(), data: z.array(statementLineSchema), has_more: z.boolean(), next_cursor: z.string().nullable() })
  .openapi("Statement");

export const sandboxAccountRequest = z
  .object({
    cbu: cbuInput,
    holder_cuit: cuitInput,
    holder_name: nameSchema.openapi({ description: "The holder's name, trimmed.", example: "Juana Pérez" }),
  })
  .strict()
  .openapi("SandboxAccountRequest");

export const sandboxAccountSchema = z
  .object({
    cbu: z.string().openapi({ description: "22 bare digits.", example: "0110599520000001234569" }),
    holder_cuit: z.string().openapi({ description: "11 bare digits.", example: "20301234563" }),
    holder_name: z.string(),
    registered_at: timestampSchema,
  })
  .openapi("SandboxAccount", { description: "An account whose holder the sandbox bank's account-holder lookup reports." });

export const virtualAccountParams = z.object({
  account_number: cbuInput.openapi({ param: { name: "account_number", in: "path" }, description: "A CVU: 22 digits, dashes allowed." }),
});

export const virtualAccountStatusSchema = z
  .object({
    account_number: z.string().openapi({ description: "22 bare digits." }),
    registered: z.boolean().openapi({ description: "Whether the bank routes transfers to this number to our settlement account." }),
  })
  .openapi("SandboxVirtualAccount");

const faultCount = z
  .number({ error: `must be an integer from 0 to ${limits.sandbox_faults_max}` })
  .int(`must be an integer from 0 to ${limits.sandbox_faults_max}`)
  .min(0, `must be an integer from 0 to ${limits.sandbox_faults_max}`)
  .max(limits.sandbox_faults_max, `must be an integer from 0 to ${limits.sandbox_faults_max}`);

export const faultPlanRequest = z
  .object({
    register_virtual_account: faultCount.optional().openapi({ description: "How many of the next virtual account registrations fail." }),
    submit_payout: faultCount.optional().openapi({ description: "How many of the next payout submissions fail." }),
  })
  .strict()
  .refine((plan) => plan.register_virtual_account !== undefined || plan.submit_payout !== undefined, {
    message: "give register_virtual_account, submit_payout or both",
  })
  .openapi("SandboxFaultPlanRequest");

export const faultPlanSchema = z
  .object({ register_virtual_account: z.number().int(), submit_payout: z.number().int() })
  .openapi("SandboxFaultPlan", { description: "How many of the next calls of each kind will fail transiently at the sandbox bank." });

const count = (description: string) => z.number().int().min(0).openapi({ description });

export const metricsSchema = z
  .object({
    isolate_id: z.string().openapi({ description: "The isolate that answered: counters are per isolate and start at 0 with it, so compare two readings only when this is the same." }),
    counters: z.object({
      merchant_row_writes: count("Merchant balance row updates (one per merchant per group commit; on the per-cash-in path, one per entry on the merchant's account: two for a cash-in that paid a fee)."),
      group_commits: count("Group commits written, one D1 batch each."),
      group_commit_operations: count("Operations those group commits carried."),
      d1_write_transactions: count("D1 round trips that wrote anything: a batch (one transaction) or a single statement whose meta reports a change."),
      d1_round_trips: count("D1 calls of any kind: one per batch, run, all, first, raw or exec."),
      d1_statements: count("Statements D1 executed, each statement of a batch counted."),
      d1_busy_ms: z.number().min(0).openapi({ description: "Sum of D1's own meta.duration (ms) over every statement, reads included: the time the database was busy for this isolate." }),
      d1_rows_read: count("Rows D1 reports read."),
      d1_rows_written: count("Rows D1 reports written."),
      d1_failed_round_trips: count("Round trips that failed (an aborted batch): counted, but D1 reports no duration or writes for them."),
      d1_unmetered_statements: count("Statements whose meta D1 does not give back (raw(), drizzle's selects): counted here and in d1_statements, their time not in d1_busy_ms."),
    }),
    projection_lag: z
      .object({
        bounds_ms: z.array(z.number().int()),
        counts: z.array(z.number().int().min(0)),
      })
      .openapi({
        description:
          "Histogram of group-committed cash-ins' lag, from joining a group (the moment the 200 is sent) to the group's commit: " +
          "counts[i] are lags ≤ bounds_ms[i], the last count those above every bound.",
      }),
  })
  .openapi("SandboxMetrics", {
    description:
      "Counters of this isolate since it started, for the benchmark (bench/README.md). Not a monitoring API: another " +
      "isolate (another request, a Durable Object elsewhere in production) has its own.",
  });
