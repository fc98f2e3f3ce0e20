/**
 * The cron's sweep job (API §12): each active sweep runs at most once per occurrence of its
 * Buenos Aires time (one per business day), at the first tick at or after it.
 *
 * Exactly once, in three steps, because a run's transfer is made by executeTransfer's own
 * batch (src/transfers/execute-transfer.ts) and D1 has no transaction across batches:
 * 1. claim: a `sweep_runs` row keyed (sweep_id, business_day) is inserted `pending`, with the
 *    amount fixed from the source's `available` just read; a second tick (repeated or
 *    concurrent) inserts nothing and stops. Nothing to move → the row is `skipped` and that
 *    is all (no transfer, no event).
 * 2. transfer: executeTransfer with the run's deterministic id tr_sweep_<sweep>_<yyyymmdd>
 *    and the run's amount. Its no_overdraft trigger is the guard: money that left the source
 *    between the read and the transfer makes it insufficient_funds, never an overdraft.
 * 3. outcome: the run becomes `completed` or `failed` and its event is written, in one batch
 *    (compare-and-set on `pending`; the event is unique per type and run).
 * A crash between 1 and 3 leaves the run `pending`; a tick after the lease (longer than a cron
 * invocation lives, so the claimer is gone) repeats 2 with the same id and amount — a replay
 * if the transfer was made, the transfer if not — and writes 3. A failed run is final for its
 * day: the next day's run sweeps whatever excess there is then.
 */
import { assert } from "../assert";
import type { SweepRow, SweepRunRow } from "../db/schema";
import type { Env } from "../env";
import { faultPoint } from "../faults";
import { readBalanceAccount } from "../ledger/balances";
import { log } from "../log";
import { randomToken } from "../crypto";
import { executeTransfer, type TransferOrder, type TransferRow } from "../transfers/execute-transfer";
import { transferView } from "../transfers/transfer-row";
import { dispatchAfterWrite } from "../webhooks/dispatch-after-write";
import { sweepLimits } from "./limits";
import { latestOccurrence, tickWindow, type Occurrence } from "./schedule";
import { sweepRunId, sweepTransferId, sweepView } from "./view";

export interface SweepTickResult {
  completed: number;
  failed: number;
  skipped: number;
}

type Outcome = "completed" | "failed" | "skipped" | "none";

export async function runSweeps(env: Env, now: number): Promise<SweepTickResult> {
  const result: SweepTickResult = { completed: 0, failed: 0, skipped: 0 };
  const notified = new Set<string>();
  const count = (outcome: Outcome, sweep: SweepRow) => {
    if (outcome === "none") return;
    result[outcome]++;
    if (outcome !== "skipped" && sweep.owner_id !== "platform") notified.add(sweep.owner_id);
  };
  for (const { run, sweep } of await reclaimAbandonedRuns(env, now)) {
    count(await guarded(sweep, () => transferAndRecord(env, sweep, run, now)), sweep);
  }
  for (const sweep of await dueSweeps(env, now)) {
    count(await guarded(sweep, () => runSweep(env, sweep, latestOccurrence(sweep.schedule_minutes, now), now)), sweep);
  }
  // Webhooks leave at once rather than at the backstop's next pass.
  await dispatchAfterWrite(env, notified);
  return result;
}

/** One sweep's failure (a D1 error, an injected fault) never stops the others: its run stays pending or unclaimed. */
async function guarded(sweep: SweepRow, run: () => Promise<Outcome>): Promise<Outcome> {
  try {
    return await run();
  } catch (error) {
    log("error", "sweep run failed; a later tick finishes it", { sweep_id: sweep.id, error: String(error) });
    return "none";
  }
}

/** Active sweeps whose latest occurrence (at or after their creation) has no run yet. */
async function dueSweeps(env: Env, now: number): Promise<SweepRow[]> {
  const window = tickWindow(now);
  const { results } = await env.DB.prepare(
    `SELECT * FROM sweeps s
     WHERE s.status = 'active'
       AND (CASE WHEN s.schedule_minutes <= ?1 THEN ?2 ELSE ?3 END) + s.schedule_minutes * 60000 >= s.created_at
       AND NOT EXISTS (SELECT 1 FROM sweep_runs r WHERE r.sweep_id = s.id
                       AND r.business_day = (CASE WHEN s.schedule_minutes <= ?1 THEN ?4 ELSE ?5 END))
     ORDER BY s.schedule_minutes, s.id LIMIT ?6`,
  )
    .bind(window.minutes_now, window.today.at_ms, window.yesterday.at_ms, window.today.business_day, window.yesterday.business_day, sweepLimits.runs_per_tick_max)
    .all<SweepRow>();
  return results;
}

/** Step 1, then 2 and 3: claim the occurrence's run, and make it. */
async function runSweep(env: Env, sweep: SweepRow, occurrence: Occurrence, now: number): Promise<Outcome> {
  const source = await readBalanceAccount(env.DB, sweep.balance_account_id);
  assert(source !== null, `sweep ${sweep.id}: its balance account ${sweep.balance_account_id} is gone`);
  const excess = source.available - sweep.trigger_amount;
  assert(Number.isSafeInteger(excess), `sweep ${sweep.id}: excess is not a safe integer`);
  const amount = Math.max(excess, 0);
  const id = sweepRunId(sweep.id, occurrence.business_day);
  const transferId = amount > 0 ? sweepTransferId(sweep.id, occurrence.business_day) : null;
  const status = amount > 0 ? "pending" : "skipped";
  // Only while the sweep is active: a DELETE that landed after dueSweeps read it stops the run.
  const claimed = await env.DB.prepare(
    `INSERT INTO sweep_runs (id, sweep_id, business_day, status, available_amount, amount, transfer_id, failure_reason, claimed_at, attempts, created_at, updated_at, finished_at)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8, 1, ?8, ?8, CASE WHEN ?4 = 'skipped' THEN ?8 END
     WHERE EXISTS (SELECT 1 FROM sweeps WHERE id = ?2 AND status = 'active')
     ON CONFLICT DO NOTHING`,
  )
    .bind(id, sweep.id, occurrence.business_day, status, source.available, amount, transferId, now)
    .run();
  if (claimed.meta.changes === 0) return "none"; // another tick has this day's run, or the sweep was deleted
  if (status === "skipped") return "skipped";
  faultPoint("sweep.after_claim");
  const run: SweepRunRow = {
    id,
    sweep_id: sweep.id,
    business_day: occurrence.business_day,
    status: "pending",
    available_amount: source.available,
    amount,
    transfer_id: transferId,
    failure_reason: null,
    claimed_at: now,
    attempts: 1,
    created_at: now,
    updated_at: now,
    finished_at: null,
  };
  return transferAndRecord(env, sweep, run, now);
}

/**
 * `push`: the source sends its excess; `pull`: the target draws it. The money goes from the
 * sweep's balance account to its target either way; who initiated it is the transfer's
 * `initiated_by` (the initiating balance account, not a principal: a sweep is the cron's work
 * either way) and its metadata.
 */
export function sweepTransferOrder(sweep: SweepRow, run: SweepRunRow): TransferOrder {
  assert(run.transfer_id !== null && run.amount > 0, `run ${run.id} has nothing to transfer`);
  const initiator = sweep.sweep_type === "push" ? sweep.balance_account_id : sweep.target_balance_account;
  return {
    id: run.transfer_id,
    kind: "sweep",
    from_balance_account: sweep.balance_account_id,
    to_balance_account: sweep.target_balance_account,
    amount: run.amount,
    currency: sweep.currency,
    description: `Sweep ${sweep.id} (${sweep.sweep_type}) of ${run.business_day}`,
    initiated_by: initiator,
    // The transfer's API view shows its metadata, not initiated_by: both say who asked.
    metadata: { sweep_id: sweep.id, sweep_run_id: run.id, sweep_type: sweep.sweep_type, business_day: run.business_day, initiated_by: initiator },
  };
}

/** Steps 2 and 3 for a claimed (pending) run. */
async function transferAndRecord(env: Env, sweep: SweepRow, run: SweepRunRow, now: number): Promise<Outcome> {
  const outcome = await executeTransfer(env, sweepTransferOrder(sweep, run), now);
  faultPoint("sweep.after_transfer");
  switch (outcome.result) {
    case "created":
    case "replayed":
      return recordOutcome(env, sweep, run, { status: "completed", failure_reason: null, transfer: outcome.transfer }, now);
    case "insufficient_funds":
      return recordOutcome(env, sweep, run, { status: "failed", failure_reason: "insufficient_funds", transfer: null }, now);
    case "balance_overflow":
      // The target would pass 2^53 − 1: nothing moved, and the run says why.
      return recordOutcome(env, sweep, run, { status: "failed", failure_reason: "balance_overflow", transfer: null }, now);
    case "not_found":
      // Balance accounts are never deleted, and both were checked when the sweep was made.
      log("error", "a sweep's balance account is gone", { sweep_id: sweep.id, field: outcome.field });
      return recordOutcome(env, sweep, run, { status: "failed", failure_reason: `${outcome.field}_not_found`, transfer: null }, now);
    case "superseded":
      // Only a transfer guarded by onlyWhile can be superseded; a sweep's is not.
      throw new Error(`sweep ${sweep.id}: its transfer was superseded, yet it had no onlyWhile`);
    case "conflict":
      // The id is ours alone (tr_sweep_…) and the order is rebuilt from the run row: a bug.
      log("error", "a sweep's transfer id holds another transfer", { sweep_id: sweep.id, transfer_id: run.transfer_id });
      return recordOutcome(env, sweep, run, { status: "failed", failure_reason: "conflict", transfer: null }, now);
  }
}

interface RunOutcome {
  status: "completed" | "failed";
  failure_reason: string | null;
  transfer: TransferRow | null;
}

/**
 * Step 3: the run's outcome and its event, in one batch. The event's `data.object` is the
 * sweep as GET shows it with this run as its `last_run`; `data.transfer` the transfer made.
 */
async function recordOutcome(env: Env, sweep: SweepRow, run: SweepRunRow, outcome: RunOutcome, now: number): Promise<Outcome> {
  const finished: SweepRunRow = { ...run, status: outcome.status, failure_reason: outcome.failure_reason, finished_at: now, updated_at: now };
  const data = JSON.stringify({ object: sweepView(sweep, finished), transfer: outcome.transfer && transferView(outcome.transfer) });
  const type = `balance_account.sweep.${outcome.status}`;
  const [updated] = await env.DB.batch([
    env.DB.prepare("UPDATE sweep_runs SET status = ?2, failure_reason = ?3, finished_at = ?4, updated_at = ?4 WHERE id = ?1 AND status = 'pending'").bind(
      run.id,
      outcome.status,
      outcome.failure_reason,
      now,
    ),
    env.DB.prepare(
      `INSERT OR IGNORE INTO events (id, type, merchant_id, object_type, object_id, data, created_at)
       SELECT ?1, ?2, ?3, 'sweep_run', ?4, ?5, ?6
       WHERE EXISTS (SELECT 1 FROM sweep_runs WHERE id = ?4 AND status = ?7 AND finished_at = ?6)`,
    ).bind(`evt_${randomToken(24)}`, type, sweep.owner_id === "platform" ? null : sweep.owner_id, run.id, data, now, outcome.status),
  ]);
  return updated && updated.meta.changes > 0 ? outcome.status : "none";
}

/**
 * Runs left `pending` past the lease by a cron invocation that died (step 1 done, 3 not):
 * re-claimed one by one (compare-and-set on the claim time, so two ticks never both take one)
 * and finished, whatever the sweep's status now (a run claimed before a DELETE completes).
 */
async function reclaimAbandonedRuns(env: Env, now: number): Promise<{ run: SweepRunRow; sweep: SweepRow }[]> {
  const { results } = await env.DB.prepare(
    `SELECT r.* FROM sweep_runs r WHERE r.status = 'pending' AND r.claimed_at <= ?1 ORDER BY r.claimed_at LIMIT ?2`,
  )
    .bind(now - sweepLimits.pending_run_lease_ms, sweepLimits.runs_per_tick_max)
    .all<SweepRunRow>();
  const taken: { run: SweepRunRow; sweep: SweepRow }[] = [];
  for (const run of results) {
    const [reclaimed, sweep] = await env.DB.batch([
      env.DB.prepare("UPDATE sweep_runs SET claimed_at = ?3, attempts = attempts + 1, updated_at = ?3 WHERE id = ?1 AND status = 'pending' AND claimed_at = ?2").bind(run.id, run.claimed_at, now),
      env.DB.prepare("SELECT * FROM sweeps WHERE id = ?").bind(run.sweep_id),
    ]);
    const sweepRow = (sweep?.results[0] as SweepRow | undefined) ?? null;
    if (reclaimed && reclaimed.meta.changes > 0 && sweepRow) taken.push({ run: { ...run, claimed_at: now, attempts: run.attempts + 1 }, sweep: sweepRow });
  }
  return taken;
}
