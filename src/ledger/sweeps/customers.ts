/**
 * Customers, a window per call: each customer's Durable Object (the source of truth for its
 * balance) agrees with its own entries, and with its D1 ledger account in every currency
 * either side has. Bound: one object call per customer and one D1 query per window.
 */
import { customerAccountStub, type Verification } from "../../accounts/customer-account";
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

/**
 * Each object's verification, after it has written to D1 whatever its outbox still holds: a
 * cash-in acknowledged a moment ago may be waiting for its group commit, and comparing before
 * it lands would report a difference that is only in flight. Objects with nothing in their
 * outbox cost one call.
 */
async function verifyProjected(env: Env, ids: string[]): Promise<Verification[]> {
  return Promise.all(
    ids.map(async (id) => {
      const stub = customerAccountStub(env, id);
      const verification = await stub.verify();
      if (verification.outbox === 0) return verification;
      await stub.flushProjections();
      return stub.verify();
    }),
  );
}

async function inspectCustomers(env: Env, d1: D1Database, ids: string[]): Promise<Finding[]> {
  const verifications: Verification[] = [];
  for (let start = 0; start < ids.length; start += invariantLimits.object_calls_in_flight) {
    verifications.push(...(await verifyProjected(env, ids.slice(start, start + invariantLimits.object_calls_in_flight))));
  }
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
  ids.forEach((id, index) => {
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
