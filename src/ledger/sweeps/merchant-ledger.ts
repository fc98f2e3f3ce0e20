/**
 * Merchants' own ledgers (API §11, migrations/0012), a window per call, as the platform's
 * ledger is swept (transactions.ts, accounts.ts):
 *   - each transaction balances: at least two entries, debits = credits, every entry in an
 *     account of the transaction's merchant, all of one currency;
 *   - each transaction accounts for an incoming payment detail that names it (its id is the
 *     detail's lt_ml_…), of the detail's merchant and currency, with exactly the two entries
 *     auto-ledgering writes: `:0` (the virtual account's side) in the detail's direction, `:1`
 *     (the internal account's side) in the other, each of the detail's amount. Which accounts
 *     those were is not re-derived from today's links: a link may change after the posting.
 *   - each account's cached posted_debits/posted_credits equal the sums of its entries.
 * Bound: one query per window for each sweep (its transactions with their entries; its
 * accounts with their entries: an account linked by many virtual accounts has an entry per
 * payment, so, as with the platform's settlement account, that query grows with the account).
 * And every call, whole: per merchant and currency, Σ cached debits = Σ cached credits (one
 * query over merchant_ledger_accounts, exact: summed in SQLite's 64-bit integers, read as text).
 */
import type { Env } from "../../env";
import { invariantLimits } from "../../limits";
import { detailTransactionId } from "../../merchant-ledger/ids";
import type { Finding, SweepSpec } from "./sweep";

interface TransactionRow {
  id: string;
  merchant_id: string;
  ledgerable_type: string;
  ledgerable_id: string;
  entries: number;
  debits: string;
  credits: string;
  foreign_entries: number;
  currencies: number;
  currency: string | null;
  virtual_direction: string | null;
  virtual_amount: number | null;
  internal_direction: string | null;
  internal_amount: number | null;
  detail_id: string | null;
  detail_direction: string | null;
  detail_amount: number | null;
  detail_currency: string | null;
  detail_merchant_id: string | null;
  detail_transaction_id: string | null;
}

function unaccounted(row: TransactionRow): string | null {
  if (row.ledgerable_type !== "incoming_payment_detail" || row.detail_id === null) return `names ${row.ledgerable_type}/${row.ledgerable_id}, not an incoming payment detail`;
  const problems: string[] = [];
  if (row.detail_transaction_id !== row.id || detailTransactionId(row.detail_id) !== row.id) problems.push(`its detail ${row.detail_id} names ${row.detail_transaction_id ?? "no transaction"}`);
  if (row.detail_merchant_id !== row.merchant_id) problems.push(`its detail is ${row.detail_merchant_id}'s`);
  if (row.currency !== row.detail_currency) problems.push(`posted in ${row.currency}, the detail is in ${row.detail_currency}`);
  const mirror = row.detail_direction === "credit" ? "debit" : "credit";
  if (row.entries !== 2 || row.virtual_direction !== row.detail_direction || row.internal_direction !== mirror) {
    problems.push(`entries ${row.entries} (:0 ${row.virtual_direction}, :1 ${row.internal_direction}) for a ${row.detail_direction} detail`);
  }
  if (row.virtual_amount !== row.detail_amount || row.internal_amount !== row.detail_amount) {
    problems.push(`amounts ${row.virtual_amount}/${row.internal_amount} for a detail of ${row.detail_amount}`);
  }
  return problems.length > 0 ? problems.join("; ") : null;
}

async function inspectTransactions(_env: Env, d1: D1Database, ids: string[]): Promise<Finding[]> {
  const { results } = await d1
    .prepare(
      `SELECT t.id, t.merchant_id, t.ledgerable_type, t.ledgerable_id, COUNT(e.id) AS entries,
         CAST(COALESCE(SUM(CASE WHEN e.direction = 'debit'  THEN e.amount END), 0) AS TEXT) AS debits,
         CAST(COALESCE(SUM(CASE WHEN e.direction = 'credit' THEN e.amount END), 0) AS TEXT) AS credits,
         COALESCE(SUM(CASE WHEN e.id IS NOT NULL AND (a.id IS NULL OR a.merchant_id <> t.merchant_id) THEN 1 ELSE 0 END), 0) AS foreign_entries,
         COUNT(DISTINCT a.currency) AS currencies, MIN(a.currency) AS currency,
         MAX(CASE WHEN e.id = t.id || ':0' THEN e.direction END) AS virtual_direction,
         MAX(CASE WHEN e.id = t.id || ':0' THEN e.amount END) AS virtual_amount,
         MAX(CASE WHEN e.id = t.id || ':1' THEN e.direction END) AS internal_direction,
         MAX(CASE WHEN e.id = t.id || ':1' THEN e.amount END) AS internal_amount,
         d.id AS detail_id, d.direction AS detail_direction, d.amount AS detail_amount, d.currency AS detail_currency,
         d.merchant_id AS detail_merchant_id, d.ledger_transaction_id AS detail_transaction_id
       FROM merchant_ledger_transactions t
       LEFT JOIN merchant_ledger_entries e ON e.transaction_id = t.id
       LEFT JOIN merchant_ledger_accounts a ON a.id = e.ledger_account_id
       LEFT JOIN incoming_payment_details d ON t.ledgerable_type = 'incoming_payment_detail' AND d.id = t.ledgerable_id
       WHERE t.id BETWEEN ? AND ?
       GROUP BY t.id`,
    )
    .bind(ids[0], ids[ids.length - 1])
    .all<TransactionRow>();
  const findings: Finding[] = [];
  for (const row of results) {
    const debits = BigInt(row.debits);
    const credits = BigInt(row.credits);
    if (row.entries < 2 || debits !== credits || row.foreign_entries > 0 || row.currencies !== 1) {
      findings.push({
        check: "merchant_ledger_transactions_balanced",
        item: `${row.id}: ${row.entries} entries, debits ${debits}, credits ${credits}, ${row.foreign_entries} outside ${row.merchant_id}'s ledger, ${row.currencies} currencies`,
      });
    }
    const problem = unaccounted(row);
    if (problem) findings.push({ check: "merchant_ledger_transactions_accounted", item: `${row.id}: ${problem}` });
  }
  return findings;
}

export const merchantLedgerTransactionsSweep: SweepSpec = {
  name: "merchant_ledger_transactions",
  table: "merchant_ledger_transactions",
  unit: "merchant ledger transactions",
  window: invariantLimits.merchant_ledger_transactions_per_call,
  checks: [
    {
      name: "merchant_ledger_transactions_balanced",
      holds: "every merchant-ledger transaction's debits equal its credits (at least two entries, all in its merchant's accounts of one currency)",
    },
    {
      name: "merchant_ledger_transactions_accounted",
      holds: "every merchant-ledger transaction posts the incoming payment detail that names it: its amount, direction, merchant and currency",
    },
  ],
  inspect: inspectTransactions,
};

interface AccountSums {
  id: string;
  cached_debits: string;
  cached_credits: string;
  debits: string;
  credits: string;
}

async function inspectAccounts(_env: Env, d1: D1Database, ids: string[]): Promise<Finding[]> {
  const { results } = await d1
    .prepare(
      `SELECT a.id, CAST(a.posted_debits AS TEXT) AS cached_debits, CAST(a.posted_credits AS TEXT) AS cached_credits,
         CAST(COALESCE(SUM(CASE WHEN e.direction = 'debit'  THEN e.amount END), 0) AS TEXT) AS debits,
         CAST(COALESCE(SUM(CASE WHEN e.direction = 'credit' THEN e.amount END), 0) AS TEXT) AS credits
       FROM merchant_ledger_accounts a LEFT JOIN merchant_ledger_entries e ON e.ledger_account_id = a.id
       WHERE a.id BETWEEN ? AND ?
       GROUP BY a.id`,
    )
    .bind(ids[0], ids[ids.length - 1])
    .all<AccountSums>();
  return results
    .filter((row) => BigInt(row.cached_debits) !== BigInt(row.debits) || BigInt(row.cached_credits) !== BigInt(row.credits))
    .map((row) => ({
      check: "merchant_ledger_balances_equal_entries",
      item: `${row.id}: posted_debits ${row.cached_debits} (entries ${row.debits}), posted_credits ${row.cached_credits} (entries ${row.credits})`,
    }));
}

export const merchantLedgerAccountsSweep: SweepSpec = {
  name: "merchant_ledger_accounts",
  table: "merchant_ledger_accounts",
  unit: "merchant ledger accounts",
  window: invariantLimits.merchant_ledger_accounts_per_call,
  checks: [{ name: "merchant_ledger_balances_equal_entries", holds: "every merchant-ledger account's cached balance equals the sum of its entries" }],
  inspect: inspectAccounts,
};

/** Every call, whole: each merchant's ledger, per currency, balances (from the cached columns the sweep above proves). */
export async function merchantLedgersBalanced(d1: D1Database) {
  const { results } = await d1
    .prepare(
      `SELECT merchant_id, currency, CAST(SUM(posted_debits) AS TEXT) AS debits, CAST(SUM(posted_credits) AS TEXT) AS credits
       FROM merchant_ledger_accounts GROUP BY merchant_id, currency HAVING SUM(posted_debits) <> SUM(posted_credits) LIMIT 50`,
    )
    .all<{ merchant_id: string; currency: string; debits: string; credits: string }>();
  const broken = results.map((row) => `${row.merchant_id} ${row.currency}: debits ${row.debits} ≠ credits ${row.credits}`);
  return {
    name: "merchant_ledgers_balanced",
    ok: broken.length === 0,
    detail: broken.length === 0 ? "every merchant's ledger balances in each currency (Σ debits = Σ credits)" : broken.slice(0, 5).join("; ") + (broken.length > 5 ? ` and ${broken.length - 5} more${broken.length === 50 ? " (first 50)" : ""}` : ""),
  };
}
