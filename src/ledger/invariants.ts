/**
 * The proofs behind GET /v1/admin/invariants (API §8): the ledger balances, every cached
 * balance equals its entries, the liabilities add up to the settlement account, and each
 * customer's Durable Object agrees with its D1 ledger account.
 */
import { customerAccountStub } from "../accounts/customer-account";
import type { Env } from "../env";
import { customerAccount } from "./accounts";
import { balancesOf, type LedgerAccountRow } from "./views";

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** Customers whose objects are compared per call: the check is O(customers) RPCs. */
export const invariantCustomersMax = 500;

const sample = (ids: string[]) => ids.slice(0, 5).join(", ") + (ids.length > 5 ? ` and ${ids.length - 5} more` : "");

async function ledgerBalanced(d1: D1Database): Promise<Check> {
  const { results } = await d1
    .prepare(
      `SELECT transaction_id FROM ledger_entries GROUP BY transaction_id
       HAVING SUM(CASE WHEN direction = 'debit' THEN amount ELSE 0 END) <> SUM(CASE WHEN direction = 'credit' THEN amount ELSE 0 END)
       LIMIT 50`,
    )
    .all<{ transaction_id: string }>();
  const ids = results.map((row) => row.transaction_id);
  return { name: "ledger_balanced", ok: ids.length === 0, detail: ids.length === 0 ? "every transaction's debits equal its credits" : `unbalanced: ${sample(ids)}` };
}

async function balancesMatchEntries(d1: D1Database): Promise<Check> {
  const { results } = await d1
    .prepare(
      `SELECT a.id FROM ledger_accounts a LEFT JOIN (
         SELECT ledger_account_id,
           SUM(CASE WHEN status = 'posted'  AND direction = 'debit'  THEN amount ELSE 0 END) AS posted_debits,
           SUM(CASE WHEN status = 'posted'  AND direction = 'credit' THEN amount ELSE 0 END) AS posted_credits,
           SUM(CASE WHEN status = 'pending' AND direction = 'debit'  THEN amount ELSE 0 END) AS pending_debits,
           SUM(CASE WHEN status = 'pending' AND direction = 'credit' THEN amount ELSE 0 END) AS pending_credits
         FROM ledger_entries GROUP BY ledger_account_id) e ON e.ledger_account_id = a.id
       WHERE a.posted_debits <> COALESCE(e.posted_debits, 0) OR a.posted_credits <> COALESCE(e.posted_credits, 0)
          OR a.pending_debits <> COALESCE(e.pending_debits, 0) OR a.pending_credits <> COALESCE(e.pending_credits, 0)
       LIMIT 50`,
    )
    .all<{ id: string }>();
  const ids = results.map((row) => row.id);
  return { name: "balances_equal_entries", ok: ids.length === 0, detail: ids.length === 0 ? "every account's balance equals the sum of its entries" : `mismatched: ${sample(ids)}` };
}

/** Per currency: settlement (asset) = customers + merchants' unassigned + suspense; merchants = attribution. */
async function accountsAddUp(d1: D1Database): Promise<Check[]> {
  // Pending balances (posted + pending entries) on both sides: each transaction moves both.
  const { results } = await d1
    .prepare(
      `SELECT currency, kind,
         SUM(CASE WHEN normal_balance = 'credit'
                  THEN posted_credits + pending_credits - posted_debits - pending_debits
                  ELSE posted_debits + pending_debits - posted_credits - pending_credits END) AS balance
       FROM ledger_accounts GROUP BY currency, kind`,
    )
    .all<{ currency: string; kind: string; balance: number }>();
  const totals = new Map<string, { settlement: number; owed: number; attribution: number; merchants: number }>();
  for (const row of results) {
    const total = totals.get(row.currency) ?? { settlement: 0, owed: 0, attribution: 0, merchants: 0 };
    if (row.kind === "settlement") total.settlement += row.balance;
    else if (row.kind === "attribution") total.attribution += row.balance;
    else if (row.kind === "merchant") total.merchants += row.balance;
    else total.owed += row.balance; // customer, merchant_unassigned, suspense
    totals.set(row.currency, total);
  }
  const liabilities: string[] = [];
  const memo: string[] = [];
  for (const [currency, total] of totals) {
    if (total.settlement !== total.owed) liabilities.push(`${currency}: settlement ${total.settlement} ≠ liabilities ${total.owed}`);
    if (total.attribution !== total.merchants) memo.push(`${currency}: merchant balances ${total.merchants} ≠ attribution ${total.attribution}`);
  }
  return [
    {
      name: "liabilities_equal_settlement",
      ok: liabilities.length === 0,
      detail: liabilities.length === 0 ? "customer, merchant-unassigned and suspense balances add up to the settlement account" : liabilities.join("; "),
    },
    {
      name: "merchant_balances_equal_attribution",
      ok: memo.length === 0,
      detail: memo.length === 0 ? "merchant balances add up to their memo contra account" : memo.join("; "),
    },
  ];
}

async function customerObjectsMatchD1(env: Env): Promise<Check[]> {
  const { results: customers } = await env.DB.prepare("SELECT id FROM customers ORDER BY created_at DESC LIMIT ?")
    .bind(invariantCustomersMax)
    .all<{ id: string }>();
  const total = (await env.DB.prepare("SELECT COUNT(*) AS count FROM customers").first<{ count: number }>())?.count ?? 0;
  const broken: string[] = [];
  const drift: string[] = [];
  for (const { id } of customers) {
    const verification = await customerAccountStub(env, id).verify();
    if (!verification.ok) broken.push(`${id} (${verification.detail.join("; ")})`);
    for (const balance of verification.balances) {
      const row = await env.DB.prepare("SELECT * FROM ledger_accounts WHERE id = ?").bind(customerAccount(id, balance.currency).id).first<LedgerAccountRow>();
      const d1 = row ? balancesOf(row) : { available: 0 };
      const d1Reserved = row ? row.pending_debits : 0;
      if (d1.available !== balance.available || d1Reserved !== balance.reserved) {
        drift.push(`${id} ${balance.currency}: object ${balance.available}/${balance.reserved}, D1 ${d1.available}/${d1Reserved}${verification.outbox > 0 ? " (projection pending)" : ""}`);
      }
    }
  }
  const scope = `${customers.length} of ${total} customers (most recent first)`;
  return [
    { name: "customer_objects_consistent", ok: broken.length === 0, detail: broken.length === 0 ? `${scope}: each object's balance equals its entries` : sample(broken) },
    { name: "customer_objects_equal_d1", ok: drift.length === 0, detail: drift.length === 0 ? `${scope}: objects equal their D1 ledger accounts` : sample(drift) },
  ];
}

async function payoutsSynced(d1: D1Database, now: number): Promise<Check> {
  const { results } = await d1
    .prepare("SELECT id FROM payouts WHERE customer_sync IS NOT NULL AND updated_at < ? LIMIT 50")
    .bind(now - 5 * 60 * 1000)
    .all<{ id: string }>();
  const ids = results.map((row) => row.id);
  return { name: "payout_sagas_finished", ok: ids.length === 0, detail: ids.length === 0 ? "no payout waits on its customer's object for over 5 minutes" : `waiting: ${sample(ids)}` };
}

export async function checkInvariants(env: Env, now = Date.now()): Promise<{ ok: boolean; checks: Check[] }> {
  const checks = [
    await ledgerBalanced(env.DB),
    await balancesMatchEntries(env.DB),
    ...(await accountsAddUp(env.DB)),
    ...(await customerObjectsMatchD1(env)),
    await payoutsSynced(env.DB, now),
  ];
  return { ok: checks.every((check) => check.ok), checks };
}
