/**
 * A sweep walks one table in id order, a bounded window per call of GET /v1/admin/invariants,
 * and remembers in D1 (invariant_sweeps) where its pass stands and what it has found. A pass
 * that reaches the end is complete: its findings become "the last complete pass", and the
 * next call starts a new pass from the first id. A check is green only when the last complete
 * pass found nothing and the pass in progress has found nothing so far, so a failure stays red
 * until a later complete pass is clean, and nothing is green before every row was looked at.
 */
import type { Env } from "../../env";
import { invariantLimits } from "../../limits";

export type SweptTable =
  | "customers"
  | "ledger_transactions"
  | "payments"
  | "payouts"
  | "ledger_accounts"
  | "merchant_ledger_transactions"
  | "merchant_ledger_accounts"
  | "incoming_payment_details"
  | "transfers";

/** One thing found wrong: which check it breaks, and a short description naming the row. */
export interface Finding {
  check: string;
  item: string;
}

export interface SweepSpec {
  /** The sweep's row in invariant_sweeps. */
  name: string;
  table: SweptTable;
  /** What a row is, for the coverage text: "customers". */
  unit: string;
  /** Rows per call (src/limits.ts). */
  window: number;
  /** The checks this sweep feeds, and the sentence each says when it holds. */
  checks: { name: string; holds: string }[];
  /** Checks rows `ids` (in id order, at least one): everything found wrong. */
  inspect(env: Env, d1: D1Database, ids: string[]): Promise<Finding[]>;
}

export interface Tally {
  count: number;
  sample: string[];
}
export type Tallies = Record<string, Tally>;

export interface CompletePass {
  started_at: number;
  ended_at: number;
  checked: number;
  failures: Tallies;
}

export interface SweepState {
  version: number;
  cursor: string | null;
  started_at: number | null;
  checked: number;
  failures: Tallies;
  last_complete: CompletePass | null;
}

/** The pass this call advanced: the one in progress, or the one it just completed. */
export interface PassProgress {
  started_at: number;
  checked: number;
  /** Rows this pass checks in all: those checked plus those after its cursor (counted up to a bound). */
  total: number;
  total_is_lower_bound: boolean;
  complete: boolean;
  failures: Tallies;
}

export interface SweepOutcome {
  spec: SweepSpec;
  before: SweepState;
  after: SweepState;
  pass: PassProgress;
  /** What this call found (kept in the report even if a concurrent call's write won). */
  found: Finding[];
}

interface SweepRow {
  name: string;
  version: number;
  cursor: string | null;
  started_at: number | null;
  checked: number;
  failures: string;
  last_complete_started_at: number | null;
  last_complete_at: number | null;
  last_complete_checked: number | null;
  last_complete_failures: string | null;
}

const fresh: SweepState = { version: 0, cursor: null, started_at: null, checked: 0, failures: {}, last_complete: null };

function stateOf(row: SweepRow | undefined): SweepState {
  if (!row) return fresh;
  return {
    version: row.version,
    cursor: row.cursor,
    started_at: row.started_at,
    checked: row.checked,
    failures: JSON.parse(row.failures) as Tallies,
    last_complete:
      row.last_complete_at === null
        ? null
        : {
            started_at: row.last_complete_started_at ?? row.last_complete_at,
            ended_at: row.last_complete_at,
            checked: row.last_complete_checked ?? 0,
            failures: JSON.parse(row.last_complete_failures ?? "{}") as Tallies,
          },
  };
}

/** Every sweep's state, in one query. */
export async function loadSweepStates(d1: D1Database): Promise<Map<string, SweepState>> {
  const { results } = await d1.prepare("SELECT * FROM invariant_sweeps").all<SweepRow>();
  return new Map(results.map((row) => [row.name, stateOf(row)]));
}

/** `into` plus `findings`: counts exact, samples bounded. */
export function addFindings(into: Tallies, findings: Finding[]): Tallies {
  const out: Tallies = {};
  for (const [check, tally] of Object.entries(into)) out[check] = { count: tally.count, sample: [...tally.sample] };
  for (const finding of findings) {
    const tally = (out[finding.check] ??= { count: 0, sample: [] });
    tally.count += 1;
    if (tally.sample.length < invariantLimits.failure_sample_max) tally.sample.push(finding.item);
  }
  return out;
}

/** Advances `spec`'s pass by one window. Reads only; `saveSweeps` writes the result. */
export async function advanceSweep(env: Env, d1: D1Database, spec: SweepSpec, before: SweepState, now: number): Promise<SweepOutcome> {
  // One row past the window tells whether the window reaches the end (no extra call for it).
  const { results } = await d1
    .prepare(`SELECT id FROM ${spec.table} WHERE id > ? ORDER BY id LIMIT ?`)
    .bind(before.cursor ?? "", spec.window + 1)
    .all<{ id: string }>();
  const ids = results.slice(0, spec.window).map((row) => row.id);
  const reachesEnd = results.length <= spec.window;
  const found = ids.length > 0 ? await spec.inspect(env, d1, ids) : [];

  const started_at = before.started_at ?? now;
  const checked = before.checked + ids.length;
  const failures = addFindings(before.failures, found);
  if (reachesEnd) {
    const complete: CompletePass = { started_at, ended_at: now, checked, failures };
    return {
      spec,
      before,
      found,
      after: { version: before.version + 1, cursor: null, started_at: null, checked: 0, failures: {}, last_complete: complete },
      pass: { started_at, checked, total: checked, total_is_lower_bound: false, complete: true, failures },
    };
  }
  const cursor = ids[ids.length - 1]!;
  // Bounded: an index range of at most remaining_count_max entries.
  const remaining =
    (
      await d1
        .prepare(`SELECT COUNT(*) AS count FROM (SELECT 1 FROM ${spec.table} WHERE id > ? LIMIT ?)`)
        .bind(cursor, invariantLimits.remaining_count_max)
        .first<{ count: number }>()
    )?.count ?? 0;
  return {
    spec,
    before,
    found,
    after: { version: before.version + 1, cursor, started_at, checked, failures, last_complete: before.last_complete },
    pass: {
      started_at,
      checked,
      total: checked + remaining,
      total_is_lower_bound: remaining >= invariantLimits.remaining_count_max,
      complete: false,
      failures,
    },
  };
}

/**
 * Writes every sweep's new state in one batch, each a compare-and-set on its version: when
 * two calls race, one advances the pass and the other's write is dropped (it read the same
 * window, so it found the same things). Returns the sweeps whose write was dropped.
 */
export async function saveSweeps(d1: D1Database, outcomes: SweepOutcome[], now: number): Promise<Set<string>> {
  if (outcomes.length === 0) return new Set();
  const statements = outcomes.map(({ spec, before, after }) =>
    d1
      .prepare(
        `INSERT INTO invariant_sweeps (name, version, cursor, started_at, checked, failures, last_complete_started_at, last_complete_at,
           last_complete_checked, last_complete_failures, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (name) DO UPDATE SET version = ?2, cursor = ?3, started_at = ?4, checked = ?5, failures = ?6,
           last_complete_started_at = ?7, last_complete_at = ?8, last_complete_checked = ?9, last_complete_failures = ?10, updated_at = ?11
         WHERE invariant_sweeps.version = ?12`,
      )
      .bind(
        spec.name,
        after.version,
        after.cursor,
        after.started_at,
        after.checked,
        JSON.stringify(after.failures),
        after.last_complete?.started_at ?? null,
        after.last_complete?.ended_at ?? null,
        after.last_complete?.checked ?? null,
        after.last_complete ? JSON.stringify(after.last_complete.failures) : null,
        now,
        before.version,
      ),
  );
  const results = await d1.batch(statements);
  return new Set(outcomes.filter((_, index) => (results[index]?.meta.changes ?? 0) === 0).map((outcome) => outcome.spec.name));
}
