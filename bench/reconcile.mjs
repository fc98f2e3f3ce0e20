#!/usr/bin/env node
/**
 * `npm run bench:reconcile`: reconciliation of a full-size business day (issue 4). Plain Node ESM, Node ≥ 22.
 *
 *   1. builds and serves the Worker with fresh state, exactly as `npm run bench` does
 *      (bench/lib/worker.mjs): the real queue consumers run, so the run chains through the real
 *      RECONCILIATION_QUEUE, one step per message, as in production
 *   2. seeds a past business day: RECON_LINES statement lines in the sandbox bank, and our D1
 *      `payments` for all of them but RECON_MISSING (lost webhooks), RECON_MISMATCH of them with
 *      a different amount, plus RECON_EXTRA payments the bank never booked (bench-only routes
 *      of bench/floor-worker.ts; quarantined payments held in suspense, each with its ledger
 *      transaction, so that the invariants' sweeps see the books the real path would leave)
 *   3. starts the run with `POST /v1/admin/reconciliations` and polls it until it completes,
 *      printing progress
 *   4. proves the outcome exactly: every total, every discrepancy (the missing lines recovered
 *      through the real cash-in path into suspense, the suspense account up by exactly their
 *      amounts), `GET /v1/admin/invariants`; measures wall time, steps, lines/s, the worker's
 *      CPU per step (/proc) and, per step, the D1 queries it made (the consumer is metered
 *      in bench/floor-worker.ts) against the step's budget
 *   5. prints a summary and writes bench/reconcile-results.json; stops the worker (also on Ctrl-C / failure)
 *
 * Knobs (environment): see bench/README.md, "Reconciliation benchmark".
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, intEnv, log, mapLimit, round, sleep } from "./lib/common.mjs";
import { failingChecks, invariantsAfterFullPass } from "./lib/invariants.mjs";
import { api, expectStatus, setBase } from "./lib/http.mjs";
import { machine, processTreeCpuMs, table, workerErrors } from "./lib/measure.mjs";
import { cleanupTmp, makeTmp, startWorker, stopWorker, tail, tmpDir, workerPid, workerVars } from "./lib/worker.mjs";

// ── knobs ───────────────────────────────────────────────────────────────────────────────

function dateEnv(name, fallback) {
  const value = process.env[name] || fallback;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(`${value}T15:00:00Z`))) throw new Error(`${name} must be a date YYYY-MM-DD, got ${JSON.stringify(value)}`);
  return value;
}

const knobs = {
  lines: intEnv("RECON_LINES", 1_000_000, 1),
  missing: intEnv("RECON_MISSING", 100, 0),
  mismatch: intEnv("RECON_MISMATCH", 50, 0),
  extra: intEnv("RECON_EXTRA", 50, 0),
  date: dateEnv("RECON_DATE", "2026-03-02"),
  missing_layout: process.env.RECON_MISSING_LAYOUT || "spread",
  timeout_s: intEnv("RECON_TIMEOUT_S", 3600, 1),
  seed_chunk: intEnv("RECON_SEED_CHUNK", 5_000, 1),
  seed_concurrency: intEnv("RECON_SEED_CONCURRENCY", 2, 1),
  poll_s: intEnv("RECON_POLL_S", 2, 1),
  progress_s: intEnv("RECON_PROGRESS_S", 15, 1),
  port: intEnv("BENCH_PORT", 0, 0),
  keep_state: process.env.BENCH_KEEP_STATE === "1",
  verbose: process.env.BENCH_VERBOSE === "1",
  out: path.resolve(ROOT, process.env.RECON_OUT || "bench/reconcile-results.json"),
};
if (knobs.seed_chunk > 5_000) throw new Error("RECON_SEED_CHUNK must be at most 5000 (the bench routes' limit)");
if (knobs.missing + knobs.mismatch > knobs.lines) throw new Error("RECON_MISSING + RECON_MISMATCH must not exceed RECON_LINES");
if (!["spread", "block"].includes(knobs.missing_layout)) throw new Error(`RECON_MISSING_LAYOUT must be spread or block, got ${JSON.stringify(knobs.missing_layout)}`);

/** Noon in Buenos Aires (UTC-3) on the business day: every line and payment is booked then. */
const BOOKED_AT_MS = Date.parse(`${knobs.date}T15:00:00Z`);

/** The step's own D1 budget, read from src/limits.ts so the report never drifts from it. */
function stepQueryBudget() {
  const source = fs.readFileSync(path.join(ROOT, "src", "limits.ts"), "utf8");
  const match = source.match(/d1_queries_per_step:\s*([\d_]+)/);
  return match ? Number(match[1].replaceAll("_", "")) : null;
}

// ── the day: which lines exist where ────────────────────────────────────────────────────

const btId = (index) => `bt_recon_${String(index).padStart(7, "0")}`;
const extraBtId = (k) => `bt_recon_extra_${String(k).padStart(4, "0")}`;
/** Every line has its own amount (centavos), so a wrong match would show. */
const amountOf = (index) => 1_000 + (index % 1_000_000);
const extraAmountOf = (k) => 7_000 + k;

/** `count` distinct indices spread evenly over [0, n), starting `offset` of a stride in, avoiding `taken`. */
function spread(count, n, offset, taken) {
  const out = [];
  for (let k = 0; k < count; k++) {
    let index = Math.floor(((k + offset) * n) / count) % n;
    while (taken.has(index)) index = (index + 1) % n;
    taken.add(index);
    out.push(index);
  }
  return out;
}

/** `count` consecutive indices from the middle of the day: pages full of lost webhooks, the costliest steps. */
function block(count, n, taken) {
  const start = Math.max(0, Math.floor(n / 2) - Math.floor(count / 2));
  const out = Array.from({ length: count }, (_, k) => start + k);
  for (const index of out) taken.add(index);
  return out;
}

function planDay() {
  const taken = new Set();
  const missing = knobs.missing_layout === "block" ? block(knobs.missing, knobs.lines, taken) : spread(knobs.missing, knobs.lines, 0.25, taken);
  const mismatch = spread(knobs.mismatch, knobs.lines, 0.75, taken);
  return {
    missing: new Set(missing),
    mismatch: new Set(mismatch),
    extras: Array.from({ length: knobs.extra }, (_, k) => k),
    missingAmount: missing.reduce((total, index) => total + amountOf(index), 0),
  };
}

// ── seeding ─────────────────────────────────────────────────────────────────────────────

function chunkStarts(total, size) {
  return Array.from({ length: Math.ceil(total / size) }, (_, i) => i * size);
}

/** Prints seeding progress at most every few seconds. */
function seedProgress() {
  const started = performance.now();
  const done = { statement: 0, payments: 0 };
  let lastPrint = started;
  return {
    done,
    add(kind, count) {
      done[kind] += count;
      const now = performance.now();
      if (now - lastPrint > 5_000) {
        lastPrint = now;
        const s = (now - started) / 1000;
        log(`  seeding: statement ${done.statement}/${knobs.lines}, payments ${done.payments}/${knobs.lines - knobs.missing + knobs.extra} (${round(s, 0)} s, ${round((done.statement + done.payments) / s, 0)} rows/s)`);
      }
    },
  };
}

async function seedStatement(progress) {
  const started = performance.now();
  let added = 0;
  await mapLimit(chunkStarts(knobs.lines, knobs.seed_chunk), knobs.seed_concurrency, async (start) => {
    const lines = [];
    for (let index = start; index < Math.min(knobs.lines, start + knobs.seed_chunk); index++) lines.push([btId(index), amountOf(index)]);
    const { json } = await expectStatus("seed statement", api("POST", "/bench/seed-statement", { body: { booked_at_ms: BOOKED_AT_MS, lines } }), 200);
    added += json.added;
    progress.add("statement", lines.length);
  });
  if (added !== knobs.lines) throw new Error(`the sandbox bank's statement gained ${added} lines, not ${knobs.lines} (state not fresh?)`);
  return { rows: added, seconds: round((performance.now() - started) / 1000, 1) };
}

async function seedPayments(plan, progress) {
  const started = performance.now();
  let inserted = 0;
  const expected = knobs.lines - knobs.missing + knobs.extra;
  await mapLimit(chunkStarts(knobs.lines, knobs.seed_chunk), knobs.seed_concurrency, async (start) => {
    const payments = [];
    for (let index = start; index < Math.min(knobs.lines, start + knobs.seed_chunk); index++) {
      if (plan.missing.has(index)) continue; // a lost webhook: the bank booked it, we never heard
      payments.push([btId(index), amountOf(index) + (plan.mismatch.has(index) ? 1 : 0)]);
    }
    const { json } = await expectStatus("seed payments", api("POST", "/bench/seed-payments", { body: { booked_at_ms: BOOKED_AT_MS, payments } }), 200);
    inserted += json.inserted;
    progress.add("payments", payments.length);
  });
  // What the bank never booked (a forged or buggy event): in our ledger only.
  if (plan.extras.length > 0) {
    const payments = plan.extras.map((k) => [extraBtId(k), extraAmountOf(k)]);
    const { json } = await expectStatus("seed extra payments", api("POST", "/bench/seed-payments", { body: { booked_at_ms: BOOKED_AT_MS, payments } }), 200);
    inserted += json.inserted;
    progress.add("payments", payments.length);
  }
  if (inserted !== expected) throw new Error(`D1 gained ${inserted} payments, not ${expected} (state not fresh?)`);
  return { rows: inserted, seconds: round((performance.now() - started) / 1000, 1) };
}

// ── the run ─────────────────────────────────────────────────────────────────────────────

const operator = () => ({ key: VARS.ADMIN_API_KEY });
let VARS = {};

function fmtDuration(seconds) {
  if (seconds < 120) return `${round(seconds, 1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/** Starts the run and polls it to the end; progress on stderr. */
async function reconcile() {
  const pid = workerPid();
  const cpu0 = processTreeCpuMs(pid);
  const started = performance.now();
  const startedAt = Date.now();
  const { json: run } = await expectStatus("start reconciliation", api("POST", "/v1/admin/reconciliations", { ...operator(), body: { date: knobs.date } }), 202);
  log(`run ${run.id} started for ${knobs.date}; polling every ${knobs.poll_s} s (time limit ${knobs.timeout_s} s)…`);
  const deadline = started + knobs.timeout_s * 1000;
  let statementDoneAt = null;
  let report = null;
  let last = { at: started, lines: 0, steps: 0, cpu: cpu0 };
  for (;;) {
    await sleep(knobs.poll_s * 1000);
    const now = performance.now();
    report = (await expectStatus("poll reconciliation", api("GET", `/v1/admin/reconciliations/${run.id}`, operator()), 200)).json;
    if (statementDoneAt === null && (report.totals.statement_lines >= knobs.lines || report.status !== "running")) statementDoneAt = now;
    if (report.status !== "running") break;
    if (now > deadline) throw new Error(`the run did not complete within ${knobs.timeout_s} s (RECON_TIMEOUT_S): ${report.steps} steps, ${report.totals.statement_lines}/${knobs.lines} lines`);
    if (now - last.at >= knobs.progress_s * 1000) {
      const s = (now - started) / 1000;
      const lines = report.totals.statement_lines;
      const rate = (lines - last.lines) / ((now - last.at) / 1000);
      const cpu = processTreeCpuMs(pid);
      const stepsNow = report.steps - last.steps;
      const cpuPerStep = cpu !== null && last.cpu !== null && stepsNow > 0 ? `${round((cpu - last.cpu) / stepsNow, 1)} ms cpu/step, ` : "";
      const busy = cpu !== null && last.cpu !== null ? `worker ${round((cpu - last.cpu) / (now - last.at), 2)} cores busy` : "";
      const eta = rate > 0 && lines < knobs.lines ? `, ETA ${fmtDuration((knobs.lines - lines) / rate)}` : "";
      const where = lines >= knobs.lines ? "statement read; ledger → bank" : `${round((100 * lines) / knobs.lines, 1)} %`;
      log(`  ${fmtDuration(s)}: ${report.steps} steps, ${lines}/${knobs.lines} lines (${where}), ${round(rate, 0)} lines/s now, ${round(lines / s, 0)} avg; ${cpuPerStep}${busy}${eta}`);
      last = { at: now, lines, steps: report.steps, cpu };
    }
  }
  const ended = performance.now();
  const cpu1 = processTreeCpuMs(pid);
  return {
    id: run.id,
    report,
    started_at: startedAt,
    wall_s: round((ended - started) / 1000, 1),
    statement_phase_s: statementDoneAt === null ? null : round((statementDoneAt - started) / 1000, 1),
    ledger_phase_s: statementDoneAt === null ? null : round((ended - statementDoneAt) / 1000, 1),
    worker_cpu_ms: cpu0 === null || cpu1 === null ? null : Math.round(cpu1 - cpu0),
  };
}

/** Every discrepancy of the run, page by page. */
async function allDiscrepancies(runId) {
  const out = [];
  let cursor = null;
  for (;;) {
    const query = `limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const { json } = await expectStatus("discrepancies", api("GET", `/v1/admin/reconciliations/${runId}/discrepancies?${query}`, operator()), 200);
    out.push(...json.data);
    if (!json.has_more) return out;
    cursor = json.next_cursor;
  }
}

// ── proof ───────────────────────────────────────────────────────────────────────────────

async function verify(run, plan, suspenseBefore) {
  const checks = [];
  const check = (name, ok, detail) => checks.push({ name, ok: Boolean(ok), detail });
  const { report } = run;
  const expected = {
    statement_lines: knobs.lines,
    matched: knobs.lines - knobs.missing - knobs.mismatch,
    missing_in_ledger: knobs.missing,
    missing_at_bank: knobs.extra,
    amount_mismatch: knobs.mismatch,
  };
  check("status", report.status === "completed", `run ${report.status}${report.error ? `: ${report.error}` : ""}`);
  for (const [key, want] of Object.entries(expected)) check(`totals.${key}`, report.totals[key] === want, `${report.totals[key]} (expected ${want})`);

  const discrepancies = await allDiscrepancies(run.id);
  const byKind = (kind) => discrepancies.filter((item) => item.kind === kind);
  const missing = byKind("missing_in_ledger");
  const wantMissing = new Set([...plan.missing].map(btId));
  check(
    "missing_in_ledger: exactly the lost lines, each recovered",
    missing.length === wantMissing.size && missing.every((item) => wantMissing.has(item.bank_transaction_id) && item.resolution === "recovered" && item.record_id),
    `${missing.length} discrepancies, ${missing.filter((item) => item.resolution === "recovered").length} recovered (expected ${wantMissing.size}, all recovered)`,
  );
  const mismatch = byKind("amount_mismatch");
  const wantMismatch = new Map([...plan.mismatch].map((index) => [btId(index), amountOf(index)]));
  check(
    "amount_mismatch: exactly the altered lines, amounts as booked",
    mismatch.length === wantMismatch.size &&
      mismatch.every((item) => wantMismatch.get(item.bank_transaction_id) === item.bank_amount && item.ledger_amount === item.bank_amount + 1 && item.resolution === "open"),
    `${mismatch.length} discrepancies (expected ${wantMismatch.size})`,
  );
  const atBank = byKind("missing_at_bank");
  const wantExtra = new Map(plan.extras.map((k) => [extraBtId(k), extraAmountOf(k)]));
  check(
    "missing_at_bank: exactly the payments the bank never booked",
    atBank.length === wantExtra.size && atBank.every((item) => wantExtra.get(item.bank_transaction_id) === item.ledger_amount && item.resolution === "open"),
    `${atBank.length} discrepancies (expected ${wantExtra.size})`,
  );
  check("no other discrepancy", discrepancies.length === missing.length + mismatch.length + atBank.length, `${discrepancies.length} in all`);

  // The recovered lines went through the real cash-in path: quarantined, into suspense. The
  // seeded payments were in suspense before the run, so it moved by exactly the lost lines' amounts.
  const suspense = await suspenseBalance();
  check(
    "suspense account up by exactly the recovered amounts",
    suspense.posted - suspenseBefore.posted === plan.missingAmount,
    `posted ${suspenseBefore.posted} → ${suspense.posted} (expected +${plan.missingAmount})`,
  );

  // A million payments need ~2,000 calls of the invariants' sweeps (500 rows each).
  const invariants = await invariantsAfterFullPass(operator().key, 5_000);
  const failing = failingChecks(invariants);
  check("invariants", invariants.ok === true, failing.length === 0 ? `ok (${invariants.calls} calls)` : failing.join("; "));
  return { expected, checks };
}

async function suspenseBalance() {
  const response = await api("GET", "/v1/ledger/accounts/la_suspense_ars", operator());
  if (response.status === 404) return { posted: 0, pending: 0 }; // not created until first used
  if (response.status !== 200) throw new Error(`suspense account: HTTP ${response.status} ${response.text.slice(0, 300)}`);
  return response.json.balances;
}

// ── per-step metrics (bench/floor-worker.ts meters the production consumer) ─────────────

function readMetrics(file, runId) {
  let text = "";
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return [];
  }
  const out = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const metric = JSON.parse(line);
      if (metric.bench_metric === "reconciliation_step" && metric.run_id === runId) out.push(metric);
    } catch {}
  }
  return out;
}

/** Waits (briefly) until the metrics file holds a line for every committed step. */
async function stepMetrics(file, runId, steps) {
  let metrics = readMetrics(file, runId);
  for (let waited = 0; metrics.length < steps && waited < 10_000; waited += 250) {
    await sleep(250);
    metrics = readMetrics(file, runId);
  }
  return metrics;
}

const percentile = (values, p) => {
  if (values.length === 0) return null;
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

/** Per phase: invocations, lines, D1 queries, wall ms and rows read per step. */
function summarizeSteps(metrics) {
  let phase = "statement";
  let lines = 0;
  const groups = new Map();
  for (const metric of metrics) {
    const after = metric.after ?? {};
    const delta = (after.statement_lines ?? lines) - lines;
    lines = after.statement_lines ?? lines;
    const group = groups.get(phase) ?? { phase, invocations: 0, redelivered: 0, lines: 0, queries: [], ms: [], rows_read: [], rows_written: [], first_start_at: metric.at - metric.ms, last_end_at: metric.at };
    group.invocations++;
    group.last_end_at = metric.at;
    if ((metric.attempts ?? 1) > 1) group.redelivered++;
    group.lines += delta;
    group.queries.push(metric.queries);
    group.ms.push(metric.ms);
    group.rows_read.push(metric.rows_read);
    group.rows_written.push(metric.rows_written);
    groups.set(phase, group);
    phase = after.phase ?? phase;
  }
  return [...groups.values()].map((group) => ({
    phase: group.phase,
    invocations: group.invocations,
    redelivered: group.redelivered,
    lines: group.lines,
    queries_max: Math.max(...group.queries),
    queries_p50: percentile(group.queries, 50),
    ms_p50: percentile(group.ms, 50),
    ms_p99: percentile(group.ms, 99),
    ms_max: Math.max(...group.ms),
    rows_read_max: Math.max(...group.rows_read),
    rows_read_mean: Math.round(group.rows_read.reduce((a, b) => a + b, 0) / group.rows_read.length),
    rows_written_max: Math.max(...group.rows_written),
    busy_s: round(group.ms.reduce((a, b) => a + b, 0) / 1000, 1),
    first_start_at: group.first_start_at,
    last_end_at: group.last_end_at,
  }));
}

// ── main ────────────────────────────────────────────────────────────────────────────────

async function main() {
  const major = Number(process.versions.node.split(".")[0]);
  if (major < 22) throw new Error(`Node ≥ 22 is needed (this is ${process.version}): run \`npm run bench:reconcile\`, which puts the node@22 devDependency first on PATH`);
  const loadAtStart = os.loadavg().map((value) => round(value, 2));
  if (loadAtStart[0] > os.cpus().length * 0.5) {
    log(`note: the machine is already busy (1-minute load average ${loadAtStart[0]} on ${os.cpus().length} cores): wall times will be noisy; CPU per step less so`);
  }
  const benchStarted = performance.now();
  const tmp = makeTmp({ keep: knobs.keep_state });
  VARS = workerVars();
  const worker = await startWorker(tmp, VARS, { port: knobs.port, verbose: knobs.verbose });
  setBase(worker.base);
  const metricsFile = path.join(path.dirname(worker.logFile), "metrics.jsonl");

  const plan = planDay();
  log(
    `seeding ${knobs.date}: ${knobs.lines} statement lines; our payments for all but ${knobs.missing} (lost webhooks), ` +
      `${knobs.mismatch} with a different amount, plus ${knobs.extra} the bank never booked…`,
  );
  const seedStarted = performance.now();
  const seedCpu0 = processTreeCpuMs(worker.pid);
  const progress = seedProgress();
  const [statement, payments] = await Promise.all([seedStatement(progress), seedPayments(plan, progress)]);
  const seedCpu1 = processTreeCpuMs(worker.pid);
  const seeding = {
    wall_s: round((performance.now() - seedStarted) / 1000, 1),
    statement_lines: statement.rows,
    statement_s: statement.seconds,
    payments: payments.rows,
    payments_s: payments.seconds,
    worker_cpu_s: seedCpu0 === null ? null : round((seedCpu1 - seedCpu0) / 1000, 1),
  };
  log(`seeded in ${fmtDuration(seeding.wall_s)} (statement ${statement.seconds} s, payments ${payments.seconds} s, concurrently)`);
  const suspenseBefore = await suspenseBalance();

  const run = await reconcile();
  log(`run ${run.report.status} in ${fmtDuration(run.wall_s)}: ${run.report.steps} steps; verifying…`);
  const { expected, checks } = await verify(run, plan, suspenseBefore);
  const metrics = await stepMetrics(metricsFile, run.id, run.report.steps);
  const phases = summarizeSteps(metrics);
  const budget = stepQueryBudget();
  const maxQueries = metrics.length === 0 ? null : Math.max(...metrics.map((metric) => metric.queries));
  if (metrics.length === 0) {
    checks.push({ name: "per-step metrics", ok: false, detail: `no metric lines in ${metricsFile}` });
  } else if (budget !== null) {
    checks.push({ name: "D1 queries per step within budget", ok: maxQueries <= budget, detail: `max ${maxQueries} (budget ${budget}, limits.d1_queries_per_step)` });
  }
  const workerLog = workerErrors(worker.logFile);
  checks.push({ name: "no worker errors", ok: workerLog.count === 0, detail: workerLog.count === 0 ? "none" : `${workerLog.count} error lines (e.g. a step failed and was retried)` });

  // Phase times from the worker's own clock (each metric line ends with its step): exact, where
  // the polling above only sees the end to within RECON_POLL_S. The statement phase starts at the
  // POST (so it includes the first message's trip through the queue); each next one at the
  // previous phase's last step.
  let phaseStart = run.started_at;
  for (const phase of phases) {
    phase.span_s = round((phase.last_end_at - phaseStart) / 1000, 1);
    phase.between_steps_s = round(phase.span_s - phase.busy_s, 1); // queue hand-offs, and the machine being shared
    phaseStart = phase.last_end_at;
  }
  const active_s = metrics.length === 0 ? run.wall_s : round((metrics[metrics.length - 1].at - run.started_at) / 1000, 1);
  const statementPhase = phases.find((phase) => phase.phase === "statement");
  const ledgerPhases = phases.filter((phase) => phase.phase !== "statement");
  const steps = run.report.steps;
  const reconciliation = {
    run_id: run.id,
    status: run.report.status,
    wall_s: active_s,
    seen_complete_after_s: run.wall_s,
    statement_phase_s: statementPhase ? statementPhase.span_s : run.statement_phase_s,
    ledger_phase_s: ledgerPhases.length > 0 ? round(ledgerPhases.reduce((total, phase) => total + phase.span_s, 0), 1) : run.ledger_phase_s,
    busy_s: metrics.length === 0 ? null : round(phases.reduce((total, phase) => total + phase.busy_s, 0), 1),
    steps,
    invocations: metrics.length,
    lines_per_s: active_s > 0 ? Math.round(knobs.lines / active_s) : null,
    statement_lines_per_s: statementPhase?.span_s ? Math.round(knobs.lines / statementPhase.span_s) : null,
    worker_cpu_s: run.worker_cpu_ms === null ? null : round(run.worker_cpu_ms / 1000, 1),
    worker_cpu_ms_per_step: run.worker_cpu_ms === null || steps === 0 ? null : round(run.worker_cpu_ms / steps, 1),
    worker_cores_busy: run.worker_cpu_ms === null ? null : round(run.worker_cpu_ms / 1000 / run.wall_s, 2), // over the polled wall time
    d1_queries_per_step_max: maxQueries,
    d1_queries_per_step_budget: budget,
    phases,
  };
  const ok = checks.every((item) => item.ok);
  const report = {
    machine: { ...machine(), load_average_at_start: loadAtStart, load_average_at_end: os.loadavg().map((value) => round(value, 2)) },
    config: {
      lines: knobs.lines,
      missing: knobs.missing,
      missing_layout: knobs.missing_layout,
      mismatch: knobs.mismatch,
      extra: knobs.extra,
      date: knobs.date,
      booked_at: new Date(BOOKED_AT_MS).toISOString(),
      seed_chunk: knobs.seed_chunk,
      seed_concurrency: knobs.seed_concurrency,
      poll_s: knobs.poll_s,
      runtime: "workerd through Miniflare (bench/serve.mjs, bindings from wrangler.toml via wrangler), local D1/DO/Queues, 127.0.0.1; the reconciliation queue's real consumer, metered",
    },
    seeding,
    reconciliation,
    totals: { expected, got: run.report.totals },
    checks,
    worker_log: workerLog,
    ok,
    total_s: round((performance.now() - benchStarted) / 1000, 1),
  };
  fs.mkdirSync(path.dirname(knobs.out), { recursive: true });
  fs.writeFileSync(knobs.out, `${JSON.stringify(report, null, 2)}\n`);

  const m = report.machine;
  console.log(`\nMachine: ${m.cpu}, ${m.cores} cores, ${m.memory_gb} GB; ${m.os}; Node ${m.node}; wrangler ${m.wrangler}; ${m.date}`);
  console.log(`Load average (1/5/15 min) at start: ${m.load_average_at_start.join(" / ")}; at end: ${m.load_average_at_end.join(" / ")}\n`);
  console.log(
    table(
      [
        { what: "statement lines", value: knobs.lines },
        { what: "seeding (statement ∥ payments)", value: `${fmtDuration(seeding.wall_s)} (statement ${seeding.statement_s} s, payments ${seeding.payments_s} s)` },
        { what: "reconciliation wall time", value: `${fmtDuration(reconciliation.wall_s)}${reconciliation.busy_s === null ? "" : ` (steps busy ${fmtDuration(reconciliation.busy_s)}, the rest between steps)`}` },
        { what: "  statement phase (bank → ledger)", value: reconciliation.statement_phase_s === null ? "?" : fmtDuration(reconciliation.statement_phase_s) },
        { what: "  ledger phase (ledger → bank)", value: reconciliation.ledger_phase_s === null ? "?" : fmtDuration(reconciliation.ledger_phase_s) },
        { what: "steps (queue messages)", value: `${steps}${metrics.length !== steps ? ` (${metrics.length} invocations)` : ""}` },
        { what: "lines/s (whole run)", value: reconciliation.lines_per_s },
        { what: "worker CPU per step", value: reconciliation.worker_cpu_ms_per_step === null ? "n/a" : `${reconciliation.worker_cpu_ms_per_step} ms (${reconciliation.worker_cores_busy} cores busy)` },
        { what: "max D1 queries in a step", value: maxQueries === null ? "n/a" : `${maxQueries} (budget ${budget})` },
      ],
      [
        { title: "measure", value: (row) => row.what, left: true },
        { title: "value", value: (row) => row.value, left: true },
      ],
    ),
  );
  if (phases.length > 0) {
    console.log(
      `\n${table(phases, [
        { title: "phase", value: (row) => row.phase, left: true },
        { title: "steps", value: (row) => row.invocations },
        { title: "lines", value: (row) => row.lines },
        { title: "span s", value: (row) => row.span_s },
        { title: "busy s", value: (row) => row.busy_s },
        { title: "queries max", value: (row) => row.queries_max },
        { title: "p50", value: (row) => row.queries_p50 },
        { title: "ms p50", value: (row) => row.ms_p50 },
        { title: "ms p99", value: (row) => row.ms_p99 },
        { title: "ms max", value: (row) => row.ms_max },
        { title: "rows read max", value: (row) => row.rows_read_max },
        { title: "rows written max", value: (row) => row.rows_written_max },
      ])}`,
    );
    console.log("(per step, measured inside the worker: D1 queries as the step's budget counts them; wall ms; rows D1 reported read/written)");
  }
  console.log(
    `\n${table(checks, [
      { title: "check", value: (row) => row.name, left: true },
      { title: "ok", value: (row) => (row.ok ? "yes" : "FAILED"), left: true },
      { title: "detail", value: (row) => row.detail, left: true },
    ])}`,
  );
  console.log(`\n${ok ? "Exact." : "FAILED."} Wrote ${path.relative(process.cwd(), knobs.out) || knobs.out}`);
  return ok ? 0 : 1;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  log(`\nbench:reconcile failed: ${error instanceof Error ? error.message : String(error)}`);
  if (tmpDir()) {
    const workerLog = path.join(tmpDir(), "worker.log");
    if (fs.existsSync(workerLog)) log(`\nlast lines of the worker's log:\n${tail(workerLog, 30)}`);
  }
  exitCode = 1;
} finally {
  await stopWorker();
  cleanupTmp();
}
process.exit(exitCode);
