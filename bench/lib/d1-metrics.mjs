/**
 * The worker's own counters (src/metrics.ts, `GET /v1/sandbox/metrics`, operator key): D1 write
 * transactions, statements, D1's own busy time, merchant-row writes. Per isolate: locally the
 * Worker and its Durable Objects share one workerd isolate, so one reading covers both; two
 * readings are compared only when they come from the same isolate.
 */
import { round, sleep } from "./common.mjs";
import { api, expectStatus } from "./http.mjs";

export async function readMetrics(operatorKey) {
  const { json } = await expectStatus("sandbox metrics", api("GET", "/v1/sandbox/metrics", { key: operatorKey }), 200);
  return json;
}

/**
 * A reading taken once D1 has been quiet (no statement counted) for `quietMs`, at most `maxMs`:
 * work the Worker finishes after its answers (a group commit's flush, the payout queue's
 * consumer, an object's alarm) lands before the reading, not in the next one. Reading the
 * counters costs no D1 query (the operator key is not looked up).
 */
export async function quietMetrics(operatorKey, { quietMs = 600, pollMs = 200, maxMs = 20_000 } = {}) {
  const started = performance.now();
  let last = await readMetrics(operatorKey);
  let quietSince = performance.now();
  while (performance.now() - started < maxMs) {
    await sleep(pollMs);
    const next = await readMetrics(operatorKey);
    if (next.isolate_id !== last.isolate_id || next.counters.d1_statements !== last.counters.d1_statements) quietSince = performance.now();
    last = next;
    if (performance.now() - quietSince >= quietMs) break;
  }
  return { ...last, waited_ms: Math.round(performance.now() - started) };
}

/** after − before, counter by counter; null if the readings come from different isolates. */
export function metricsDelta(before, after) {
  if (!before || !after || before.isolate_id !== after.isolate_id) return null;
  return Object.fromEntries(Object.entries(after.counters).map(([name, value]) => [name, value - (before.counters[name] ?? 0)]));
}

/** a − b, counter by counter (both deltas). */
export function subtractDelta(a, b) {
  if (!a || !b) return a;
  return Object.fromEntries(Object.entries(a).map(([name, value]) => [name, value - (b[name] ?? 0)]));
}

/**
 * Per operation: D1 write transactions, D1 busy ms and the ceiling one database implies
 * (operations/s = 1000 / busy ms per operation), statements; merchant-row writes when asked.
 */
export function perOperation(delta, operations, { merchantRows = false } = {}) {
  if (!delta || operations <= 0) return null;
  const busy = delta.d1_busy_ms / operations;
  return {
    operations,
    d1_write_transactions: round(delta.d1_write_transactions / operations, 3),
    d1_statements: round(delta.d1_statements / operations, 2),
    // raw() statements (drizzle's selects): counted above, their time not in d1_busy_ms.
    d1_unmetered_statements: round(delta.d1_unmetered_statements / operations, 2),
    d1_busy_ms: round(busy, 3),
    // D1 runs one query at a time per database: its busy time per operation bounds the rate.
    ceiling_per_database: busy > 0 ? Math.round(1000 / busy) : null,
    merchant_row_writes: merchantRows ? round(delta.merchant_row_writes / operations, 3) : null,
  };
}

/**
 * The worker's own projection lag over a run (src/metrics.ts): from a cash-in joining its group
 * commit (the moment its 200 is sent) to the group's commit (its payment is then listed).
 * Percentiles from the histogram's delta, as "at most <bound> ms" (the bucket's upper bound).
 */
export function serverLag(before, after) {
  if (!before?.projection_lag || !after?.projection_lag || before.isolate_id !== after.isolate_id) return null;
  const bounds = after.projection_lag.bounds_ms;
  const counts = after.projection_lag.counts.map((count, index) => count - (before.projection_lag.counts[index] ?? 0));
  const total = counts.reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  const percentile = (p) => {
    let seen = 0;
    for (let index = 0; index < counts.length; index++) {
      seen += counts[index];
      if (seen >= p * total) return index < bounds.length ? bounds[index] : `>${bounds[bounds.length - 1]}`;
    }
    return null;
  };
  return { samples: total, p50_le_ms: percentile(0.5), p99_le_ms: percentile(0.99), max_le_ms: percentile(1) };
}
