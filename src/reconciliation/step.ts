/**
 * One step of a reconciliation run: the bank is the source of truth, our ledger its replica.
 *
 *   phase 'statement': read one page of the bank's statement for the day and match each line
 *     to the ledger by bank_transaction_id. A line we lack (missing_in_ledger) is recovered by
 *     replaying it as the webhook that was lost, through the same code; a different amount is
 *     flagged (amount_mismatch). Every record seen is marked with the run's id.
 *   phase 'payments', then 'payouts': what the ledger holds for the day that the statement
 *     did not show (no mark of this run) is flagged (missing_at_bank), never auto-fixed.
 * Each step's writes end with a compare-and-set on (phase, cursor): a step that runs twice
 * (a redelivered queue message) counts nothing twice, and every other write is idempotent.
 */
import { and, asc, count, eq, gt, inArray, isNull, lte, max, ne, or, sql } from "drizzle-orm";
import { assert } from "../assert";
import { bankAdapter, type StatementLine } from "../bank/adapter";
import { handleBankEvent } from "../bank/handle-event";
import { paymentIdOf } from "../cashins/receive-transfer";
import { newId } from "../crypto";
import { database, type Db } from "../db/client";
import { payments, payouts, reconciliationDiscrepancies } from "../db/schema";
import type { Config, Env } from "../env";
import { reconciliationLimits as bounds, accountLimits } from "../limits";
import { faultPoint } from "../faults";
import { countingD1 } from "./counting-d1";
import { findRun, type DiscrepancyKind, type RunRow } from "./runs";

interface Discrepancy {
  kind: DiscrepancyKind;
  direction: "credit" | "debit";
  bank_transaction_id: string;
  ledger_amount: number | null;
  bank_amount: number | null;
  record_id: string | null;
  resolution: "recovered" | "open";
  detail: string | null;
}

interface StepResult {
  phase: RunRow["phase"];
  cursor: string | null;
  statement_lines: number;
  matched: number;
  discrepancies: Discrepancy[];
  marks: { table: "payments" | "payouts"; bank_transaction_ids: string[] }[];
  /** Lines first taken for missing that were only in flight to D1: their provisional rows go. */
  in_flight: string[];
}

export type StepOutcome = { status: RunRow["status"]; phase: RunRow["phase"]; queries: number };

function chunks<T>(items: T[], size: number = accountLimits.d1_parameters_max): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
}

/**
 * The ledger's side of each direction: its records, the column that dates them to a business
 * day, and which of that day's records the bank must show (a payout only once completed).
 */
const ledgerSides = {
  payments: { table: payments, ofDay: payments.booked_date, onStatement: undefined, bankAmount: payments.amount },
  payouts: {
    table: payouts,
    ofDay: payouts.completed_date,
    onStatement: and(eq(payouts.status, "completed"), inArray(payouts.kind, ["payout", "return", "merchant_payout"])),
    // What the bank moved: a payout's net (a merchant payout's withholding stayed with us, API §12).
    bankAmount: sql<number>`${payouts.amount} - ${payouts.withheld_amount}`,
  },
};

async function recordsByBankId(db: Db, side: "payments" | "payouts", ids: string[]) {
  const { table, bankAmount } = ledgerSides[side];
  const found = new Map<string, { id: string; amount: number }>();
  for (const chunk of chunks(ids)) {
    const rows = await db
      .select({ id: table.id, bank_transaction_id: table.bank_transaction_id, amount: bankAmount })
      .from(table)
      .where(inArray(table.bank_transaction_id, chunk));
    for (const row of rows) if (row.bank_transaction_id !== null) found.set(row.bank_transaction_id, row);
  }
  return found;
}

/** Replays a statement line as the webhook the bank would have sent for it. */
function lostWebhookOf(line: StatementLine) {
  if (line.direction === "credit") {
    return {
      id: `recon_${line.bank_transaction_id}`,
      type: "transfer.received",
      created_at: line.booked_at,
      data: {
        bank_transaction_id: line.bank_transaction_id,
        amount: line.amount,
        currency: line.currency,
        sender: line.counterparty,
        destination: { account_number: line.account_number },
        concepto: line.concepto,
        booked_at: line.booked_at,
      },
    };
  }
  return {
    id: `recon_${line.bank_transaction_id}`,
    type: "payout.completed",
    created_at: line.booked_at,
    data: { payout_id: line.payout_id, bank_transaction_id: line.bank_transaction_id },
  };
}

/** The lines an earlier attempt of this step already found missing (it crashed before committing). */
async function alreadyMissing(db: Db, run: RunRow, ids: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (const chunk of chunks(ids)) {
    const rows = await db
      .select({ bank_transaction_id: reconciliationDiscrepancies.bank_transaction_id })
      .from(reconciliationDiscrepancies)
      .where(
        and(
          eq(reconciliationDiscrepancies.run_id, run.id),
          eq(reconciliationDiscrepancies.kind, "missing_in_ledger"),
          inArray(reconciliationDiscrepancies.bank_transaction_id, chunk),
        ),
      );
    for (const row of rows) found.add(row.bank_transaction_id);
  }
  return found;
}

async function matchStatementPage(env: Env, config: Config, run: RunRow, now: number): Promise<StepResult> {
  const page = await bankAdapter(env, config).statement(run.date, run.cursor, bounds.statement_page_lines);
  // env.DB is the step's counting binding: these reads count against its budget.
  const db = database(env.DB);
  const credits = await recordsByBankId(db, "payments", page.lines.filter((l) => l.direction === "credit").map((l) => l.bank_transaction_id));
  const debits = await recordsByBankId(db, "payouts", page.lines.filter((l) => l.direction === "debit").map((l) => l.bank_transaction_id));
  const missingBefore = await alreadyMissing(db, run, page.lines.map((line) => line.bank_transaction_id));
  const result: StepResult = { phase: "statement", cursor: run.cursor, statement_lines: 0, matched: 0, discrepancies: [], marks: [], in_flight: [] };
  const seen = { payments: [] as string[], payouts: [] as string[] };
  const missing: StatementLine[] = [];

  for (const line of page.lines) {
    const known = (line.direction === "credit" ? credits : debits).get(line.bank_transaction_id);
    const wasMissing = missingBefore.has(line.bank_transaction_id);
    // Out of recovery budget: stop before this line; the next step resumes at it.
    if ((!known || wasMissing) && missing.length >= bounds.recoveries_per_step) break;
    result.statement_lines++;
    result.cursor = line.position;
    seen[line.direction === "credit" ? "payments" : "payouts"].push(line.bank_transaction_id);
    if (!known || wasMissing) {
      missing.push(line);
    } else if (known.amount === line.amount) {
      result.matched++;
    } else {
      result.discrepancies.push({
        kind: "amount_mismatch",
        direction: line.direction,
        bank_transaction_id: line.bank_transaction_id,
        bank_amount: line.amount,
        ledger_amount: known.amount,
        record_id: known.id,
        resolution: "open",
        detail: null,
      });
    }
  }

  // Written before recovering, so that a crash in between still reports these lines as
  // missing when the step runs again (they will look matched by then).
  const found = missing.map((line) => ({
    kind: "missing_in_ledger" as const,
    direction: line.direction,
    bank_transaction_id: line.bank_transaction_id,
    bank_amount: line.amount,
    ledger_amount: null,
    record_id: null,
    resolution: "open" as const,
    detail: "recovery in progress",
  }));
  if (found.length > 0) await env.DB.batch(discrepancyInserts(env.DB, run, found, now));
  for (const line of missing) {
    const replay = await handleBankEvent(env, config, JSON.stringify(lostWebhookOf(line)));
    const recent = now - Date.parse(line.booked_at) <= bounds.in_flight_max_ms;
    if (line.direction === "credit" && replay.status === "processed" && replay.detail === "duplicate" && recent && !missingBefore.has(line.bank_transaction_id)) {
      // The customer's object had it already: a cash-in acknowledged a moment ago whose group
      // commit had not reached D1 when this page was read (the replay has written it now).
      // The webhook was not lost: matched, not a discrepancy. (An older one was stuck, not in
      // flight: it stays a recovered discrepancy.)
      result.matched++;
      result.in_flight.push(line.bank_transaction_id);
      continue;
    }
    result.discrepancies.push({
      kind: "missing_in_ledger",
      direction: line.direction,
      bank_transaction_id: line.bank_transaction_id,
      bank_amount: line.amount,
      ledger_amount: null,
      record_id: line.direction === "credit" ? await paymentIdOf(line.bank_transaction_id) : line.payout_id,
      resolution: replay.status === "processed" ? "recovered" : "open",
      detail: replay.status === "processed" ? `replayed as its lost webhook: ${replay.detail}` : replay.error,
    });
  }

  if (result.statement_lines === page.lines.length) {
    result.cursor = page.next_cursor ?? result.cursor;
    if (page.next_cursor === null) result.phase = "payments"; // the statement is read: now the other way
  }
  result.marks = [
    { table: "payments", bank_transaction_ids: seen.payments },
    { table: "payouts", bank_transaction_ids: seen.payouts },
  ];
  return result;
}

/**
 * Ledger → bank: the day's records this run never saw on the statement. A step looks at the
 * next window of the day's records (at most ledger_window_rows, found by the date index alone),
 * and returns those of them without this run's mark (at most ledger_page_rows): the rows it
 * reads are bounded however large the day, though almost every record is marked.
 */
async function unmatchedLedgerPage(env: Env, run: RunRow, table: "payments" | "payouts"): Promise<StepResult> {
  const { table: records, ofDay, onStatement, bankAmount } = ledgerSides[table];
  const db = database(env.DB); // the step's counting binding
  const after = run.cursor ?? "";
  const windowRows = db
    .select({ id: records.id })
    .from(records)
    .where(and(eq(ofDay, run.date), gt(records.id, after)))
    .orderBy(asc(records.id))
    .limit(bounds.ledger_window_rows)
    .as("day_window");
  const window = await db.select({ last_id: max(windowRows.id), size: count() }).from(windowRows).get();
  const windowEnd = window?.last_id ?? null;
  const results =
    windowEnd === null
      ? []
      : await db
          .select({ id: records.id, bank_transaction_id: records.bank_transaction_id, amount: bankAmount })
          .from(records)
          .where(
            and(
              eq(ofDay, run.date),
              gt(records.id, after),
              lte(records.id, windowEnd),
              onStatement,
              or(isNull(records.reconciled_by), ne(records.reconciled_by, run.id)),
            ),
          )
          .orderBy(asc(records.id))
          .limit(bounds.ledger_page_rows);
  const last = results[results.length - 1];
  const pageFull = results.length === bounds.ledger_page_rows;
  const more = pageFull || (window?.size ?? 0) === bounds.ledger_window_rows;
  return {
    phase: more ? table : table === "payments" ? "payouts" : "done",
    cursor: more ? (pageFull && last ? last.id : windowEnd) : null,
    statement_lines: 0,
    matched: 0,
    marks: [],
    in_flight: [],
    discrepancies: results.map((row) => {
      assert(row.bank_transaction_id !== null, `completed ${row.id} has the bank's transaction id`);
      return {
        kind: "missing_at_bank",
        direction: table === "payments" ? "credit" : "debit",
        bank_transaction_id: row.bank_transaction_id,
        ledger_amount: row.amount,
        bank_amount: null,
        record_id: row.id,
        resolution: "open",
        detail: "in the ledger, not on the bank's statement: investigate (a bug or a forged event); never fixed automatically",
      };
    }),
  };
}

/** Raw SQL: a multi-row conditional upsert (a resolved discrepancy is never reopened) that shares the step's atomic batch. */
function discrepancyInserts(d1: D1Database, run: RunRow, discrepancies: Discrepancy[], now: number): D1PreparedStatement[] {
  const columns = 11;
  const rowsPerStatement = Math.floor(accountLimits.d1_parameters_max / columns);
  return chunks(discrepancies, rowsPerStatement).map((chunk) =>
    d1
      .prepare(
        `INSERT INTO reconciliation_discrepancies (id, run_id, kind, bank_transaction_id, direction, ledger_amount, bank_amount,
           record_id, resolution, detail, created_at) VALUES ${chunk.map(() => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}
         ON CONFLICT (run_id, kind, bank_transaction_id) DO UPDATE SET
           resolution = excluded.resolution, detail = excluded.detail, record_id = excluded.record_id
         WHERE reconciliation_discrepancies.resolution <> 'resolved'`,
      )
      .bind(
        ...chunk.flatMap((item) => [
          newId("dis"),
          run.id,
          item.kind,
          item.bank_transaction_id,
          item.direction,
          item.ledger_amount,
          item.bank_amount,
          item.record_id,
          item.resolution,
          item.detail,
          now,
        ]),
      ),
  );
}

/** Runs one step of `runId`. Returns where the run stands; `queries` is what the step cost. */
export async function reconciliationStep(env: Env, config: Config, runId: string, now = Date.now()): Promise<StepOutcome> {
  const counted = countingD1(env.DB, bounds.d1_queries_per_step);
  const stepEnv: Env = { ...env, DB: counted.d1 };
  const run = await findRun(counted.d1, runId);
  if (!run) throw new Error(`no reconciliation run ${runId}`);
  if (run.status !== "running") return { status: run.status, phase: run.phase, queries: counted.queries() };

  const result =
    run.phase === "statement" ? await matchStatementPage(stepEnv, config, run, now) : await unmatchedLedgerPage(stepEnv, run, run.phase === "payments" ? "payments" : "payouts");
  const count = (kind: DiscrepancyKind) => result.discrepancies.filter((item) => item.kind === kind).length;
  const done = result.phase === "done";
  const d1 = counted.d1;
  faultPoint("reconciliation.before_commit");
  // Raw SQL: one atomic batch of conditional statements (the compare-and-set on a cursor that may
  // be NULL, counters added in place, a delete guarded by EXISTS) that drizzle could only spell as sql fragments.
  await d1.batch([
    ...result.marks.flatMap(({ table, bank_transaction_ids }) =>
      chunks(bank_transaction_ids).map((ids) =>
        d1.prepare(`UPDATE ${table} SET reconciled_by = ? WHERE bank_transaction_id IN (${ids.map(() => "?").join(",")})`).bind(run.id, ...ids),
      ),
    ),
    ...discrepancyInserts(d1, run, result.discrepancies, now),
    ...chunks(result.in_flight).map((ids) =>
      d1
        .prepare(
          `DELETE FROM reconciliation_discrepancies WHERE run_id = ? AND kind = 'missing_in_ledger' AND resolution = 'open'
             AND detail = 'recovery in progress' AND bank_transaction_id IN (${ids.map(() => "?").join(",")})
             AND EXISTS (SELECT 1 FROM reconciliation_runs WHERE id = ? AND status = 'running' AND phase = ? AND cursor IS ?)`,
        )
        .bind(run.id, ...ids, run.id, run.phase, run.cursor),
    ),
    // Last, and conditional: the counters move only if this step is the one that moves the cursor.
    d1
      .prepare(
        `UPDATE reconciliation_runs SET phase = ?, cursor = ?, status = ?, completed_at = ?,
           statement_lines = statement_lines + ?, matched = matched + ?, missing_in_ledger = missing_in_ledger + ?,
           missing_at_bank = missing_at_bank + ?, amount_mismatch = amount_mismatch + ?, steps = steps + 1, updated_at = ?
         WHERE id = ? AND status = 'running' AND phase = ? AND cursor IS ?`,
      )
      .bind(
        result.phase,
        result.cursor,
        done ? "completed" : "running",
        done ? now : null,
        result.statement_lines,
        result.matched,
        count("missing_in_ledger"),
        count("missing_at_bank"),
        count("amount_mismatch"),
        now,
        run.id,
        run.phase,
        run.cursor,
      ),
  ]);
  return { status: done ? "completed" : "running", phase: result.phase, queries: counted.queries() };
}
