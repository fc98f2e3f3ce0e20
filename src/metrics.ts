/**
 * Counters for the benchmark, per isolate (read by GET /v1/sandbox/metrics when SANDBOX=true).
 * Counting is a few number additions per D1 round trip: it is always on, and nothing reads it
 * in production.
 *
 * The D1 counters come from `instrumentD1`, a wrapper installed where `env.DB` enters the code:
 * the Worker's fetch/queue/scheduled handlers (src/index.ts) and the customer object's
 * constructor (its alarms' replays). They read D1's own result metadata (`meta`), so they say
 * what D1 did, not what the Worker asked for.
 */
import type { RunnableQuery } from "drizzle-orm/runnable-query";
import type { Db } from "./db/client";

/**
 * This isolate's id, drawn at the first reading (random values are not allowed in global scope):
 * the bench compares it before and after a run, since a new isolate restarts the counters at 0.
 */
let isolateId: string | null = null;

export const counters = {
  /** Rows of merchant balances (ledger_accounts of kind merchant) updated, however many entries moved them. */
  merchant_row_writes: 0,
  /** Group commits written (one D1 batch each) and the operations they carried. */
  group_commits: 0,
  group_commit_operations: 0,
  /**
   * D1 round trips that wrote anything: a `batch()` (one transaction, however many statements)
   * or a single statement whose meta says it changed the database (`changed_db`,
   * `rows_written` or `changes`). A batch that wrote nothing (every insert a duplicate) is not one.
   */
  d1_write_transactions: 0,
  /** D1 round trips of any kind: one per `batch()`, `run()`, `all()`, `first()`, `raw()`, `exec()`. */
  d1_round_trips: 0,
  /** Statements D1 executed (each statement of a batch counts). */
  d1_statements: 0,
  /**
   * The sum of D1's own `meta.duration` (ms) over every statement, reads included: D1 executes
   * one query at a time per database, so this is the time the database was busy on our behalf.
   */
  d1_busy_ms: 0,
  d1_rows_read: 0,
  d1_rows_written: 0,
  /**
   * Round trips that failed (an aborted batch, a constraint): D1 reports no meta for them, so
   * their statements count but their busy time and writes cannot.
   */
  d1_failed_round_trips: 0,
  /** Statements whose meta D1 does not give back (`raw()`, see `meteredRaw`): counted, their time not. */
  d1_unmetered_statements: 0,
};

export type Counters = typeof counters;

export function countMerchantRowWrites(rows: number): void {
  counters.merchant_row_writes += rows;
}

export function countGroupCommit(operations: number): void {
  counters.group_commits += 1;
  counters.group_commit_operations += operations;
}

/**
 * Projection lag, server side: from the moment a cash-in's projection joins a group (the
 * moment its 200 is sent) to the moment that group's batch is committed (its payment is then
 * in GET /v1/payments). A histogram: `counts[i]` holds lags ≤ `lagBoundsMs[i]`, the last
 * count those above every bound.
 */
export const lagBoundsMs = [10, 25, 50, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 1500, 2000, 5000] as const;
const lagCounts: number[] = Array(lagBoundsMs.length + 1).fill(0);

export function countProjectionLag(ms: number): void {
  const index = lagBoundsMs.findIndex((bound) => ms <= bound);
  lagCounts[index === -1 ? lagBoundsMs.length : index]! += 1;
}

/** The counters and the isolate they belong to, as GET /v1/sandbox/metrics answers them. */
export function metricsSnapshot(): { isolate_id: string; counters: Counters; projection_lag: { bounds_ms: number[]; counts: number[] } } {
  isolateId ??= crypto.randomUUID();
  return { isolate_id: isolateId, counters: { ...counters }, projection_lag: { bounds_ms: [...lagBoundsMs], counts: [...lagCounts] } };
}

// ── D1 instrumentation ──────────────────────────────────────────────────────────────────

type Meta = Partial<Pick<D1Meta, "duration" | "changed_db" | "changes" | "rows_read" | "rows_written">> | undefined;

/** One statement's meta; whether it wrote anything. */
function record(meta: Meta): boolean {
  counters.d1_statements += 1;
  if (!meta) {
    counters.d1_unmetered_statements += 1;
    return false;
  }
  counters.d1_busy_ms += meta.duration ?? 0;
  counters.d1_rows_read += meta.rows_read ?? 0;
  counters.d1_rows_written += meta.rows_written ?? 0;
  return meta.changed_db === true || (meta.rows_written ?? 0) > 0 || (meta.changes ?? 0) > 0;
}

/** One round trip of `metas.length` statements, as one transaction (a batch is atomic). */
function recordRoundTrip(metas: Meta[]): void {
  counters.d1_round_trips += 1;
  let wrote = false;
  for (const meta of metas) wrote = record(meta) || wrote;
  if (wrote) counters.d1_write_transactions += 1;
}

function recordFailure(statements: number): void {
  counters.d1_round_trips += 1;
  counters.d1_failed_round_trips += 1;
  counters.d1_statements += statements;
}

async function metered<T>(statements: number, call: () => Promise<T>, metasOf: (result: T) => Meta[]): Promise<T> {
  let result: T;
  try {
    result = await call();
  } catch (error) {
    recordFailure(statements);
    throw error;
  }
  recordRoundTrip(metasOf(result));
  return result;
}

const unwrap = Symbol("instrumented statement");
const instrumented = Symbol("instrumented D1");

/**
 * `raw()` is what drizzle uses for its selects, and it drops D1's meta; the statement's session
 * is private in current workerd, and answering raw() from all() would lose columns of the same
 * name (a join's two ids). So a raw() is counted as a round trip and a statement that wrote
 * nothing (drizzle writes go through run()), in `d1_unmetered_statements`, without its time.
 */
function meteredRaw(target: D1PreparedStatement, args: unknown[]): Promise<unknown> {
  return metered(1, () => (target.raw as (...a: unknown[]) => Promise<unknown>).apply(target, args), () => [undefined]);
}

/**
 * A drizzle read sent as a batch of one, so that the counters get its time: alone, drizzle runs a
 * select through raw(), which gives no meta (above); a batch's results carry it. Still one round
 * trip and one statement. Only for the cash-in path's reads, whose D1 time the bench must see
 * whole (test/routes/sandbox-metrics.test.ts); elsewhere a plain drizzle read is fine.
 */
export async function timedRead<T>(db: Db, query: RunnableQuery<T, "sqlite">): Promise<T> {
  const [result] = await db.batch([query]);
  return result as T;
}

/**
 * `first()` drops D1's meta too: it is run as `all()` (the same query, same format, in
 * workerd's binding) and answered as `first()` answers, the D1_COLUMN_NOTFOUND error included.
 */
async function meteredFirst(target: D1PreparedStatement, column: unknown): Promise<unknown> {
  const result = await metered(1, () => target.all(), (all) => [all.meta]);
  const row = result.results[0] as Record<string, unknown> | undefined;
  if (row === undefined) return null;
  if (column === undefined) return row;
  if (row[column as string] === undefined) throw new Error(`D1_COLUMN_NOTFOUND: Column not found (${String(column)})`);
  return row[column as string];
}

function instrumentStatement(statement: D1PreparedStatement): D1PreparedStatement {
  return new Proxy(statement, {
    get(target, property, receiver) {
      switch (property) {
        case unwrap:
          return target;
        case "bind":
          return (...values: unknown[]) => instrumentStatement(target.bind(...values));
        case "run":
        case "all":
          return () => metered(1, () => target[property](), (result) => [result.meta]);
        case "first":
          return (column?: string) => meteredFirst(target, column);
        case "raw":
          return (...args: unknown[]) => meteredRaw(target, args);
        default:
          return Reflect.get(target, property, receiver);
      }
    },
  });
}

const instrumentedOf = new WeakMap<D1Database, D1Database>();

/**
 * A D1 binding that counts, in `counters`, every round trip made through it. Callers see
 * exactly what the binding would answer. Wrapping twice is harmless (the same wrapper).
 * `withSession()` sessions are not counted (nothing uses them).
 */
export function instrumentD1(d1: D1Database): D1Database {
  if ((d1 as unknown as { [instrumented]?: true })[instrumented]) return d1;
  const cached = instrumentedOf.get(d1);
  if (cached) return cached;
  const wrapper = new Proxy(d1, {
    get(target, property, receiver) {
      switch (property) {
        case instrumented:
          return true;
        case "prepare":
          // The wrapper's own prepare (every statement passes here), not a query of ours.
          return (query: string) => instrumentStatement(target.prepare(query));
        case "batch":
          return <T>(statements: D1PreparedStatement[]) =>
            metered(
              statements.length,
              // The proxies stand in for real statements; D1 needs the originals.
              () => target.batch<T>(statements.map((statement) => (statement as unknown as { [unwrap]?: D1PreparedStatement })[unwrap] ?? statement)),
              (results) => results.map((result) => result.meta),
            );
        case "exec":
          return async (query: string) => {
            const result = await target.exec(query);
            counters.d1_round_trips += 1;
            counters.d1_statements += result.count;
            counters.d1_busy_ms += result.duration;
            return result;
          };
        default:
          return Reflect.get(target, property, receiver);
      }
    },
  });
  instrumentedOf.set(d1, wrapper);
  return wrapper;
}

const instrumentedEnvOf = new WeakMap<object, object>();

/** `env` with its DB binding instrumented (the same object for the same env, so no allocation per request). */
export function withInstrumentedD1<E extends { DB: D1Database }>(env: E): E {
  const cached = instrumentedEnvOf.get(env) as E | undefined;
  if (cached) return cached;
  const wrapped = { ...env, DB: instrumentD1(env.DB) };
  instrumentedEnvOf.set(env, wrapped);
  return wrapped;
}
