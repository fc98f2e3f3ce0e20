/**
 * The invariants cover the whole book a bounded window per call: not ok before a complete pass
 * (it says how far it has got), ok once one is complete and clean, red from the moment a pass
 * finds something until a later complete pass is clean, within a fixed D1 query budget, and
 * safe when two calls race. These tests rely on this file's own D1 (no pass yet when it starts).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { customerAccountStub } from "../../src/accounts/customer-account";
import { customerAccount, openAccountStatement } from "../../src/ledger/accounts";
import { checkInvariants } from "../../src/ledger/invariants";
import { advanceSweep, saveSweeps, type SweepSpec, type SweepState } from "../../src/ledger/sweeps/sweep";
import { invariantLimits } from "../../src/limits";
import { createCustomer, createMerchant } from "../helpers";
import { expectInvariants, fund, getInvariants, type InvariantCheck, type InvariantsReport } from "../money";

const byName = (report: InvariantsReport, name: string): InvariantCheck => report.checks.find((check) => check.name === name)!;

async function customerCount(): Promise<number> {
  return (await env.DB.prepare("SELECT COUNT(*) AS count FROM customers").first<{ count: number }>())!.count;
}

/** `count` customers inserted straight into D1, each with its (empty) ledger account and a fresh object. */
async function insertCustomers(count: number): Promise<void> {
  const rows = Array.from({ length: count }, (_, index) => [`cus_x${String(index).padStart(6, "0")}`, `99${String(index).padStart(9, "0")}`, "Swept", "api", Date.now()]);
  const statements: D1PreparedStatement[] = [];
  for (let start = 0; start < rows.length; start += 20) {
    const chunk = rows.slice(start, start + 20);
    statements.push(
      env.DB.prepare(`INSERT INTO customers (id, cuit, name, origin, created_at) VALUES ${chunk.map(() => "(?, ?, ?, ?, ?)").join(", ")}`).bind(...chunk.flat()),
    );
  }
  for (const [id] of rows) statements.push(openAccountStatement(env.DB, customerAccount(id as string, "ARS"), Date.now(), "customers"));
  await env.DB.batch(statements);
}

/** Calls until the customers sweep completes a pass in the call; returns that call's report. */
async function untilCustomersPassCompletes(): Promise<InvariantsReport> {
  for (let call = 0; call < 10; call++) {
    const report = await getInvariants();
    if (byName(report, "customer_objects_consistent").coverage!.pass.complete) return report;
  }
  throw new Error("the customers sweep did not complete a pass in 10 calls");
}

describe("GET /v1/admin/invariants sweeps", () => {
  it("is not ok before a complete pass covers every customer, says how far it got, and is ok once one has", async () => {
    expect((await env.DB.prepare("SELECT COUNT(*) AS count FROM invariant_sweeps").first<{ count: number }>())!.count).toBe(0);
    // One customer with money, first in id order (the next test corrupts it): `cus_0…` sorts
    // before the `cus_x…` of the rows inserted straight into D1 (customers with no money yet,
    // to have more than a window of them quickly).
    const merchant = await createMerchant();
    const funded = await createCustomer(merchant.api_key);
    expect(funded.id.startsWith("cus_0")).toBe(true);
    await fund(merchant, funded.id, 1_000);
    await insertCustomers(invariantLimits.customers_per_call + 30);
    const total = await customerCount();
    expect(total).toBeGreaterThan(invariantLimits.customers_per_call);

    const partial = await getInvariants();
    expect(partial.ok).toBe(false);
    for (const name of ["customer_objects_consistent", "customer_objects_equal_d1"]) {
      const check = byName(partial, name);
      expect(check.ok).toBe(false);
      expect(check.detail).toBe(`coverage incomplete: ${invariantLimits.customers_per_call} of ${total} customers checked; no complete pass yet`);
      expect(check.coverage).toMatchObject({
        unit: "customers",
        pass: { checked: invariantLimits.customers_per_call, total, total_is_lower_bound: false, complete: false, failures: 0 },
        last_complete_pass: null,
      });
    }
    // A sweep whose rows fit one window completes its pass in the first call.
    expect(byName(partial, "payments_match_ledger")).toMatchObject({ ok: true, coverage: { pass: { complete: true, checked: 1, total: 1 } } });

    const complete = await getInvariants();
    expect(complete.checks.filter((check) => !check.ok)).toEqual([]);
    expect(complete.ok).toBe(true);
    expect(byName(complete, "customer_objects_equal_d1").coverage).toMatchObject({
      pass: { checked: total, total, complete: true, failures: 0 },
      last_complete_pass: { checked: total, failures: 0 },
    });
    expect(byName(complete, "customer_objects_equal_d1").detail).toContain(`all ${total} customers checked by the pass that ended`);
  });

  it("keeps a failure red until a later complete pass is clean, even once the row is repaired", async () => {
    await untilCustomersPassCompletes(); // the next call starts a pass at the first customer
    const first = (await env.DB.prepare("SELECT id FROM customers ORDER BY id LIMIT 1").first<{ id: string }>())!.id;
    expect(first.startsWith("cus_0")).toBe(true);
    const shift = (delta: number) =>
      runInDurableObject(customerAccountStub(env, first), (_instance, state) =>
        state.storage.sql.exec("UPDATE balances SET available = available + ? WHERE currency = 'ARS'", delta),
      );
    await shift(5);
    const found = byName(await getInvariants(), "customer_objects_consistent");
    expect(found.ok).toBe(false);
    expect(found.detail).toMatch(new RegExp(`^1 found so far by the pass in progress \\(200 of \\d+ customers\\): ${first} \\(ARS: balance 1005/0`));
    expect(found.coverage!.pass).toMatchObject({ complete: false, failures: 1 });
    await shift(-5);

    const passEnded = byName(await getInvariants(), "customer_objects_consistent");
    expect(passEnded.ok).toBe(false);
    expect(passEnded.detail).toMatch(new RegExp(`^1 found by the pass that ended .*: ${first} `));
    expect(passEnded.coverage).toMatchObject({ pass: { complete: true, failures: 1 }, last_complete_pass: { failures: 1 } });

    const nextPassUnderway = byName(await getInvariants(), "customer_objects_consistent");
    expect(nextPassUnderway.ok).toBe(false);
    expect(nextPassUnderway.coverage).toMatchObject({ pass: { complete: false, failures: 0 }, last_complete_pass: { failures: 1 } });

    const clean = byName(await getInvariants(), "customer_objects_consistent");
    expect(clean).toMatchObject({ ok: true, coverage: { pass: { complete: true, failures: 0 }, last_complete_pass: { failures: 0 } } });
  });

  it("stays within its D1 query budget whatever the size of the books", async () => {
    // Passes take two calls here: of three calls, one checks a full accounts window (a query per
    // account) besides a handful of queries per sweep. The budget is asserted inside the call too.
    const queries: number[] = [];
    for (let call = 0; call < 3; call++) queries.push((await checkInvariants(env)).queries);
    expect(Math.max(...queries)).toBeGreaterThan(invariantLimits.accounts_per_call);
    expect(Math.max(...queries)).toBeLessThanOrEqual(invariantLimits.d1_queries_per_call);
  });

  it("lets two concurrent calls race: both answer, one advances each sweep, and the books stay provable", async () => {
    const responses = await Promise.all([getInvariants(), getInvariants()]);
    for (const report of responses) expect(report.checks.length).toBeGreaterThan(0);
    await expectInvariants();
  });

  it("drops the write of a call that lost the race for a sweep (compare-and-set), and reports what it found anyway", async () => {
    const spec: SweepSpec = {
      name: "test_race",
      table: "customers",
      unit: "customers",
      window: 2,
      checks: [{ name: "test_check", holds: "holds" }],
      inspect: async (_env, _d1, ids) => [{ check: "test_check", item: ids[0]! }],
    };
    const fresh: SweepState = { version: 0, cursor: null, started_at: null, checked: 0, failures: {}, last_complete: null };
    const now = Date.now();
    const winner = await advanceSweep(env, env.DB, spec, fresh, now);
    const loser = await advanceSweep(env, env.DB, spec, fresh, now);
    expect(await saveSweeps(env.DB, [winner], now)).toEqual(new Set());
    expect(await saveSweeps(env.DB, [loser], now)).toEqual(new Set(["test_race"]));
    const stored = await env.DB.prepare("SELECT version, checked, failures FROM invariant_sweeps WHERE name = 'test_race'").first<{ version: number; checked: number; failures: string }>();
    expect(stored).toMatchObject({ version: 1, checked: 2 });
    expect(JSON.parse(stored!.failures)).toEqual({ test_check: { count: 1, sample: [winner.found[0]!.item] } });
    await env.DB.prepare("DELETE FROM invariant_sweeps WHERE name = 'test_race'").run();
  });
});
