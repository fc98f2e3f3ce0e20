/**
 * The proofs behind GET /v1/admin/invariants (API §8). Two kinds of check:
 *
 *   - sweeps (src/ledger/sweeps/): customers' objects against D1, ledger transactions, ledger
 *     accounts against their entries, payments and payouts against their ledger transactions;
 *     merchants' own ledgers and the incoming payment details they post (API §11).
 *     Each call advances each sweep by a bounded window; a check is ok only once a complete
 *     pass found nothing and the pass in progress has found nothing so far (see sweep.ts).
 *   - every call, whole: the balance accounts and suspense add up to the settlement account,
 *     and customer balances to their memo contra (O(ledger accounts), from the cached balance columns);
 *     each merchant's own ledger balances per currency (O(merchant ledger accounts), likewise);
 *     no payout waits on its customer's object (bounded by an index of the few that do);
 *     no reserve hold is long past its release date (bounded likewise).
 *
 * Every D1 query goes through a counter that asserts the call's budget, so no call can near
 * D1's 1,000 queries per invocation however large the books grow; amounts that are sums are
 * read as text and compared as bigint, exact past 2^53.
 */
import type { Env } from "../env";
import { invariantLimits, limits } from "../limits";
import { countingD1 } from "../reconciliation/counting-d1";
import { rfc3339 } from "../schemas/common";
import { accountsSweep } from "./sweeps/accounts";
import { customersSweep } from "./sweeps/customers";
import { incomingPaymentDetailsSweep, virtualAccountPaymentsSweep } from "./sweeps/incoming-payment-details";
import { merchantLedgerAccountsSweep, merchantLedgersBalanced, merchantLedgerTransactionsSweep } from "./sweeps/merchant-ledger";
import { paymentsSweep } from "./sweeps/payments";
import { payoutsSweep } from "./sweeps/payouts";
import { addFindings, advanceSweep, loadSweepStates, saveSweeps, type PassProgress, type SweepSpec, type SweepState, type Tally } from "./sweeps/sweep";
import { transactionsSweep } from "./sweeps/transactions";
import { transfersSweep } from "./sweeps/transfers";

export interface Coverage {
  unit: string;
  /** The pass this call advanced: still in progress, or completed by this call. */
  pass: { started_at: string; checked: number; total: number; total_is_lower_bound: boolean; complete: boolean; failures: number };
  last_complete_pass: { started_at: string; ended_at: string; checked: number; failures: number } | null;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** Sweeps only: how much of the books the check has covered. */
  coverage?: Coverage;
}

const sweeps: SweepSpec[] = [
  transactionsSweep,
  accountsSweep,
  customersSweep,
  paymentsSweep,
  payoutsSweep,
  transfersSweep,
  // Merchants' own ledgers and incoming payment details (API §11).
  merchantLedgerTransactionsSweep,
  merchantLedgerAccountsSweep,
  incomingPaymentDetailsSweep,
  virtualAccountPaymentsSweep,
];

const sample = (items: string[], count = items.length) => items.join(", ") + (count > items.length ? ` and ${count - items.length} more` : "");
const tallyText = (tally: Tally) => sample(tally.sample, tally.count);

function sweepCheck(spec: SweepSpec, check: { name: string; holds: string }, state: SweepState, pass: PassProgress): Check {
  const current = state.failures[check.name];
  const last = state.last_complete;
  const lastFailures = last?.failures[check.name];
  const total = `${pass.total_is_lower_bound ? "at least " : ""}${pass.total}`;
  const progress = `${pass.checked} of ${total} ${spec.unit}`;
  let detail: string;
  if (current?.count || lastFailures?.count) {
    const parts: string[] = [];
    if (current?.count) parts.push(`${current.count} found so far by the pass in progress (${progress}): ${tallyText(current)}`);
    if (lastFailures?.count) parts.push(`${lastFailures.count} found by the pass that ended ${rfc3339(last!.ended_at)}: ${tallyText(lastFailures)}`);
    detail = parts.join("; ");
  } else if (!last) {
    detail = `coverage incomplete: ${progress} checked; no complete pass yet`;
  } else {
    detail = `${check.holds}: all ${last.checked} ${spec.unit} checked by the pass that ended ${rfc3339(last.ended_at)}`;
    if (!pass.complete) detail += ` (the next pass has checked ${progress})`;
  }
  return {
    name: check.name,
    ok: last !== null && !lastFailures?.count && !current?.count,
    detail,
    coverage: {
      unit: spec.unit,
      pass: {
        started_at: rfc3339(pass.started_at),
        checked: pass.checked,
        total: pass.total,
        total_is_lower_bound: pass.total_is_lower_bound,
        complete: pass.complete,
        failures: pass.failures[check.name]?.count ?? 0,
      },
      last_complete_pass: last
        ? { started_at: rfc3339(last.started_at), ended_at: rfc3339(last.ended_at), checked: last.checked, failures: lastFailures?.count ?? 0 }
        : null,
    },
  };
}

/** Advances every sweep by one window and reports each of their checks. */
async function sweepChecks(env: Env, d1: D1Database, now: number): Promise<Check[]> {
  const states = await loadSweepStates(d1);
  const fresh: SweepState = { version: 0, cursor: null, started_at: null, checked: 0, failures: {}, last_complete: null };
  const outcomes = await Promise.all(sweeps.map((spec) => advanceSweep(env, d1, spec, states.get(spec.name) ?? fresh, now)));
  const lost = await saveSweeps(d1, outcomes, now);
  // A concurrent call advanced these first: report where it left them, plus what this call
  // found (never less red than what either call saw).
  const winners = lost.size > 0 ? await loadSweepStates(d1) : new Map<string, SweepState>();
  return outcomes.flatMap((outcome) => {
    const won = winners.get(outcome.spec.name);
    const state = lost.has(outcome.spec.name) && won ? { ...won, failures: addFindings(won.failures, outcome.found) } : outcome.after;
    return outcome.spec.checks.map((check) => sweepCheck(outcome.spec, check, state, outcome.pass));
  });
}

/**
 * Per currency, the chart of accounts (docs/MONEY.md): real money, settlement (asset) = merchant
 * balance accounts + reserves + the platform's balance account + suspense; and memo, customers +
 * merchants' unassigned funds = attribution. From the cached balance columns (the accounts sweep
 * proves them against the entries), every call: one query over ledger_accounts, summed in SQL's
 * 64-bit integers and read as text, so the totals stay exact past 2^53.
 */
async function accountsAddUp(d1: D1Database): Promise<Check[]> {
  // Pending balances (posted + pending entries) on both sides: each transaction moves both.
  const { results } = await d1
    .prepare(
      `SELECT currency, kind,
         CAST(SUM(CASE WHEN normal_balance = 'credit'
                       THEN posted_credits + pending_credits - posted_debits - pending_debits
                       ELSE posted_debits + pending_debits - posted_credits - pending_credits END) AS TEXT) AS balance
       FROM ledger_accounts GROUP BY currency, kind`,
    )
    .all<{ currency: string; kind: string; balance: string }>();
  const totals = new Map<string, { settlement: bigint; owed: bigint; attribution: bigint; customers: bigint }>();
  const unplaced: string[] = [];
  for (const row of results) {
    const total = totals.get(row.currency) ?? { settlement: 0n, owed: 0n, attribution: 0n, customers: 0n };
    const balance = BigInt(row.balance);
    switch (row.kind) {
      case "settlement":
        total.settlement += balance;
        break;
      case "attribution":
        total.attribution += balance;
        break;
      case "customer":
      case "merchant_unassigned":
        total.customers += balance;
        break;
      case "merchant":
      case "reserve":
      case "platform":
      case "suspense":
        total.owed += balance;
        break;
      default:
        // A kind neither equation places: the books cannot be proven, so say so.
        unplaced.push(`${row.currency}: accounts of kind ${row.kind} are in neither equation`);
    }
    totals.set(row.currency, total);
  }
  const liabilities: string[] = [...unplaced];
  const memo: string[] = [];
  for (const [currency, total] of totals) {
    if (total.settlement !== total.owed) liabilities.push(`${currency}: settlement ${total.settlement} ≠ balance accounts and suspense ${total.owed}`);
    if (total.attribution !== total.customers) memo.push(`${currency}: customer balances ${total.customers} ≠ attribution ${total.attribution}`);
  }
  return [
    {
      name: "liabilities_equal_settlement",
      ok: liabilities.length === 0,
      detail:
        liabilities.length === 0
          ? "merchant, reserve and platform balance accounts and suspense add up to the settlement account"
          : liabilities.join("; "),
    },
    {
      name: "customer_balances_equal_attribution",
      ok: memo.length === 0,
      detail: memo.length === 0 ? "customer balances and merchants' unassigned funds add up to their memo contra account" : memo.join("; "),
    },
  ];
}

/** Bounded: payouts_needing_sync indexes only the payouts whose object has not been told yet. */
async function payoutsSynced(d1: D1Database, now: number): Promise<Check> {
  const { results } = await d1
    .prepare("SELECT id FROM payouts WHERE customer_sync IS NOT NULL AND updated_at < ? LIMIT 50")
    .bind(now - 5 * 60 * 1000)
    .all<{ id: string }>();
  const ids = results.map((row) => row.id);
  return {
    name: "payout_sagas_finished",
    ok: ids.length === 0,
    detail: ids.length === 0 ? "no payout waits on its customer's object for over 5 minutes" : `waiting: ${sample(ids.slice(0, 5), ids.length)}${ids.length === 50 ? " (first 50)" : ""}`,
  };
}

/**
 * Reserve holds go back when due (API §12): a held hold whose release date passed more than
 * limits.reserve_hold_overdue_ms ago is one the cron could not release (its reserve lacks the
 * money: docs/RUNBOOK.md) or never tried (the cron is not running). Bounded: a range of the
 * index reserve_holds_by_release_date (migrations/0021), at most 50 rows.
 */
async function reserveHoldsReleasedOnTime(d1: D1Database, now: number): Promise<Check> {
  const { results } = await d1
    .prepare(
      `SELECT payout_id, release_at, attempts FROM reserve_holds
       WHERE status = 'held' AND release_at IS NOT NULL AND release_at < ? ORDER BY release_at LIMIT 50`,
    )
    .bind(now - limits.reserve_hold_overdue_ms)
    .all<{ payout_id: string; release_at: number; attempts: number }>();
  const overdue = results.map((hold) => `${hold.payout_id} (due ${rfc3339(hold.release_at)}, ${hold.attempts} refused releases)`);
  return {
    name: "reserve_holds_released_on_time",
    ok: overdue.length === 0,
    detail:
      overdue.length === 0
        ? `no reserve hold is held more than ${limits.reserve_hold_overdue_ms / 3_600_000} hours past its release date`
        : `held more than ${limits.reserve_hold_overdue_ms / 3_600_000} hours past their release date: ${sample(overdue.slice(0, 5), overdue.length)}${overdue.length === 50 ? " (first 50)" : ""}`,
  };
}

/** The order checks are reported in: the original seven first (API §8), then the newer ones. */
const reportOrder = [
  "ledger_balanced",
  "balances_equal_entries",
  "liabilities_equal_settlement",
  "customer_balances_equal_attribution",
  "customer_objects_consistent",
  "customer_objects_equal_d1",
  "payout_sagas_finished",
  "ledger_transactions_accounted",
  "payments_match_ledger",
  "payouts_match_ledger",
  "transfers_match_ledger",
  "reserve_holds_match_ledger",
  "reserve_balances_equal_holds",
  "reserve_holds_released_on_time",
  "merchant_ledgers_balanced",
  "merchant_ledger_transactions_balanced",
  "merchant_ledger_balances_equal_entries",
  "merchant_ledger_transactions_accounted",
  "incoming_payment_details_ledgered",
  "incoming_payment_details_match_payments",
  "virtual_account_payments_detailed",
];

export async function checkInvariants(env: Env, now = Date.now()): Promise<{ ok: boolean; checks: Check[]; queries: number }> {
  const counted = countingD1(env.DB, invariantLimits.d1_queries_per_call, "an invariants call");
  const d1 = counted.d1;
  const [swept, addUp, synced, merchantLedgers, holdsOnTime] = await Promise.all([
    sweepChecks({ ...env, DB: d1 }, d1, now),
    accountsAddUp(d1),
    payoutsSynced(d1, now),
    merchantLedgersBalanced(d1),
    reserveHoldsReleasedOnTime(d1, now),
  ]);
  const checks = [...swept, ...addUp, synced, merchantLedgers, holdsOnTime].sort((a, b) => reportOrder.indexOf(a.name) - reportOrder.indexOf(b.name));
  return { ok: checks.every((check) => check.ok), checks, queries: counted.queries() };
}
