/**
 * Customers, a window per call: each customer's Durable Object (the source of truth for its
 * balance) agrees with its own entries, and with its D1 ledger account in every currency
 * either side has. Bound: one object call per customer and one D1 query per window.
 */
import { customerAccountStub } from "../../accounts/customer-account";
import type { Env } from "../../env";
import { invariantLimits } from "../../limits";
import type { Finding, SweepSpec } from "./sweep";

interface D1CustomerAccount {
  owner_id: string;
  currency: string;
  posted_debits: string;
  posted_credits: string;
  pending_debits: string;
}

/** available and reserved as the object keeps them, from D1's cached columns (exact: bigint). */
function d1Balance(row: D1CustomerAccount | undefined): { available: bigint; reserved: bigint } {
  if (!row) return { available: 0n, reserved: 0n };
  return { available: BigInt(row.posted_credits) - BigInt(row.posted_debits) - BigInt(row.pending_debits), reserved: BigInt(row.pending_debits) };
}

async function inspectCustomers(env: Env, d1: D1Database, ids: string[]): Promise<Finding[]> {
  const { results: accounts } = await d1
    .prepare(
      `SELECT owner_id, currency, CAST(posted_debits AS TEXT) AS posted_debits, CAST(posted_credits AS TEXT) AS posted_credits,
         CAST(pending_debits AS TEXT) AS pending_debits
       FROM ledger_accounts WHERE kind = 'customer' AND owner_id BETWEEN ? AND ?`,
    )
    .bind(ids[0], ids[ids.length - 1])
    .all<D1CustomerAccount>();
  const byCustomer = new Map<string, Map<string, D1CustomerAccount>>();
  for (const account of accounts) {
    const currencies = byCustomer.get(account.owner_id) ?? new Map<string, D1CustomerAccount>();
    currencies.set(account.currency, account);
    byCustomer.set(account.owner_id, currencies);
  }

  const findings: Finding[] = [];
  for (let start = 0; start < ids.length; start += invariantLimits.object_calls_in_flight) {
    const chunk = ids.slice(start, start + invariantLimits.object_calls_in_flight);
    const verifications = await Promise.all(chunk.map((id) => customerAccountStub(env, id).verify()));
    chunk.forEach((id, index) => {
      const verification = verifications[index]!;
      if (!verification.ok) findings.push({ check: "customer_objects_consistent", item: `${id} (${verification.detail.join("; ")})` });
      const d1Accounts = byCustomer.get(id) ?? new Map<string, D1CustomerAccount>();
      const currencies = new Set([...verification.balances.map((balance) => balance.currency), ...d1Accounts.keys()]);
      for (const currency of [...currencies].sort()) {
        const object = verification.balances.find((balance) => balance.currency === currency);
        const objectAvailable = BigInt(object?.available ?? 0);
        const objectReserved = BigInt(object?.reserved ?? 0);
        const d1 = d1Balance(d1Accounts.get(currency));
        if (d1.available !== objectAvailable || d1.reserved !== objectReserved) {
          findings.push({
            check: "customer_objects_equal_d1",
            item: `${id} ${currency}: object ${objectAvailable}/${objectReserved}, D1 ${d1.available}/${d1.reserved}${verification.outbox > 0 ? " (projection pending)" : ""}`,
          });
        }
      }
    });
  }
  return findings;
}

export const customersSweep: SweepSpec = {
  name: "customers",
  table: "customers",
  unit: "customers",
  window: invariantLimits.customers_per_call,
  checks: [
    { name: "customer_objects_consistent", holds: "each customer object's balance equals its entries" },
    { name: "customer_objects_equal_d1", holds: "each customer object equals its D1 ledger account (available/reserved)" },
  ],
  inspect: inspectCustomers,
};
