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
 */
import type { Env } from "../../env";
import { invariantLimits } from "../../limits";
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

async function inspectAccounts(_env: Env, d1: D1Database, ids: string[]): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (let start = 0; start < ids.length; start += statementsPerBatch) {
    const chunk = ids.slice(start, start + statementsPerBatch);
    const results = await d1.batch(chunk.map((id) => sumsStatement(d1, id)));
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
  }
  return findings;
}

export const accountsSweep: SweepSpec = {
  name: "ledger_accounts",
  table: "ledger_accounts",
  unit: "ledger accounts",
  window: invariantLimits.accounts_per_call,
  checks: [{ name: "balances_equal_entries", holds: "every account's cached balance equals the sum of its entries" }],
  inspect: inspectAccounts,
};
