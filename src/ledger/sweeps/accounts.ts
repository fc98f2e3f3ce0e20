/**
 * Ledger accounts, a window per call: each account's cached balance columns (moved by the
 * triggers of migrations/0002) equal the sums of its entries, read exactly (CAST … AS TEXT,
 * then bigint: a busy account's running totals pass 2^53 long before any balance does).
 *
 * Bound, honestly: one query per account, and each is a range scan of ledger_entries_by_account
 * over that account's entries (with a table read per entry for its amount, direction and
 * status). A customer or merchant account has few; the platform's settlement and attribution
 * accounts have one per movement, and the platform's balance account (`la_platform_<cur>`) one
 * per priced cash-in (commission), so their queries grow with the whole ledger: they are the
 * queries here not bounded by a window (not measured at scale yet). When they near D1's 30 s
 * per query, those three need a checkpointed sum (a stored partial sum up to an entry, extended
 * a window per call).
 * Each account's row and its sums come from one statement, so a concurrent posting cannot
 * make them disagree.
 *
 * Reserves (API §12): money enters a reserve only by a merchant payout's withholding
 * (lt_withhold_<payout>, posted at creation, with its hold row in the same batch) or a transfer
 * into it (the operator's, or a pull sweep's run: lt_<transfer>, posted with its row), and leaves
 * only by a hold's release (lt_release_<payout>, held → released) or a failed or canceled
 * payout's return (lt_unwithhold_<payout>, held → voided), each in the batch of its hold's
 * change. No transfer leaves a reserve (POST /v1/transfers and sweeps refuse a reserve as the
 * source). A released or voided hold went in and came out, so each reserve's posted balance is
 * exactly
 *   Σ its held holds + Σ transfers into it
 * with no transfer out of it and no pending entries (nothing pending ever touches a reserve).
 * One statement per window chunk reads the reserves' balances with those sums (one state of the
 * books); bound: per reserve, a range of reserve_holds_held_by_reserve (its held holds) and of
 * transfers_by_to_account / transfers_by_from_account (its transfers, few: operator moves).
 */
import type { Env } from "../../env";
import { invariantLimits } from "../../limits";
import { balanceAccountId } from "../accounts";
import type { Finding, SweepSpec } from "./sweep";

const columns = ["posted_debits", "posted_credits", "pending_debits", "pending_credits"] as const;

type Sums = Record<(typeof columns)[number] | `cached_${(typeof columns)[number]}`, string>;

/** The batch statements one call sends at once. */
const statementsPerBatch = 50;

function sumsStatement(d1: D1Database, accountId: string): D1PreparedStatement {
  return d1
    .prepare(
      `SELECT CAST(a.posted_debits AS TEXT) AS cached_posted_debits, CAST(a.posted_credits AS TEXT) AS cached_posted_credits,
         CAST(a.pending_debits AS TEXT) AS cached_pending_debits, CAST(a.pending_credits AS TEXT) AS cached_pending_credits,
         CAST(COALESCE(SUM(CASE WHEN e.status = 'posted'  AND e.direction = 'debit'  THEN e.amount END), 0) AS TEXT) AS posted_debits,
         CAST(COALESCE(SUM(CASE WHEN e.status = 'posted'  AND e.direction = 'credit' THEN e.amount END), 0) AS TEXT) AS posted_credits,
         CAST(COALESCE(SUM(CASE WHEN e.status = 'pending' AND e.direction = 'debit'  THEN e.amount END), 0) AS TEXT) AS pending_debits,
         CAST(COALESCE(SUM(CASE WHEN e.status = 'pending' AND e.direction = 'credit' THEN e.amount END), 0) AS TEXT) AS pending_credits
       FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.ledger_account_id = a.id
       WHERE a.id = ?`,
    )
    .bind(accountId);
}

interface ReserveSums {
  id: string;
  owner_id: string;
  posted: string;
  pending_debits: number;
  pending_credits: number;
  held: string;
  transfers_in: string;
  transfers_out: string;
}

/** The reserves among `ids`, each with its posted balance and what its holds and transfers say it must be. */
function reserveSumsStatement(d1: D1Database, ids: string[]): D1PreparedStatement {
  return d1
    .prepare(
      `SELECT a.id, a.owner_id, CAST(a.posted_credits - a.posted_debits AS TEXT) AS posted, a.pending_debits, a.pending_credits,
         CAST((SELECT COALESCE(SUM(h.amount), 0) FROM reserve_holds h WHERE h.merchant_id = a.owner_id AND h.currency = a.currency AND h.status = 'held') AS TEXT) AS held,
         CAST((SELECT COALESCE(SUM(t.amount), 0) FROM transfers t WHERE t.to_balance_account = 'ba_' || substr(a.id, 4)) AS TEXT) AS transfers_in,
         CAST((SELECT COALESCE(SUM(t.amount), 0) FROM transfers t WHERE t.from_balance_account = 'ba_' || substr(a.id, 4)) AS TEXT) AS transfers_out
       FROM ledger_accounts a
       WHERE a.kind = 'reserve' AND a.id IN (${ids.map(() => "?").join(", ")})`,
    )
    .bind(...ids);
}

function reserveProblem(reserve: ReserveSums): string | null {
  const posted = BigInt(reserve.posted);
  const held = BigInt(reserve.held);
  const into = BigInt(reserve.transfers_in);
  const out = BigInt(reserve.transfers_out);
  const expected = held + into;
  const problems: string[] = [];
  if (posted !== expected) {
    const difference = posted - expected;
    problems.push(`balance ${posted} ≠ held holds ${held} + transfers in ${into} = ${expected} (difference ${difference > 0n ? "+" : ""}${difference})`);
  }
  if (out !== 0n) problems.push(`transfers out ${out}: reserve money leaves only by a release or a failed payout's return`);
  if (reserve.pending_debits !== 0 || reserve.pending_credits !== 0) {
    problems.push(`pending debits ${reserve.pending_debits}, pending credits ${reserve.pending_credits}: nothing pending touches a reserve`);
  }
  return problems.length === 0 ? null : `${balanceAccountId(reserve.id)} (merchant ${reserve.owner_id}): ${problems.join("; ")}`;
}

async function inspectAccounts(_env: Env, d1: D1Database, ids: string[]): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (let start = 0; start < ids.length; start += statementsPerBatch) {
    const chunk = ids.slice(start, start + statementsPerBatch);
    const results = await d1.batch([...chunk.map((id) => sumsStatement(d1, id)), reserveSumsStatement(d1, chunk)]);
    chunk.forEach((id, index) => {
      const sums = results[index]?.results[0] as Sums | undefined;
      if (!sums || sums.cached_posted_debits === null) return; // gone since the window was read: accounts are never deleted
      const differing = columns.filter((column) => BigInt(sums[`cached_${column}`]) !== BigInt(sums[column]));
      if (differing.length > 0) {
        findings.push({
          check: "balances_equal_entries",
          item: `${id}: ${differing.map((column) => `${column} ${sums[`cached_${column}`]} ≠ entries ${sums[column]}`).join(", ")}`,
        });
      }
    });
    for (const reserve of (results[chunk.length]?.results ?? []) as ReserveSums[]) {
      const problem = reserveProblem(reserve);
      if (problem) findings.push({ check: "reserve_balances_equal_holds", item: problem });
    }
  }
  return findings;
}

export const accountsSweep: SweepSpec = {
  name: "ledger_accounts",
  table: "ledger_accounts",
  unit: "ledger accounts",
  window: invariantLimits.accounts_per_call,
  checks: [
    { name: "balances_equal_entries", holds: "every account's cached balance equals the sum of its entries" },
    {
      name: "reserve_balances_equal_holds",
      holds: "every reserve's balance equals its held holds plus the transfers into it, with no transfer out of it and nothing pending",
    },
  ],
  inspect: inspectAccounts,
};
