/**
 * The benchmark's counters (src/metrics.ts): the D1 wrapper answers exactly as the binding
 * does and counts what D1 itself reports; GET /v1/sandbox/metrics shows them to the operator,
 * and only in the sandbox; a cash-in, and the customer object's alarm, move them.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import { newApp } from "../../src/app";
import { database } from "../../src/db/client";
import { merchants } from "../../src/db/schema";
import { armFault, disarmFaults } from "../../src/faults";
import { counters, instrumentD1, timedRead, type Counters } from "../../src/metrics";
import { api, BASE_URL, bearer, createCustomer, createMerchant, operatorHeaders } from "../helpers";
import { depositReference, ownSender, runAccountAlarm, sendBankEvent, transferEvent } from "../money";

interface Metrics {
  isolate_id: string;
  counters: Counters;
}

async function metrics(): Promise<Metrics> {
  const response = await api("/v1/sandbox/metrics", { headers: operatorHeaders() });
  expect(response.status).toBe(200);
  return (await response.json()) as Metrics;
}

function delta(before: Counters, after: Counters): Counters {
  return Object.fromEntries(Object.entries(after).map(([name, value]) => [name, value - before[name as keyof Counters]])) as Counters;
}

/** What the counters moved by while `work` ran (in this test file's isolate: vitest runs one file per workerd). */
async function counted(work: () => Promise<unknown>): Promise<Counters> {
  const before = { ...counters };
  await work();
  return delta(before, { ...counters });
}

describe("instrumentD1", () => {
  const d1 = instrumentD1(env.DB);

  beforeAll(async () => {
    await env.DB.prepare("CREATE TABLE IF NOT EXISTS metrics_probe (id TEXT PRIMARY KEY, n INTEGER NOT NULL, other TEXT)").run();
  });

  it("answers first(), all(), run(), raw() and batch() exactly as the binding does", async () => {
    await env.DB.prepare("INSERT INTO metrics_probe (id, n) VALUES ('same', 7) ON CONFLICT DO NOTHING").run();
    const select = "SELECT id, n, other FROM metrics_probe WHERE id = ?";
    for (const id of ["same", "absent"]) {
      expect(await d1.prepare(select).bind(id).first()).toEqual(await env.DB.prepare(select).bind(id).first());
      expect(await d1.prepare(select).bind(id).first("n")).toEqual(await env.DB.prepare(select).bind(id).first("n"));
      expect(await d1.prepare(select).bind(id).first("other")).toEqual(await env.DB.prepare(select).bind(id).first("other"));
      expect((await d1.prepare(select).bind(id).all()).results).toEqual((await env.DB.prepare(select).bind(id).all()).results);
      expect(await d1.prepare(select).bind(id).raw()).toEqual(await env.DB.prepare(select).bind(id).raw());
      expect(await d1.prepare(select).bind(id).raw({ columnNames: true })).toEqual(await env.DB.prepare(select).bind(id).raw({ columnNames: true }));
    }
    // A join with two columns of the same name: raw() keeps both (drizzle relies on it).
    const join = "SELECT a.id, b.id FROM metrics_probe a JOIN metrics_probe b ON a.id = b.id WHERE a.id = 'same'";
    expect(await d1.prepare(join).raw()).toEqual([["same", "same"]]);
    await expect(d1.prepare(select).bind("same").first("missing")).rejects.toThrow(/D1_COLUMN_NOTFOUND/);
    await expect(env.DB.prepare(select).bind("same").first("missing")).rejects.toThrow(/D1_COLUMN_NOTFOUND/);
    // A batch may mix wrapped and plain statements.
    const results = await d1.batch([d1.prepare(select).bind("same"), env.DB.prepare(select).bind("same")]);
    expect(results.map((result) => result.results)).toEqual([[{ id: "same", n: 7, other: null }], [{ id: "same", n: 7, other: null }]]);
  });

  it("counts a write transaction only when D1 reports a change, and every statement", async () => {
    const id = crypto.randomUUID();
    const insert = () => d1.prepare("INSERT INTO metrics_probe (id, n) VALUES (?, 1) ON CONFLICT DO NOTHING").bind(id);
    const first = await counted(() => insert().run());
    expect(first).toMatchObject({ d1_write_transactions: 1, d1_round_trips: 1, d1_statements: 1, d1_unmetered_statements: 0 });
    expect(first.d1_rows_written).toBeGreaterThanOrEqual(1); // the row and its primary key's index
    // The same insert again writes nothing: one statement, no write transaction.
    expect(await counted(() => insert().run())).toMatchObject({ d1_write_transactions: 0, d1_round_trips: 1, d1_statements: 1, d1_rows_written: 0 });
    // A batch is one transaction, however many statements: counted once if any of them wrote.
    const batch = await counted(() =>
      d1.batch([insert(), d1.prepare("UPDATE metrics_probe SET n = n + 1 WHERE id = ?").bind(id), d1.prepare("SELECT n FROM metrics_probe WHERE id = ?").bind(id)]),
    );
    expect(batch).toMatchObject({ d1_write_transactions: 1, d1_round_trips: 1, d1_statements: 3, d1_failed_round_trips: 0 });
    expect(await counted(() => d1.batch([insert(), insert()]))).toMatchObject({ d1_write_transactions: 0, d1_round_trips: 1, d1_statements: 2 });
    // Reads: first() reports no meta to its caller, but is metered (run as all()).
    const reads = await counted(async () => {
      await d1.prepare("SELECT n FROM metrics_probe WHERE id = ?").bind(id).first();
      await d1.prepare("SELECT n FROM metrics_probe WHERE id = ?").bind(id).all();
    });
    expect(reads).toMatchObject({ d1_write_transactions: 0, d1_round_trips: 2, d1_statements: 2, d1_unmetered_statements: 0 });
    expect(reads.d1_rows_read).toBeGreaterThanOrEqual(2);
    // raw() (drizzle's selects) gives no meta at all: counted, and said to be unmetered.
    const raw = await counted(() => d1.prepare("SELECT n FROM metrics_probe WHERE id = ?").bind(id).raw());
    expect(raw).toMatchObject({ d1_write_transactions: 0, d1_round_trips: 1, d1_statements: 1, d1_unmetered_statements: 1, d1_busy_ms: 0 });
  });

  it("times a drizzle read sent through timedRead (a batch of one: one round trip, with its meta); the same read awaited alone is unmetered", async () => {
    const id = `mer_probe_${crypto.randomUUID()}`;
    const reference = `MR-PROBE-${crypto.randomUUID()}`;
    await env.DB.prepare("INSERT INTO merchants (id, name, reference, webhook_secret, created_at) VALUES (?, 'Probe', ?, 'x', 0)").bind(id, reference).run();
    const db = database(d1);
    const byReference = (wanted: string) => db.select({ id: merchants.id }).from(merchants).where(eq(merchants.reference, wanted)).limit(1);
    let found: unknown;
    const timed = await counted(async () => (found = await timedRead(db, byReference(reference))));
    expect(found).toEqual([{ id }]);
    expect(timed).toMatchObject({ d1_round_trips: 1, d1_statements: 1, d1_unmetered_statements: 0, d1_write_transactions: 0, d1_failed_round_trips: 0 });
    expect(timed.d1_rows_read).toBeGreaterThanOrEqual(1);
    expect(await timedRead(db, byReference("MR-NO-SUCH"))).toEqual([]); // none: what the plain read answers
    expect(await byReference(reference)).toEqual([{ id }]);
    expect(await counted(() => byReference(reference))).toMatchObject({ d1_round_trips: 1, d1_statements: 1, d1_unmetered_statements: 1, d1_busy_ms: 0 });
  });

  it("adds D1's own duration: a query that scans many rows shows it", async () => {
    const moved = await counted(() =>
      d1.prepare("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT count(*) AS n FROM c").first(),
    );
    expect(moved.d1_unmetered_statements).toBe(0);
    expect(moved.d1_busy_ms).toBeGreaterThan(0);
  });

  it("counts a failed batch as a failed round trip, and fails as the binding fails", async () => {
    const id = crypto.randomUUID();
    const failing = () => [
      d1.prepare("INSERT INTO metrics_probe (id, n) VALUES (?, 1)").bind(id),
      d1.prepare("INSERT INTO metrics_probe (id, n) VALUES (?, 2)").bind(id), // the same primary key: aborts the batch
    ];
    let error: unknown;
    const moved = await counted(() => d1.batch(failing()).catch((caught: unknown) => (error = caught)));
    expect(String(error)).toMatch(/UNIQUE constraint failed/);
    expect(moved).toMatchObject({ d1_failed_round_trips: 1, d1_round_trips: 1, d1_statements: 2, d1_write_transactions: 0 });
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM metrics_probe WHERE id = ?").bind(id).first("n")).toBe(0);
  });

  it("is the same wrapper when wrapped twice (no double counting)", async () => {
    expect(instrumentD1(d1)).toBe(d1);
    expect(instrumentD1(env.DB)).toBe(d1);
    expect(await counted(() => instrumentD1(d1).prepare("SELECT 1").all())).toMatchObject({ d1_round_trips: 1, d1_statements: 1 });
  });
});

describe("GET /v1/sandbox/metrics", () => {
  async function referencedCashIn(amount: number) {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = await depositReference(merchant.api_key, customer.id);
    return { merchant, customer, event: transferEvent({ amount, concepto: `pago ${reference}`, sender: await ownSender(customer.id) }) };
  }

  it("a cash-in moves the counters of the isolate that answers: one write transaction, its merchant's row once", async () => {
    const { event } = await referencedCashIn(5_000);
    const before = await metrics();
    expect((await sendBankEvent(event)).status).toBe(200);
    const after = await metrics();
    expect(after.isolate_id).toBe(before.isolate_id);
    const moved = delta(before.counters, after.counters);
    expect(moved.d1_write_transactions).toBeGreaterThanOrEqual(1);
    expect(moved.d1_statements).toBeGreaterThanOrEqual(5); // routing reads, the projection's batch
    expect(moved.d1_round_trips).toBeLessThanOrEqual(moved.d1_statements);
    expect(moved.d1_busy_ms).toBeGreaterThanOrEqual(0);
    expect(moved.merchant_row_writes).toBe(1);
    expect(moved.d1_unmetered_statements).toBe(0); // no drizzle read on the cash-in path: its busy time is complete
    // The bank's redelivery replays: the merchant's row does not move again.
    const again = await metrics();
    expect((await sendBankEvent(event)).status).toBe(200);
    expect(delta(again.counters, (await metrics()).counters).merchant_row_writes).toBe(0);
  });

  it("counts the customer object's alarm replay too (the object runs in this isolate locally)", async () => {
    const { customer, event } = await referencedCashIn(4_000);
    armFault("cashin.after_account_credit");
    try {
      expect((await sendBankEvent(event)).status).toBe(500); // credited in the object, nothing in D1
    } finally {
      disarmFaults();
    }
    const before = await metrics();
    await runAccountAlarm(customer.id);
    const moved = delta(before.counters, (await metrics()).counters);
    expect(moved.d1_write_transactions).toBeGreaterThanOrEqual(1);
    expect(moved.merchant_row_writes).toBe(1);
  });

  it("needs the operator key: 401 without one, 403 with a merchant's", async () => {
    expect((await api("/v1/sandbox/metrics")).status).toBe(401);
    const merchant = await createMerchant();
    const response = await api("/v1/sandbox/metrics", { headers: bearer(merchant.api_key) });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "forbidden" });
  });

  for (const setting of ["false", undefined]) {
    it(`answers 404 not_found to ${setting === undefined ? "an unset" : "a false"} SANDBOX, even to the operator`, async () => {
      const context = createExecutionContext();
      // Outside the sandbox the retry base must give 3 days of retries (src/env.ts): the production one.
      const bindings = { ...env, SANDBOX: setting, WEBHOOK_RETRY_BASE_MS: "60000" } as typeof env;
      const response = await newApp().fetch(new Request(`${BASE_URL}/v1/sandbox/metrics`, { headers: operatorHeaders() }), bindings, context);
      await waitOnExecutionContext(context);
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ code: "not_found" });
    });
  }
});
