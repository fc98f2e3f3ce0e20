/**
 * Bench only: the production Worker (everything src/index.ts exports, unchanged) plus the
 * floor route, `POST /bench/floor`, which does the least the design can do per cash-in:
 * one Durable Object RPC that writes once, then one D1 batch. `npm run bench` runs this
 * entry (wrangler.toml + bench/floor-bindings.toml), so the floor is measured in the same
 * workerd, against the same D1, in the same run as the real routes. Production never builds
 * this file, and the route answers only when the BENCH variable is "true".
 *
 * Body: `{ "op_id": string, "customer_id": string, "amount": integer }` → `200 { "ok": true }`.
 *
 * `POST /bench/virtual-account { merchant_id, customer_id }` → `200 { id, account_number }`: an
 * active per_customer virtual account for the pair, allocated by the CVU allocator and written
 * straight to D1 (the `cashin_va` scenario; the provisioning API registers with the bank first).
 *
 * For `npm run bench:reconcile` (bench/reconcile.mjs), also bench-only and behind BENCH=true:
 *   - `POST /bench/seed-statement { booked_at_ms, lines: [[bank_transaction_id, amount], …] }`
 *     books up to 5 000 incoming transfers on the sandbox bank's statement at once (its
 *     `seedStatement`, no webhooks): concepto "sin referencia", no sender → `200 { added }`.
 *   - `POST /bench/seed-payments { booked_at_ms, payments: [[bank_transaction_id, amount], …] }`
 *     inserts the same as our D1 `payments` rows, quarantined with no ledger effect (as the
 *     large-day test does), id derived as the cash-in path derives it, in multi-row INSERTs
 *     under D1's 100 bound parameters per statement, one `batch` per call → `200 { inserted }`.
 *   - every reconciliation queue invocation is metered: the production consumer runs unchanged
 *     with a D1 binding that counts its queries (each statement of a batch counts, as the step's
 *     own budget counts them) and the rows D1 reports read and written; then one log line
 *     `{"bench_metric":"reconciliation_step",…}` (bench/serve.mjs writes those to metrics.jsonl).
 */
import worker from "../src/index";
import { paymentIdOf } from "../src/cashins/receive-transfer";
import { businessDateOf } from "../src/domain/business-day";
import { cvuOf } from "../src/domain/cvu";
import { loadConfig, type Env } from "../src/env";
import { accountLimits } from "../src/limits";
import { withInstrumentedD1 } from "../src/metrics";
import type { ReconciliationMessage } from "../src/reconciliation/driver";
import type { FloorAccount } from "./floor-account";

export * from "../src/index";
export { FloorAccount } from "./floor-account";

interface BenchEnv extends Env {
  FLOOR_ACCOUNTS: DurableObjectNamespace<FloorAccount>;
  BENCH?: string;
}

interface FloorRequest {
  op_id: string;
  customer_id: string;
  amount: number;
}

/** The floor's D1 table, created once per isolate (outside the measured batch). */
let floorTable: Promise<unknown> | null = null;

function ensureFloorTable(d1: D1Database): Promise<unknown> {
  floorTable ??= d1
    .prepare(
      "CREATE TABLE IF NOT EXISTS bench_floor (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, amount INTEGER NOT NULL, created_at INTEGER NOT NULL)",
    )
    .run()
    .catch((error: unknown) => {
      floorTable = null;
      throw error;
    });
  return floorTable;
}

function isFloorRequest(value: unknown): value is FloorRequest {
  const body = value as Partial<FloorRequest> | null;
  return (
    typeof body?.op_id === "string" &&
    typeof body.customer_id === "string" &&
    typeof body.amount === "number" &&
    Number.isSafeInteger(body.amount) &&
    body.amount > 0
  );
}

async function floor(request: Request, env: BenchEnv): Promise<Response> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    return Response.json({ error: "body is not JSON" }, { status: 400 });
  }
  if (!isFloorRequest(body)) return Response.json({ error: "expected { op_id, customer_id, amount }" }, { status: 400 });
  await ensureFloorTable(env.DB);
  const account = env.FLOOR_ACCOUNTS.get(env.FLOOR_ACCOUNTS.idFromName(body.customer_id));
  await account.record(body.op_id, body.amount);
  await env.DB.batch([
    env.DB.prepare("INSERT INTO bench_floor (id, customer_id, amount, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING").bind(
      body.op_id,
      body.customer_id,
      body.amount,
      Date.now(),
    ),
  ]);
  return Response.json({ ok: true });
}

/** A per_customer virtual account, active at once (no bank registration: bench only). */
async function benchVirtualAccount(request: Request, env: BenchEnv): Promise<Response> {
  const body = (await request.json().catch(() => null)) as { merchant_id?: unknown; customer_id?: unknown } | null;
  if (typeof body?.merchant_id !== "string" || typeof body.customer_id !== "string") return Response.json({ error: "expected { merchant_id, customer_id }" }, { status: 400 });
  const id = `va_bench_${crypto.randomUUID().replaceAll("-", "")}`;
  const now = Date.now();
  const allocation = await env.DB.prepare("INSERT INTO cvu_allocations (virtual_account_id, allocated_at) VALUES (?, ?) RETURNING seq").bind(id, now).first<{ seq: number }>();
  const account_number = cvuOf(loadConfig(env).cvuPspCode, allocation!.seq);
  await env.DB.prepare(
    `INSERT INTO virtual_accounts (id, account_number, kind, status, merchant_id, customer_id, currency, registered_at, created_at, updated_at)
     VALUES (?, ?, 'per_customer', 'active', ?, ?, 'ARS', ?, ?, ?)`,
  )
    .bind(id, account_number, body.merchant_id, body.customer_id, now, now, now)
    .run();
  return Response.json({ id, account_number });
}

// ── reconciliation benchmark: seeding a large day, metering each step ────────────────────

/** Lines per `seedStatement` call (one sandbox bank transaction), and per request. */
const SEED_LINES_MAX = 5_000;

type SeedRow = [bank_transaction_id: string, amount: number];

interface SeedRequest {
  booked_at_ms: number;
  rows: SeedRow[];
}

async function seedRequest(request: Request, field: "lines" | "payments"): Promise<SeedRequest | Response> {
  let body: Record<string, unknown>;
  try {
    body = (await request.json()) as Record<string, unknown>;
  } catch {
    return Response.json({ error: "body is not JSON" }, { status: 400 });
  }
  const rows = body?.[field];
  const booked_at_ms = body?.booked_at_ms;
  const valid =
    Number.isSafeInteger(booked_at_ms) &&
    (booked_at_ms as number) > 0 &&
    Array.isArray(rows) &&
    rows.length <= SEED_LINES_MAX &&
    rows.every(
      (row) =>
        Array.isArray(row) &&
        row.length === 2 &&
        typeof row[0] === "string" &&
        row[0].length > 0 &&
        Number.isSafeInteger(row[1]) &&
        (row[1] as number) > 0,
    );
  if (!valid) {
    return Response.json({ error: `expected { booked_at_ms: integer, ${field}: [[bank_transaction_id, amount > 0], …] } with at most ${SEED_LINES_MAX} rows` }, { status: 400 });
  }
  return { booked_at_ms: booked_at_ms as number, rows: rows as SeedRow[] };
}

/** Books the lines on the sandbox bank's statement (no webhooks): a day to reconcile. */
async function seedStatement(request: Request, env: BenchEnv): Promise<Response> {
  const input = await seedRequest(request, "lines");
  if (input instanceof Response) return input;
  const bank = env.SANDBOX_BANK.get(env.SANDBOX_BANK.idFromName("sandbox"));
  const added = await bank.seedStatement(
    input.rows.map(([bank_transaction_id, amount]) => ({
      bank_transaction_id,
      amount,
      currency: "ARS",
      sender: { cuit: null, name: null, cbu: null },
      account_number: null,
      concepto: "sin referencia", // routed to quarantine if it has to be recovered
      booked_at_ms: input.booked_at_ms,
    })),
  );
  return Response.json({ added });
}

/**
 * Our side of the day: quarantined payments, one per line, each with the ledger transaction a
 * quarantined cash-in posts (Dr settlement / Cr suspense), so that the invariants' payment and
 * ledger sweeps find the books as the real path would leave them. Multi-row INSERTs; per row
 * only ids and the amount are bound: the constants are validated integers and a YYYY-MM-DD
 * date, written into the SQL.
 */
async function seedPayments(request: Request, env: BenchEnv): Promise<Response> {
  const input = await seedRequest(request, "payments");
  if (input instanceof Response) return input;
  const bookedAt = input.booked_at_ms;
  const bookedDate = businessDateOf(bookedAt);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(bookedDate)) return Response.json({ error: "booked_at_ms has no business date" }, { status: 400 });
  const rowsPerStatement = Math.floor(accountLimits.d1_parameters_max / 3);
  const ids = await Promise.all(input.rows.map(([bank_transaction_id]) => paymentIdOf(bank_transaction_id)));
  const statements: D1PreparedStatement[] = [];
  for (let start = 0; start < input.rows.length; start += rowsPerStatement) {
    const chunk = input.rows.slice(start, start + rowsPerStatement);
    const chunkIds = chunk.map((_row, index) => ids[start + index]!);
    statements.push(
      env.DB.prepare(
        `INSERT INTO payments (id, bank_transaction_id, status, amount, currency, booked_at, booked_date, created_at, updated_at)
         VALUES ${chunk.map(() => `(?, ?, 'quarantined', ?, 'ARS', ${bookedAt}, '${bookedDate}', ${bookedAt}, ${bookedAt})`).join(", ")}
         ON CONFLICT DO NOTHING`,
      ).bind(...chunk.flatMap(([bank_transaction_id, amount], index) => [chunkIds[index], bank_transaction_id, amount])),
      env.DB.prepare(
        `INSERT INTO ledger_transactions (id, status, description, ledgerable_type, ledgerable_id, effective_at, created_at, updated_at)
         VALUES ${chunk.map(() => `(?, 'posted', 'Cash-in held in suspense', 'payment', ?, ${bookedAt}, ${bookedAt}, ${bookedAt})`).join(", ")}
         ON CONFLICT DO NOTHING`,
      ).bind(...chunkIds.flatMap((id) => [`lt_${id}`, id])),
      env.DB.prepare(
        `INSERT INTO ledger_entries (id, transaction_id, ledger_account_id, direction, amount, status, may_overdraw, created_at)
         VALUES ${chunk
           .map((_row, index) => {
             const [tx, amount] = [`?${2 * index + 1}`, `?${2 * index + 2}`]; // numbered: each bound once, used twice
             return `(${tx} || ':0', ${tx}, 'la_settlement_ars', 'debit', ${amount}, 'posted', 0, ${bookedAt}), (${tx} || ':1', ${tx}, 'la_suspense_ars', 'credit', ${amount}, 'posted', 0, ${bookedAt})`;
           })
           .join(", ")}
         ON CONFLICT DO NOTHING`,
      ).bind(...chunk.flatMap(([, amount], index) => [`lt_${chunkIds[index]}`, amount])),
    );
  }
  const results = statements.length === 0 ? [] : await env.DB.batch(statements);
  // Payments are every third statement; the ledger rows follow them.
  return Response.json({ inserted: results.filter((_result, index) => index % 3 === 0).reduce((total, result) => total + (result.meta.changes ?? 0), 0) });
}

const unwrapMetered = Symbol("unwrapMetered");

/**
 * A D1 binding that counts the queries made through it (each statement of a batch counts, as
 * src/reconciliation/counting-d1.ts counts them) and sums the rows D1 reports read and written
 * (`first()` and `raw()` report none: a lower bound).
 */
function meteredD1(inner: D1Database) {
  const totals = { queries: 0, rows_read: 0, rows_written: 0 };
  const add = (meta: { rows_read?: number; rows_written?: number } | undefined) => {
    totals.rows_read += meta?.rows_read ?? 0;
    totals.rows_written += meta?.rows_written ?? 0;
  };
  const wrap = (statement: D1PreparedStatement): D1PreparedStatement =>
    new Proxy(statement, {
      get(target, property, receiver) {
        if (property === unwrapMetered) return target;
        if (property === "bind") return (...values: unknown[]) => wrap(target.bind(...values));
        if (property === "run" || property === "all") {
          return async (...args: unknown[]) => {
            totals.queries++;
            const result = (await (target[property] as (...a: unknown[]) => Promise<D1Result>).apply(target, args)) as D1Result;
            add(result?.meta);
            return result;
          };
        }
        if (property === "first" || property === "raw") {
          return (...args: unknown[]) => {
            totals.queries++;
            return (target[property] as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
  const d1 = new Proxy(inner, {
    get(target, property, receiver) {
      if (property === "prepare") return (query: string) => wrap(target.prepare(query));
      if (property === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          totals.queries += statements.length;
          const results = await target.batch(statements.map((statement) => (statement as unknown as { [unwrapMetered]?: D1PreparedStatement })[unwrapMetered] ?? statement));
          for (const result of results) add(result?.meta);
          return results;
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
  return { d1, totals };
}

/**
 * The production reconciliation consumer, unchanged, with a metered D1; then one metric line.
 * The run's row is read afterwards, outside the meter (not part of the step's work).
 */
async function meteredReconciliation(batch: MessageBatch<ReconciliationMessage>, env: BenchEnv, ctx: ExecutionContext): Promise<void> {
  const meter = meteredD1(env.DB);
  const started = Date.now();
  await worker.queue(batch, { ...env, DB: meter.d1 }, ctx);
  const ms = Date.now() - started;
  const runId = batch.messages[0]?.body.run_id ?? null;
  const run = runId
    ? await env.DB.prepare("SELECT status, phase, statement_lines, steps FROM reconciliation_runs WHERE id = ?")
        .bind(runId)
        .first<{ status: string; phase: string; statement_lines: number; steps: number }>()
    : null;
  console.log(
    JSON.stringify({
      bench_metric: "reconciliation_step",
      run_id: runId,
      messages: batch.messages.length,
      attempts: batch.messages[0]?.attempts ?? null,
      ...meter.totals,
      ms,
      at: Date.now(),
      after: run,
    }),
  );
}

export default {
  ...worker,
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (env.BENCH === "true" && request.method === "POST") {
      // Counted like the real routes' D1 (src/metrics.ts), so the floor's D1 cost per request is comparable.
      if (url.pathname === "/bench/floor") return floor(request, withInstrumentedD1(env));
      if (url.pathname === "/bench/seed-statement") return seedStatement(request, env);
      if (url.pathname === "/bench/seed-payments") return seedPayments(request, env);
      if (url.pathname === "/bench/virtual-account") return benchVirtualAccount(request, env);
    }
    return worker.fetch(request, env, ctx);
  },
  async queue(batch, env, ctx) {
    if (env.BENCH === "true" && batch.queue.startsWith("reconciliation-steps")) {
      return meteredReconciliation(batch as MessageBatch<ReconciliationMessage>, env, ctx);
    }
    return worker.queue(batch, env, ctx);
  },
} satisfies ExportedHandler<BenchEnv>;
