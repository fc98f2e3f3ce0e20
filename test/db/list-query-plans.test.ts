/**
 * Every paginated list (routes through pageQuery in src/pagination.ts) reads through the index
 * built for it in migrations/: each request below goes through the real route, the SQL drizzle
 * sent to D1 is recorded with its bound values, and SQLite's EXPLAIN QUERY PLAN of that very
 * statement must be the expected one. The expectations are the plans the raw SQL these lists
 * used before drizzle had (merchants, unfiltered bank events and reconciliation runs have no
 * index on their page key: a scan then as now). A list that drops to a full scan, or sorts
 * what its index would have ordered, fails here.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { newApp } from "../../src/app";
import { encodeCursor } from "../../src/pagination";
import { startRun } from "../../src/reconciliation/runs";
import { BASE_URL, bearer, createCustomer, createMerchant, operatorHeaders, type TestMerchant } from "../helpers";

interface Statement {
  sql: string;
  params: unknown[];
}

/** env.DB, noting every statement prepared through it and the values bound to it. */
function recordingD1(d1: D1Database, log: Statement[]): D1Database {
  const bound = <T extends object>(target: T, prop: string | symbol): unknown => {
    const value: unknown = Reflect.get(target, prop, target);
    return typeof value === "function" ? value.bind(target) : value;
  };
  return new Proxy(d1, {
    get(target, prop) {
      if (prop !== "prepare") return bound(target, prop);
      return (sql: string) => {
        const entry: Statement = { sql, params: [] };
        log.push(entry);
        return new Proxy(target.prepare(sql), {
          get(statement, key) {
            if (key !== "bind") return bound(statement, key);
            return (...params: unknown[]) => {
              entry.params = params;
              return statement.bind(...params);
            };
          },
        });
      };
    },
  });
}

/** Runs the request and answers the plan of the one list query it sent (ORDER BY on `table`). */
async function planOf(path: string, headers: Record<string, string>, table: string): Promise<string[]> {
  const log: Statement[] = [];
  const context = createExecutionContext();
  const response = await newApp().fetch(new Request(`${BASE_URL}${path}`, { headers }), { ...env, DB: recordingD1(env.DB, log) }, context);
  await waitOnExecutionContext(context);
  expect(response.status, await response.clone().text()).toBe(200);
  // The list's page query is the first newest-first read of its table (a quarantined payment's
  // suggestion, read after it, may query payments too).
  const list = log.find((statement) => statement.sql.includes(`from "${table}"`) && / desc limit \?$/.test(statement.sql));
  expect(list, log.map((statement) => statement.sql).join("\n")).toBeDefined();
  const { sql, params } = list!;
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .bind(...params)
    .all<{ detail: string }>();
  return results.map((row) => row.detail);
}

const cursor = encodeCursor({ created_at: Date.now(), id: "zzz" });

describe("list queries keep their index", () => {
  let merchant: TestMerchant;
  let customerId: string;
  let runId: string;
  beforeAll(async () => {
    merchant = await createMerchant("Query plans");
    customerId = (await createCustomer(merchant.api_key)).id;
    runId = (await startRun(env, "2026-01-05", "operator")).id;
  });

  const search = (table: string, index: string, equalities: string) => [`SEARCH ${table} USING INDEX ${index} (${equalities})`];

  // [name, path (a cursor is added to each), caller, table, expected plan]
  const cases: Array<[string, () => string, "operator" | "merchant", string, string[]]> = [
    ["bank events", () => "/v1/admin/bank-events", "operator", "bank_events", ["SCAN bank_events", "USE TEMP B-TREE FOR ORDER BY"]],
    [
      "bank events by status",
      () => "/v1/admin/bank-events?status=failed",
      "operator",
      "bank_events",
      [...search("bank_events", "bank_events_by_status", "status=?"), "USE TEMP B-TREE FOR LAST TERM OF ORDER BY"],
    ],
    ["events, a merchant's", () => "/v1/events", "merchant", "events", search("events", "events_by_merchant", "merchant_id=?")],
    ["events, a merchant's by type", () => "/v1/events?type=payment.credited", "merchant", "events", search("events", "events_by_merchant_type", "merchant_id=? AND type=?")],
    ["events, all", () => "/v1/events", "operator", "events", ["SCAN events USING INDEX events_by_time"]],
    ["events, all by type", () => "/v1/events?type=payment.credited", "operator", "events", search("events", "events_by_type", "type=?")],
    ["events, the operator's by merchant", () => `/v1/events?merchant_id=${merchant.id}`, "operator", "events", search("events", "events_by_merchant", "merchant_id=?")],
    ["merchants", () => "/v1/merchants", "operator", "merchants", ["SCAN merchants", "USE TEMP B-TREE FOR ORDER BY"]],
    ["payments", () => "/v1/payments", "merchant", "payments", search("payments", "payments_by_merchant", "merchant_id=?")],
    ["payments by status", () => "/v1/payments?status=credited", "merchant", "payments", search("payments", "payments_by_status", "status=?")],
    ["a customer's payments", () => `/v1/customers/${customerId}/payments`, "merchant", "payments", search("payments", "payments_by_customer", "customer_id=? AND merchant_id=?")],
    [
      "a customer's payments by status",
      () => `/v1/customers/${customerId}/payments?status=credited`,
      "merchant",
      "payments",
      search("payments", "payments_by_customer", "customer_id=? AND merchant_id=?"),
    ],
    ["payouts", () => "/v1/payouts", "merchant", "payouts", search("payouts", "payouts_by_merchant", "merchant_id=?")],
    ["payouts by status", () => "/v1/payouts?status=pending", "merchant", "payouts", search("payouts", "payouts_by_merchant", "merchant_id=?")],
    ["a customer's payouts", () => `/v1/customers/${customerId}/payouts`, "merchant", "payouts", search("payouts", "payouts_by_customer", "customer_id=? AND merchant_id=?")],
    [
      "a customer's payouts by status",
      () => `/v1/customers/${customerId}/payouts?status=pending`,
      "merchant",
      "payouts",
      search("payouts", "payouts_by_customer", "customer_id=? AND merchant_id=?"),
    ],
    ["quarantine", () => "/v1/admin/quarantine", "operator", "payments", search("payments", "payments_by_status", "status=?")],
    ["reconciliation runs", () => "/v1/admin/reconciliations", "operator", "reconciliation_runs", ["SCAN reconciliation_runs", "USE TEMP B-TREE FOR ORDER BY"]],
    [
      "reconciliation runs by date",
      () => "/v1/admin/reconciliations?date=2026-01-05",
      "operator",
      "reconciliation_runs",
      [...search("reconciliation_runs", "reconciliation_runs_by_date", "date=?"), "USE TEMP B-TREE FOR LAST TERM OF ORDER BY"],
    ],
    [
      "a run's discrepancies",
      () => `/v1/admin/reconciliations/${runId}/discrepancies`,
      "operator",
      "reconciliation_discrepancies",
      search("reconciliation_discrepancies", "reconciliation_discrepancies_by_run", "run_id=?"),
    ],
  ];

  for (const [name, path, caller, table, expected] of cases) {
    it(`${name}: ${expected.join("; ")}`, async () => {
      const headers = caller === "operator" ? operatorHeaders() : bearer(merchant.api_key);
      expect(await planOf(path(), headers, table)).toEqual(expected);
      // The cursor's condition adds no sort and drops no index.
      const separator = path().includes("?") ? "&" : "?";
      expect(await planOf(`${path()}${separator}cursor=${cursor}`, headers, table)).toEqual(expected);
    });
  }
});
