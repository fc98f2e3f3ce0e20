/** Reconciliation runs and their discrepancies, as stored and as the API shows them. */
import { newId } from "../crypto";
import { and, asc, eq } from "drizzle-orm";
import { database } from "../db/client";
import { reconciliationDiscrepancies, reconciliationRuns } from "../db/schema";
import type { Env } from "../env";
import { reconciliationLimits } from "../limits";
import { rfc3339 } from "../schemas/common";

export type DiscrepancyKind = DiscrepancyRow["kind"];

export type RunRow = typeof reconciliationRuns.$inferSelect;

export type DiscrepancyRow = typeof reconciliationDiscrepancies.$inferSelect;

/**
 * Starts a run for a business day. The cron starts at most one per day (a unique index makes
 * a repeated tick a no-op and returns the existing run); the operator may start any number.
 */
export async function startRun(env: Env, date: string, trigger: RunRow["trigger"], now = Date.now()): Promise<RunRow> {
  const id = newId("rec");
  const db = database(env.DB);
  await db
    .insert(reconciliationRuns)
    .values({ id, date, trigger, status: "running", phase: "statement", created_at: now, updated_at: now })
    .onConflictDoNothing()
    .run();
  const run =
    (await findRun(env.DB, id)) ??
    (await db.query.reconciliationRuns.findFirst({ where: and(eq(reconciliationRuns.date, date), eq(reconciliationRuns.trigger, "cron")) }));
  if (!run) throw new Error(`reconciliation run for ${date} vanished right after its insert`);
  return run;
}

export async function findRun(d1: D1Database, id: string): Promise<RunRow | null> {
  return (await database(d1).query.reconciliationRuns.findFirst({ where: eq(reconciliationRuns.id, id) })) ?? null;
}

export function discrepancyView(row: DiscrepancyRow) {
  return {
    id: row.id,
    kind: row.kind,
    direction: row.direction,
    bank_transaction_id: row.bank_transaction_id,
    ledger_amount: row.ledger_amount,
    bank_amount: row.bank_amount,
    record_id: row.record_id,
    resolution: row.resolution,
    detail: row.detail,
    note: row.note,
    resolved_at: row.resolved_at === null ? null : rfc3339(row.resolved_at),
    created_at: rfc3339(row.created_at),
  };
}

export function runSummary(run: RunRow) {
  return {
    id: run.id,
    date: run.date,
    status: run.status,
    trigger: run.trigger,
    totals: {
      statement_lines: run.statement_lines,
      matched: run.matched,
      missing_in_ledger: run.missing_in_ledger,
      missing_at_bank: run.missing_at_bank,
      amount_mismatch: run.amount_mismatch,
    },
    steps: run.steps,
    error: run.error,
    created_at: rfc3339(run.created_at),
    completed_at: run.completed_at === null ? null : rfc3339(run.completed_at),
  };
}

export async function runReport(d1: D1Database, run: RunRow) {
  const results = await database(d1)
    .select()
    .from(reconciliationDiscrepancies)
    .where(eq(reconciliationDiscrepancies.run_id, run.id))
    .orderBy(asc(reconciliationDiscrepancies.created_at), asc(reconciliationDiscrepancies.id))
    .limit(reconciliationLimits.discrepancies_embedded_max + 1);
  const truncated = results.length > reconciliationLimits.discrepancies_embedded_max;
  return {
    ...runSummary(run),
    discrepancies: results.slice(0, reconciliationLimits.discrepancies_embedded_max).map(discrepancyView),
    discrepancies_truncated: truncated,
  };
}
