#!/usr/bin/env node
/**
 * `npm run bench`: the throughput benchmark (issue 5). Plain Node ESM, Node ≥ 22.
 *
 *   1. builds the Worker once (wrangler deploy --dry-run) with the bench-only floor route
 *      (bench/floor-worker.ts), applies the D1 migrations to a fresh temporary state directory
 *   2. serves it in workerd (bench/serve.mjs: Miniflare, bindings from wrangler.toml) on
 *      127.0.0.1 at a free port; nothing listens or connects beyond loopback
 *   3. seeds merchants and customers over HTTP
 *   4. runs every scenario at every concurrency with autocannon, keeping track of every
 *      request it sends; after each run it settles what was left unanswered (redelivers cash-ins,
 *      retries payouts with the same Idempotency-Key, as the bank and a client would) and checks
 *      that the books are exact: every balance equals what was acknowledged, invariants green
 *   5. prints a table and writes bench/results.json; stops the worker (also on Ctrl-C / failure)
 *
 * Knobs (environment): see bench/README.md.
 */
import autocannon from "autocannon";
import { createHmac, randomBytes, randomInt } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, intEnv, log, mapLimit, round, sleep } from "./lib/common.mjs";
import { metricsDelta, perOperation, quietMetrics, readMetrics, serverLag, subtractDelta } from "./lib/d1-metrics.mjs";
import { api, expectStatus, setBase } from "./lib/http.mjs";
import { startLagProbe } from "./lib/lag.mjs";
import { failingChecks, invariantsAfterFullPass } from "./lib/invariants.mjs";
import { machine, processTreeCpuMs, quiesce, selfCpuMs, table, workerErrors } from "./lib/measure.mjs";
import { cleanupTmp, makeTmp, startWorker, stopWorker, tail, tmpDir, workerPid, workerVars } from "./lib/worker.mjs";

// ── knobs ───────────────────────────────────────────────────────────────────────────────

const ALL_SCENARIOS = ["floor", "cashin_spread", "cashin_va", "cashin_hot", "payout", "payout_race", "balance_read"];

const knobs = {
  duration_s: intEnv("BENCH_DURATION_S", 10, 1),
  warmup_s: intEnv("BENCH_WARMUP_S", 1, 0),
  timeout_s: intEnv("BENCH_TIMEOUT_S", 10, 1),
  pool_size: intEnv("BENCH_POOL_SIZE", 64, 1),
  concurrency: (process.env.BENCH_CONCURRENCY || "1,16,64").split(",").map((value) => {
    const n = Number(value.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_CONCURRENCY must list positive integers, got ${JSON.stringify(value)}`);
    return n;
  }),
  scenarios: (process.env.BENCH_SCENARIOS || ALL_SCENARIOS.join(",")).split(",").map((value) => {
    const name = value.trim();
    if (!ALL_SCENARIOS.includes(name)) throw new Error(`BENCH_SCENARIOS: unknown scenario ${JSON.stringify(name)} (known: ${ALL_SCENARIOS.join(", ")})`);
    return name;
  }),
  port: intEnv("BENCH_PORT", 0, 0),
  d1_quiet_ms: intEnv("BENCH_D1_QUIET_MS", 600, 0),
  lag_samples: intEnv("BENCH_LAG_SAMPLES", 200, 0),
  keep_state: process.env.BENCH_KEEP_STATE === "1",
  /**
   * Commission (API §12) on the spread and hot pools' merchants: "bps,fixed" (default 150 bps +
   * 10 centavos, so every cash-in posts its fee entries and moves the platform account);
   * "0" or "off": no pricing.
   */
  commission: commissionKnob(process.env.BENCH_COMMISSION ?? "150,10"),
  verbose: process.env.BENCH_VERBOSE === "1",
  out: path.resolve(ROOT, process.env.BENCH_OUT || "bench/results.json"),
};

function commissionKnob(value) {
  if (value === "0" || value === "off") return null;
  const [bps, fixed = "0"] = value.split(",").map((part) => part.trim());
  const pricing = { cash_in_fee_bps: Number(bps), cash_in_fee_fixed: Number(fixed) };
  if (!Number.isInteger(pricing.cash_in_fee_bps) || pricing.cash_in_fee_bps < 0 || pricing.cash_in_fee_bps > 10_000 || !Number.isInteger(pricing.cash_in_fee_fixed) || pricing.cash_in_fee_fixed < 0) {
    throw new Error(`BENCH_COMMISSION must be "bps,fixed" (integers, bps 0..10000) or "off", got ${JSON.stringify(value)}`);
  }
  return pricing;
}

/** The fee the Worker charges (src/commission/fee.ts): min(amount, floor(amount × bps / 10000) + fixed). */
function feeOf(merchant, amount) {
  if (!merchant.pricing) return 0;
  return Math.min(amount, Math.floor((amount * merchant.pricing.cash_in_fee_bps) / 10_000) + merchant.pricing.cash_in_fee_fixed);
}

/** Money: a payout pool customer starts with this much (minor units); payouts are far smaller. */
const PAYOUT_POOL_FUNDING = 1_000_000_000_000;
/**
 * Every other pool's customer starts with one cash-in of this much: a merchant sees a
 * customer's balance only once the customer has a payment with it (API §4), and the proof of
 * the books reads every balance.
 */
const OPENING_CASHIN = 100;
const CASHIN_AMOUNT_MAX = 1_000_000; // up to 10 000.00 ARS per cash-in
const PAYOUT_AMOUNT_MAX = 1_000; // up to 10.00 ARS per payout

// ── HTTP helpers ────────────────────────────────────────────────────────────────────────

let BASE = "";
let VARS = {};

function signature(body) {
  const t = Math.floor(Date.now() / 1000);
  return `t=${t},v1=${createHmac("sha256", VARS.BANK_WEBHOOK_SECRET).update(`${t}.${body}`).digest("hex")}`;
}

// ── test data ───────────────────────────────────────────────────────────────────────────

function randomDigits(count) {
  let digits = "";
  for (let i = 0; i < count; i++) digits += String(randomInt(10));
  return digits;
}

/** A valid CUIT (AFIP mod 11 over weights 5,4,3,2,7,6,5,4,3,2), as in test/helpers.ts. */
function randomCuit() {
  const types = ["20", "23", "24", "27", "30", "33", "34"];
  for (;;) {
    const first10 = types[randomInt(types.length)] + randomDigits(8);
    const weights = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
    const sum = weights.reduce((total, weight, i) => total + weight * Number(first10[i]), 0);
    const check = (11 - (sum % 11)) % 11;
    if (check !== 10) return first10 + String(check);
  }
}

function cbuCheckDigit(digits, weights) {
  const sum = weights.reduce((total, weight, i) => total + weight * Number(digits[i]), 0);
  return String((10 - (sum % 10)) % 10);
}

/** A valid CBU (BCRA check digits on both blocks). */
function randomCbu() {
  const bankBranch = randomDigits(7);
  const account = randomDigits(13);
  return bankBranch + cbuCheckDigit(bankBranch, [7, 1, 3, 9, 7, 1, 3]) + account + cbuCheckDigit(account, [3, 9, 7, 1, 3, 9, 7, 1, 3, 9, 7, 1, 3]);
}

const RUN_ID = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
let sequence = 0;
const uniqueId = (prefix) => `${prefix}_bench_${RUN_ID}_${(++sequence).toString(36)}`;

// ── the books as the bench sees them ────────────────────────────────────────────────────

/** What every balance must be, from the acknowledged operations only. */
const expected = { customers: new Map(), merchants: new Map() };

function bump(map, id, available, reserved) {
  const entry = map.get(id) ?? { available: 0, reserved: 0 };
  entry.available += available;
  entry.reserved += reserved;
  map.set(id, entry);
}

async function createMerchant(name) {
  const { json } = await expectStatus("create merchant", api("POST", "/v1/merchants", { key: VARS.ADMIN_API_KEY, body: { name } }), 201);
  expected.merchants.set(json.id, { available: 0, reserved: 0 });
  return { id: json.id, api_key: json.api_key, customers: [] };
}

async function createCustomer(merchant) {
  const cuit = randomCuit();
  const cbu = randomCbu();
  const { json } = await expectStatus("create customer", api("POST", "/v1/customers", { key: merchant.api_key, body: { cuit, name: `Bench ${cuit}`, cbu } }), 201, 200);
  const details = await expectStatus("deposit details", api("GET", `/v1/customers/${json.id}/deposit-details`, { key: merchant.api_key }), 200);
  const customer = { id: json.id, cuit, cbu, merchant, reference: details.json.reference };
  expected.customers.set(customer.id, { available: 0, reserved: 0 });
  merchant.customers.push(customer);
  return customer;
}

/** A pool: the merchants and customers a scenario drives. */
async function seedPool(name, merchantCount, customersPerMerchant) {
  const merchants = await mapLimit(Array.from({ length: merchantCount }, (_, i) => i), 8, (i) => createMerchant(`Bench ${name} ${i}`));
  const pairs = merchants.flatMap((merchant) => Array.from({ length: customersPerMerchant }, () => merchant));
  const customers = await mapLimit(pairs, 8, (merchant) => createCustomer(merchant));
  return { name, merchants, customers };
}

// ── request streams: each builds requests for autocannon and keeps what it sent ─────────

/**
 * A signed transfer.received to the customer: by its deposit reference in the concepto, or
 * (`viaVirtualAccount`) to its per_customer virtual account's CVU with a concepto that names
 * nobody (routing rule 1).
 */
function cashinBody(customer, amount, bankTransactionId = uniqueId("bt"), viaVirtualAccount = false) {
  const now = new Date().toISOString();
  return JSON.stringify({
    id: uniqueId("evt"),
    type: "transfer.received",
    created_at: now,
    data: {
      bank_transaction_id: bankTransactionId,
      amount,
      currency: "ARS",
      sender: { cuit: customer.cuit, name: `Bench ${customer.cuit}`, cbu: customer.cbu },
      destination: { account_number: viaVirtualAccount ? customer.account_number : null },
      concepto: viaVirtualAccount ? "pago" : `pago ${customer.reference}`,
      booked_at: now,
    },
  });
}

function deliverCashin(body) {
  return api("POST", "/v1/bank/events", { body, headers: { "bank-signature": signature(body) } });
}

/**
 * Signed transfer.received webhooks, round robin over the pool's customers by their references.
 * `lastAcked` is the cash-in answered 200 most recently (the lag probe's next sample).
 */
function cashinStream(pool, definition = {}) {
  const viaVirtualAccount = definition.via === "virtual_account";
  const sent = [];
  let next = randomInt(pool.customers.length);
  return {
    kind: "cashin",
    sent,
    lastAcked: null,
    build(request, context) {
      const customer = pool.customers[next++ % pool.customers.length];
      const amount = 1 + randomInt(CASHIN_AMOUNT_MAX);
      const bank_transaction_id = uniqueId("bt");
      const body = cashinBody(customer, amount, bank_transaction_id, viaVirtualAccount);
      const op = { customer, amount, body, bank_transaction_id, sent_at_ms: Date.now(), status: 0 };
      sent.push(op);
      context.op = op;
      request.method = "POST";
      request.path = "/v1/bank/events";
      request.headers = { ...request.headers, "content-type": "application/json", "bank-signature": signature(body) };
      request.body = body;
      return request;
    },
    onResponse(status, _body, context) {
      if (!context.op) return;
      context.op.status = status;
      if (status === 200) {
        context.op.acked_at = performance.now();
        this.lastAcked = context.op;
      }
    },
  };
}

function payoutBody(customer, amount) {
  return JSON.stringify({ customer_id: customer.id, amount, currency: "ARS" });
}

function postPayout(op) {
  return api("POST", "/v1/payouts", { key: op.customer.merchant.api_key, body: op.body, headers: { "idempotency-key": op.key } });
}

/** POST /v1/payouts (a fresh Idempotency-Key each), round robin over the pool's customers. */
function payoutStream(pool) {
  const sent = [];
  let next = randomInt(pool.customers.length);
  return {
    kind: "payout",
    sent,
    build(request, context) {
      const customer = pool.customers[next++ % pool.customers.length];
      const amount = 1 + randomInt(PAYOUT_AMOUNT_MAX);
      const op = { customer, amount, key: uniqueId("idem"), body: payoutBody(customer, amount), status: 0 };
      sent.push(op);
      context.op = op;
      request.method = "POST";
      request.path = "/v1/payouts";
      request.headers = {
        ...request.headers,
        "content-type": "application/json",
        authorization: `Bearer ${customer.merchant.api_key}`,
        "idempotency-key": op.key,
      };
      request.body = op.body;
      return request;
    },
    onResponse(status, _body, context) {
      if (context.op) context.op.status = status;
    },
  };
}

/** The floor: POST /bench/floor, one DO RPC + one D1 batch, over the pool's customer ids. */
function floorStream(pool) {
  let next = randomInt(pool.customers.length);
  return {
    kind: "floor",
    sent: [],
    build(request) {
      const customer = pool.customers[next++ % pool.customers.length];
      request.method = "POST";
      request.path = "/bench/floor";
      request.headers = { ...request.headers, "content-type": "application/json" };
      request.body = JSON.stringify({ op_id: uniqueId("floor"), customer_id: customer.id, amount: 1 + randomInt(CASHIN_AMOUNT_MAX) });
      return request;
    },
    onResponse() {},
  };
}

/** GET /v1/customers/{id}/balance; every answer is checked against the expected balance. */
function balanceStream(pool) {
  const sent = [];
  const mismatches = [];
  let next = randomInt(pool.customers.length);
  return {
    kind: "balance",
    sent,
    mismatches,
    build(request, context) {
      const customer = pool.customers[next++ % pool.customers.length];
      const op = { customer, status: 0 };
      sent.push(op);
      context.op = op;
      request.method = "GET";
      request.path = `/v1/customers/${customer.id}/balance`;
      request.headers = { ...request.headers, authorization: `Bearer ${customer.merchant.api_key}` };
      request.body = undefined;
      return request;
    },
    onResponse(status, body, context) {
      const op = context.op;
      if (!op) return;
      op.status = status;
      if (status !== 200) return;
      const want = expected.customers.get(op.customer.id);
      try {
        const got = JSON.parse(body);
        if (got.available !== want.available || got.reserved !== want.reserved) {
          mismatches.push(`${op.customer.id}: read ${got.available}/${got.reserved}, expected ${want.available}/${want.reserved}`);
        }
      } catch {
        mismatches.push(`${op.customer.id}: unparseable body`);
      }
    },
  };
}

const streamFactories = { cashin: cashinStream, payout: payoutStream, floor: floorStream, balance: balanceStream };

// ── load: autocannon with a soft stop ───────────────────────────────────────────────────

/**
 * Runs the streams concurrently for `durationS`. At the deadline every connection finishes the
 * request it has in flight and sends no more (a soft stop), so no request is cut off half-way:
 * only a timeout leaves a request unanswered. Throughput = 2xx answers / (end of the last
 * request − start).
 */
async function load(streams, connections, durationS) {
  const started = performance.now();
  const runs = streams.map((stream, index) => {
    const clients = [];
    const counters = { answered: 0, ok: 0, lastAt: started };
    const instance = autocannon({
      url: BASE,
      connections: connections[index],
      pipelining: 1,
      timeout: knobs.timeout_s,
      // A fallback only: the soft stop below ends the run.
      duration: durationS + knobs.timeout_s + 30,
      setupClient: (client) => clients.push(client),
      requests: [{ setupRequest: (request, context) => stream.build(request, context), onResponse: (status, body, context) => stream.onResponse(status, body, context) }],
    });
    instance.on("response", (_client, statusCode) => {
      counters.answered++;
      if (statusCode >= 200 && statusCode < 300) counters.ok++;
      counters.lastAt = performance.now();
    });
    // A timeout or a connection error also ends a request's time on the clock.
    instance.on("reqError", () => {
      counters.lastAt = performance.now();
    });
    return { stream, instance, clients, counters, promise: instance.then((result) => result) };
  });
  const softStop = setTimeout(() => {
    for (const run of runs) for (const client of run.clients) client.responseMax = Math.max(1, client.reqsMade);
  }, durationS * 1000);
  try {
    const results = await Promise.all(runs.map((run) => run.promise));
    return runs.map((run, index) => {
      const result = results[index];
      const elapsed = (run.counters.lastAt - started) / 1000;
      return {
        stream: run.stream,
        connections: connections[index],
        duration_s: round(elapsed, 2),
        requests: run.counters.answered,
        // Successful answers only: a fast error is not throughput.
        throughput_rps: elapsed > 0 ? round(run.counters.ok / elapsed, 1) : 0,
        p50_ms: result.latency.p50,
        p99_ms: result.latency.p99,
        mean_ms: round(result.latency.mean, 2),
        max_ms: result.latency.max,
        errors: result.non2xx + result.errors,
        timeouts: result.timeouts,
        status_codes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count])),
      };
    });
  } finally {
    clearTimeout(softStop);
  }
}

// ── settling and proving the books ──────────────────────────────────────────────────────

/**
 * Before anything is redelivered or retried, each customer's balance must lie within what the
 * answers allow: every acknowledged cash-in (200) credited, every created payout (201)
 * reserved, and any subset of the unanswered ones applied (a timed-out request may or may
 * not have taken effect). Then the unanswered ones are settled, and must then be exact.
 */
async function checkBounds(streams, problems) {
  const bounds = new Map();
  const of = (customer) => {
    let entry = bounds.get(customer);
    if (!entry) bounds.set(customer, (entry = { lo: 0, hi: 0, reservedLo: 0, reservedHi: 0 }));
    return entry;
  };
  for (const stream of streams) {
    if (stream.kind === "cashin") {
      for (const op of stream.sent) {
        const entry = of(op.customer);
        if (op.status === 200) entry.lo += op.amount;
        entry.hi += op.amount;
      }
    }
    if (stream.kind === "payout") {
      for (const op of stream.sent) {
        if (op.status === 422) continue;
        const entry = of(op.customer);
        entry.lo -= op.amount;
        entry.reservedHi += op.amount;
        if (op.status === 201) {
          entry.hi -= op.amount;
          entry.reservedLo += op.amount;
        }
      }
    }
  }
  await mapLimit([...bounds], 8, async ([customer, b]) => {
    const { json } = await expectStatus("balance", api("GET", `/v1/customers/${customer.id}/balance`, { key: customer.merchant.api_key }), 200);
    const before = expected.customers.get(customer.id);
    const available = json.available - before.available;
    const reserved = json.reserved - before.reserved;
    if (available < b.lo || available > b.hi || reserved < b.reservedLo || reserved > b.reservedHi) {
      problems.push(
        `${customer.id} before settling: available moved ${available} (answers allow ${b.lo}…${b.hi}), reserved ${reserved} (allow ${b.reservedLo}…${b.reservedHi})`,
      );
    }
  });
}

/** Cash-ins: every unanswered event is redelivered (as the bank would) until acknowledged. */
async function redeliverCashins(stream, problems, settlement) {
  const unanswered = stream.sent.filter((op) => op.status !== 200);
  settlement.redelivered += unanswered.length;
  await mapLimit(unanswered, 8, async (op) => {
    for (let attempt = 1; attempt <= 10 && op.status !== 200; attempt++) {
      if (attempt > 1) await sleep(500 * attempt);
      op.status = (await deliverCashin(op.body)).status;
    }
    if (op.status !== 200) problems.push(`cash-in to ${op.customer.id} never acknowledged on redelivery (HTTP ${op.status})`);
  });
}

/**
 * Cash-ins, once all are acknowledged: a sample is delivered again (must answer 200 and change
 * nothing), and all of them enter the expected books.
 */
async function confirmCashins(stream, problems, settlement) {
  const acked = stream.sent.filter((op) => op.status === 200);
  const duplicates = acked.slice().sort(() => Math.random() - 0.5).slice(0, 16);
  settlement.duplicates += duplicates.length;
  await mapLimit(duplicates, 8, async (op) => {
    const { status } = await deliverCashin(op.body);
    if (status !== 200) problems.push(`duplicate delivery answered HTTP ${status}, not 200`);
  });

  for (const op of acked) {
    bump(expected.customers, op.customer.id, op.amount, 0);
    bump(expected.merchants, op.customer.merchant.id, op.amount - feeOf(op.customer.merchant, op.amount), 0);
  }
}

/**
 * Payouts: one without a final answer (201 or 422) is retried with the same Idempotency-Key
 * and body, as a client would, until it has one. A 201 reserves its amount on both balances.
 */
async function settlePayouts(stream, problems, settlement) {
  const unanswered = stream.sent.filter((op) => op.status !== 201 && op.status !== 422);
  settlement.retried += unanswered.length;
  await mapLimit(unanswered, 8, async (op) => {
    const deadline = Date.now() + 90_000; // an abandoned key is locked for 60 s (limits.idempotency_lock_ms)
    while (op.status !== 201 && op.status !== 422 && Date.now() < deadline) {
      op.status = (await postPayout(op)).status;
      if (op.status !== 201 && op.status !== 422) await sleep(op.status === 409 ? 2000 : 500);
    }
    if (op.status !== 201 && op.status !== 422) problems.push(`payout ${op.key} has no final answer after retries (HTTP ${op.status})`);
  });
  const refused = stream.sent.filter((op) => op.status === 422).length;
  if (refused > 0) settlement.refused_payouts += refused;
  for (const op of stream.sent) {
    if (op.status !== 201) continue;
    bump(expected.customers, op.customer.id, -op.amount, op.amount);
    bump(expected.merchants, op.customer.merchant.id, -op.amount, op.amount);
  }
}

/** Every customer and merchant of the pool equals the expected books, and the invariants hold. */
async function proveBooks(pool, problems) {
  await mapLimit(pool.customers, 8, async (customer) => {
    const { json } = await expectStatus("customer balance", api("GET", `/v1/customers/${customer.id}/balance`, { key: customer.merchant.api_key }), 200);
    const want = expected.customers.get(customer.id);
    if (json.available !== want.available || json.reserved !== want.reserved) {
      problems.push(`customer ${customer.id}: ${json.available}/${json.reserved}, expected ${want.available}/${want.reserved} (available/reserved)`);
    }
  });
  await mapLimit(pool.merchants, 8, async (merchant) => {
    const { json } = await expectStatus("merchant balance", api("GET", "/v1/merchant/balance", { key: merchant.api_key }), 200);
    const want = expected.merchants.get(merchant.id);
    if (json.available !== want.available || json.reserved !== want.reserved) {
      problems.push(`merchant ${merchant.id}: ${json.available}/${json.reserved}, expected ${want.available}/${want.reserved} (available/reserved)`);
    }
  });
  const invariants = await invariantsAfterFullPass(VARS.ADMIN_API_KEY);
  if (invariants.ok !== true) problems.push(`invariants not ok: ${failingChecks(invariants).join("; ")}`);
}

/**
 * Settles what the run left, in phases the D1 counters can tell apart (`phases`, optional
 * callbacks): the bounds check's reads are the harness's own, and so are the duplicate
 * deliveries; the redeliveries and retries are work the run owes.
 */
async function settle(streams, problems, settlement, phases = {}) {
  if (streams.some((stream) => stream.kind === "cashin" || stream.kind === "payout")) {
    await phases.beforeBounds?.();
    await checkBounds(streams, problems);
    await phases.afterBounds?.();
  }
  for (const stream of streams) {
    if (stream.kind === "cashin") await redeliverCashins(stream, problems, settlement);
    if (stream.kind === "payout") await settlePayouts(stream, problems, settlement);
  }
  await phases.settled?.();
  for (const stream of streams) {
    if (stream.kind === "cashin") await confirmCashins(stream, problems, settlement);
    if (stream.kind === "balance") {
      for (const mismatch of stream.mismatches.slice(0, 5)) problems.push(`balance read: ${mismatch}`);
      if (stream.mismatches.length > 5) problems.push(`balance read: ${stream.mismatches.length - 5} more mismatches`);
    }
  }
}

// ── scenarios ───────────────────────────────────────────────────────────────────────────

const SCENARIOS = {
  floor: { pool: "spread", streams: ["floor"], about: "POST /bench/floor: one DO RPC (one SQLite insert) + one D1 batch (one insert)" },
  cashin_spread: { pool: "spread", streams: ["cashin"], about: `signed transfer.received, ${knobs.pool_size} merchants × 1 customer` },
  cashin_hot: { pool: "hot", streams: ["cashin"], about: `signed transfer.received, 1 merchant × ${knobs.pool_size} customers` },
  cashin_va: {
    pool: "spread",
    streams: ["cashin"],
    via: "virtual_account",
    about: `signed transfer.received to each customer's per_customer CVU (routing rule 1), ${knobs.pool_size} merchants × 1 customer`,
  },
  payout: { pool: "payout", streams: ["payout"], about: `POST /v1/payouts, ${knobs.pool_size} merchants × 1 funded customer` },
  payout_race: { pool: "payout", streams: ["cashin", "payout"], about: "cash-ins and payouts at once on the same customers (connections split)" },
  balance_read: { pool: "spread", streams: ["balance"], about: "GET /v1/customers/{id}/balance, every answer checked" },
};

function splitConnections(total, parts) {
  if (parts === 1) return [total];
  const each = Math.max(1, Math.floor(total / parts));
  return Array.from({ length: parts }, (_, i) => (i === 0 ? Math.max(1, total - each * (parts - 1)) : each));
}

async function runScenario(name, concurrency, pools) {
  const definition = SCENARIOS[name];
  const pool = pools[definition.pool];
  const connections = splitConnections(concurrency, definition.streams.length);
  const settlement = { redelivered: 0, duplicates: 0, retried: 0, refused_payouts: 0 };
  const problems = [];
  const measuresBooks = definition.streams.some((kind) => kind === "cashin" || kind === "payout" || kind === "balance");

  const idle_wait_s = await quiesce(workerPid());
  if (knobs.warmup_s > 0) {
    const warm = definition.streams.map((kind) => streamFactories[kind](pool, definition));
    await load(warm, connections, knobs.warmup_s);
    await settle(warm, problems, settlement);
  }
  const streams = definition.streams.map((kind) => streamFactories[kind](pool, definition));
  const operatorKey = VARS.ADMIN_API_KEY;
  const quiet = () => quietMetrics(operatorKey, { quietMs: knobs.d1_quiet_ms });
  // D1 counters (src/metrics.ts) from a quiet start: the warm-up's late work is not billed here.
  const d1Start = await quiet();
  // The lag probe samples cash-ins of a cash-in-only scenario, beside the load.
  const probe = definition.streams.length === 1 && definition.streams[0] === "cashin" && knobs.lag_samples > 0 ? startLagProbe(streams[0], { maxSamples: knobs.lag_samples }) : null;
  const load1 = os.loadavg()[0];
  const serverCpu0 = processTreeCpuMs(workerPid());
  const selfCpu0 = selfCpuMs();
  const measured = await load(streams, connections, knobs.duration_s);
  const lag = probe ? await probe.stop() : null;
  const serverCpu = serverCpu0 === null ? null : processTreeCpuMs(workerPid()) - serverCpu0;
  const selfCpu = selfCpuMs() - selfCpu0;
  const answered = measured.reduce((total, row) => total + row.requests, 0);
  const cpu = {
    // For a scenario with two streams, per request of either kind.
    server_ms_per_request: serverCpu === null || answered === 0 ? null : round(serverCpu / answered, 2),
    loadgen_ms_per_request: answered === 0 ? null : round(selfCpu / answered, 2),
    server_cores_busy: serverCpu === null ? null : round(serverCpu / 1000 / Math.max(...measured.map((row) => row.duration_s)), 2),
    load_average_1m_before: round(load1, 2),
    load_average_1m_after: round(os.loadavg()[0], 2),
  };
  const settleStarted = performance.now();
  const marks = {};
  await settle(streams, problems, settlement, {
    // The bounds check reads balances: the harness's own D1 reads, measured apart and taken out.
    beforeBounds: async () => (marks.boundsStart = await quiet()),
    afterBounds: async () => (marks.boundsEnd = await readMetrics(operatorKey)),
    // After redeliveries and retries, once D1 is quiet: work finished after the run is in.
    settled: async () => (marks.end = await quiet()),
  });
  if (measuresBooks) await proveBooks(pool, problems);
  const verify_s = round((performance.now() - settleStarted) / 1000, 1);
  const d1 = d1Report(definition, streams, measured, d1Start, marks);

  return measured.map((row) => ({
    scenario: name,
    stream: definition.streams.length > 1 ? row.stream.kind : undefined,
    label: definition.streams.length > 1 ? `${name}/${row.stream.kind}` : name,
    concurrency,
    connections: row.connections,
    duration_s: row.duration_s,
    requests: row.requests,
    throughput_rps: row.throughput_rps,
    p50_ms: row.p50_ms,
    p99_ms: row.p99_ms,
    mean_ms: row.mean_ms,
    max_ms: row.max_ms,
    errors: row.errors,
    timeouts: row.timeouts,
    status_codes: row.status_codes,
    exact: measuresBooks ? problems.length === 0 : null,
    exact_problems: problems.slice(0, 20),
    cpu,
    idle_wait_s,
    settlement,
    verify_s,
    d1,
    lag,
  }));
}

/**
 * The D1 counters' delta over the run and its settling (minus the bounds check's reads), per
 * operation for a one-stream scenario: per cash-in or payout sent (each settled to a final
 * answer, so each took effect once), per answered request for the floor and balance reads.
 */
function d1Report(definition, streams, measured, d1Start, marks) {
  const total = metricsDelta(d1Start, marks.end);
  const bounds = marks.boundsStart && marks.boundsEnd ? metricsDelta(marks.boundsStart, marks.boundsEnd) : null;
  const delta = total && (bounds || !marks.boundsStart) ? subtractDelta(total, bounds) : null;
  if (!delta) return { note: "the worker's isolate changed during the run: its counters restarted, no delta" };
  const one = definition.streams.length === 1 ? definition.streams[0] : null;
  const operations = one === "cashin" || one === "payout" ? streams[0].sent.length : one ? measured[0].requests : 0;
  return {
    per_operation: one ? perOperation(delta, operations, { merchantRows: one === "cashin" }) : null,
    // Group-committed cash-ins' lag as the worker measured it (exact, unlike the probe's bounds).
    server_lag: one === "cashin" ? serverLag(d1Start, marks.end) : null,
    delta: Object.fromEntries(Object.entries(delta).map(([name, value]) => [name, round(value, 3)])),
    bounds_check_subtracted: bounds ? { d1_statements: bounds.d1_statements, d1_busy_ms: round(bounds.d1_busy_ms, 3) } : null,
    quiet_wait_ms: { start: d1Start.waited_ms, end: marks.end?.waited_ms ?? null },
  };
}

// ── report ──────────────────────────────────────────────────────────────────────────────

function ratios(rows) {
  const find = (label, concurrency) => rows.find((row) => row.label === label && row.concurrency === concurrency);
  const out = [];
  for (const concurrency of knobs.concurrency) {
    const pairs = [
      { name: "cash-in (spread) / floor", of: "cashin_spread", over: "floor", target: 1.0, target_at: 16 },
      { name: "cash-in (hot) / floor", of: "cashin_hot", over: "floor", target: null },
      { name: "hot / spread cash-in", of: "cashin_hot", over: "cashin_spread", target: 0.9, target_at: null },
      { name: "virtual account / reference cash-in", of: "cashin_va", over: "cashin_spread", target: null },
      { name: "payout / floor", of: "payout", over: "floor", target: 0.5, target_at: 16 },
      { name: "payout (racing) / floor", of: "payout_race/payout", over: "floor", target: null },
      { name: "balance read / floor", of: "balance_read", over: "floor", target: 1.5, target_at: 16 },
    ];
    for (const pair of pairs) {
      const a = find(pair.of, concurrency);
      const b = find(pair.over, concurrency);
      if (!a || !b || b.throughput_rps === 0) continue;
      const ratio = round(a.throughput_rps / b.throughput_rps, 3);
      // What the ratio would be if throughput were bound by the worker's CPU alone (the case on a
      // saturated or shared machine): floor CPU per request over this one's. Not for a mixed stream.
      const cpuA = a.stream ? null : a.cpu.server_ms_per_request;
      const cpuB = b.stream ? null : b.cpu.server_ms_per_request;
      const by_cpu = cpuA && cpuB ? round(cpuB / cpuA, 3) : null;
      const targeted = pair.target !== null && (pair.target_at === null || pair.target_at === concurrency);
      out.push({
        ratio: pair.name,
        concurrency,
        value: ratio,
        by_cpu,
        target: targeted ? pair.target : null,
        met: targeted ? ratio >= pair.target : null,
      });
    }
  }
  return out;
}

// ── main ────────────────────────────────────────────────────────────────────────────────

async function main() {
  const major = Number(process.versions.node.split(".")[0]);
  if (major < 22) throw new Error(`Node ≥ 22 is needed (this is ${process.version}): run \`npm run bench\`, which puts the node@22 devDependency first on PATH`);
  const loadAtStart = os.loadavg().map((value) => round(value, 2));
  if (loadAtStart[0] > os.cpus().length * 0.5) {
    log(`note: the machine is already busy (1-minute load average ${loadAtStart[0]} on ${os.cpus().length} cores): throughput will be noisy; CPU ms per request less so`);
  }
  const tmp = makeTmp({ keep: knobs.keep_state });
  VARS = workerVars();
  const worker = await startWorker(tmp, VARS, { port: knobs.port, verbose: knobs.verbose });
  BASE = worker.base;
  setBase(BASE);

  const n = knobs.pool_size;
  const needs = new Set(knobs.scenarios.map((name) => SCENARIOS[name].pool));
  log(`seeding: ${[...needs].join(", ")} pools of ${n} customers…`);
  const pools = {};
  if (needs.has("spread")) pools.spread = await seedPool("spread", n, 1);
  if (needs.has("hot")) pools.hot = await seedPool("hot", 1, n);
  if (needs.has("payout")) pools.payout = await seedPool("payout", n, 1);
  if (knobs.commission) {
    // Priced before any cash-in, so every one of theirs pays the fee (the payout pool's merchants stay unpriced).
    for (const pool of [pools.spread, pools.hot].filter(Boolean)) {
      await mapLimit(pool.merchants, 8, async (merchant) => {
        await expectStatus("pricing", api("POST", `/v1/merchants/${merchant.id}/pricing`, { key: VARS.ADMIN_API_KEY, body: knobs.commission }), 200);
        merchant.pricing = knobs.commission;
      });
    }
  }
  if (knobs.scenarios.some((name) => SCENARIOS[name].via === "virtual_account")) {
    // A per_customer virtual account for each spread customer, written by the bench-only route
    // (bench/floor-worker.ts) until the provisioning API can be driven here.
    await mapLimit(pools.spread.customers, 8, async (customer) => {
      const { json } = await expectStatus("virtual account", api("POST", "/bench/virtual-account", { body: { merchant_id: customer.merchant.id, customer_id: customer.id } }), 200);
      customer.account_number = json.account_number;
    });
  }
  for (const pool of Object.values(pools)) {
    // From the customer's own CUIT and CBU (cashinBody), so payouts may go back to that CBU (API §7).
    const amount = pool.name === "payout" ? PAYOUT_POOL_FUNDING : OPENING_CASHIN;
    await mapLimit(pool.customers, 8, async (customer) => {
      await expectStatus("opening cash-in", deliverCashin(cashinBody(customer, amount)), 200);
      bump(expected.customers, customer.id, amount, 0);
      bump(expected.merchants, customer.merchant.id, amount - feeOf(customer.merchant, amount), 0);
    });
  }
  for (const pool of Object.values(pools)) {
    const problems = [];
    await proveBooks(pool, problems);
    if (problems.length > 0) throw new Error(`the books are wrong right after seeding: ${problems.join("; ")}`);
  }

  const rows = [];
  const started = performance.now();
  for (const concurrency of knobs.concurrency) {
    for (const name of knobs.scenarios) {
      log(`▶ ${name} at concurrency ${concurrency} (${knobs.warmup_s ? `${knobs.warmup_s} s warm-up + ` : ""}${knobs.duration_s} s)`);
      const results = await runScenario(name, concurrency, pools);
      for (const row of results) {
        rows.push(row);
        const exact = row.exact === null ? "n/a" : row.exact ? "exact" : "FAILED";
        log(
          `  ${row.label.padEnd(20)} ${String(row.throughput_rps).padStart(8)} req/s  p50 ${row.p50_ms} ms  p99 ${row.p99_ms} ms  ` +
            `errors ${row.errors}  cpu ${row.cpu.server_ms_per_request ?? "?"} ms/req  ` +
            `${row.d1?.per_operation ? `D1 ${row.d1.per_operation.d1_write_transactions} wtx/op ${row.d1.per_operation.d1_busy_ms} ms/op  ` : ""}` +
            `${row.lag ? `lag p50 ${row.lag.lower_bound_p50_ms}–${row.lag.p50_ms} p99 ${row.lag.lower_bound_p99_ms}–${row.lag.p99_ms} ms  ` : ""}${row.idle_wait_s > 2 ? `(waited ${row.idle_wait_s} s for the worker to go idle)  ` : ""}${exact}${row.exact === false ? `: ${row.exact_problems.slice(0, 3).join(" | ")}` : ""}`,
        );
      }
    }
  }
  const total_s = round((performance.now() - started) / 1000, 1);

  const ratioRows = ratios(rows);
  const failed = rows.filter((row) => row.exact === false);
  const report = {
    machine: { ...machine(), load_average_at_start: loadAtStart },
    config: {
      duration_s: knobs.duration_s,
      warmup_s: knobs.warmup_s,
      timeout_s: knobs.timeout_s,
      concurrency: knobs.concurrency,
      scenarios: knobs.scenarios,
      pool_size: knobs.pool_size,
      d1_quiet_ms: knobs.d1_quiet_ms,
      lag_samples: knobs.lag_samples,
      runtime: "workerd through Miniflare (bench/serve.mjs, bindings from wrangler.toml via wrangler), local D1/DO/Queues, 127.0.0.1; load from autocannon in the bench/run.mjs process",
    },
    scenarios: Object.fromEntries(knobs.scenarios.map((name) => [name, SCENARIOS[name].about])),
    results: rows,
    ratios: ratioRows,
    worker_log: workerErrors(worker.logFile),
    exact: failed.length === 0,
    measured_s: total_s,
  };
  fs.mkdirSync(path.dirname(knobs.out), { recursive: true });
  fs.writeFileSync(knobs.out, `${JSON.stringify(report, null, 2)}\n`);

  const m = report.machine;
  console.log(`\nMachine: ${m.cpu}, ${m.cores} cores, ${m.memory_gb} GB; ${m.os}; Node ${m.node}; wrangler ${m.wrangler}; ${m.date}`);
  console.log(`Load average (1/5/15 min) when the bench started: ${m.load_average_at_start.join(" / ")}`);
  console.log(`Each run: ${knobs.warmup_s} s warm-up + ${knobs.duration_s} s measured, soft stop; latencies from autocannon;\nsrv cpu ms/req = CPU of the worker's processes (workerd + its Miniflare host) per answered request.\n`);
  console.log(
    table(rows, [
      { title: "scenario", value: (row) => row.label, left: true },
      { title: "conc", value: (row) => row.concurrency },
      { title: "dur s", value: (row) => row.duration_s },
      { title: "requests", value: (row) => row.requests },
      { title: "req/s", value: (row) => row.throughput_rps },
      { title: "p50 ms", value: (row) => row.p50_ms },
      { title: "p99 ms", value: (row) => row.p99_ms },
      { title: "errors", value: (row) => row.errors },
      { title: "srv cpu ms/req", value: (row) => row.cpu.server_ms_per_request ?? "" },
      { title: "exact", value: (row) => (row.exact === null ? "n/a" : row.exact ? "yes" : "FAILED"), left: true },
    ]),
  );
  const d1Rows = rows.filter((row) => row.d1?.per_operation);
  if (d1Rows.length > 0) {
    const per = (row) => row.d1.per_operation;
    const blank = (value) => (value === null || value === undefined ? "" : value);
    console.log(`\nD1 per operation (counters of src/metrics.ts over the run and its settling) and projection lag:\n${table(d1Rows, [
      { title: "scenario", value: (row) => row.label, left: true },
      { title: "conc", value: (row) => row.concurrency },
      { title: "ops", value: (row) => per(row).operations },
      { title: "D1 write tx/op", value: (row) => per(row).d1_write_transactions },
      { title: "D1 stmts/op", value: (row) => `${per(row).d1_statements}${per(row).d1_unmetered_statements ? ` (${per(row).d1_unmetered_statements} untimed)` : ""}` },
      { title: "D1 busy ms/op", value: (row) => per(row).d1_busy_ms },
      { title: "ceiling ops/s per DB", value: (row) => blank(per(row).ceiling_per_database) },
      { title: "merchant rows/op", value: (row) => blank(per(row).merchant_row_writes) },
      // The true lag lies between the bounds (bench/lib/lag.mjs): lower–upper.
      { title: "lag p50 ms", value: (row) => (row.lag?.p50_ms == null ? "" : `${row.lag.lower_bound_p50_ms}–${row.lag.p50_ms}`) },
      { title: "lag p99 ms", value: (row) => (row.lag?.p99_ms == null ? "" : `${row.lag.lower_bound_p99_ms}–${row.lag.p99_ms}`) },
      { title: "lag samples", value: (row) => (row.lag ? `${row.lag.samples}${row.lag.not_seen ? ` (${row.lag.not_seen} unseen)` : ""}` : "") },
      { title: "server lag p50/p99/max ≤ ms", value: (row) => (row.d1.server_lag ? `${row.d1.server_lag.p50_le_ms}/${row.d1.server_lag.p99_le_ms}/${row.d1.server_lag.max_le_ms}` : "") },
    ])}`);
  }
  if (ratioRows.length > 0) {
    console.log(`\n${table(ratioRows, [
      { title: "ratio (throughput)", value: (row) => row.ratio, left: true },
      { title: "conc", value: (row) => row.concurrency },
      { title: "value", value: (row) => row.value.toFixed(2) },
      { title: "by CPU/req", value: (row) => (row.by_cpu === null ? "" : row.by_cpu.toFixed(2)) },
      { title: "target", value: (row) => (row.target === null ? "" : `≥ ${row.target}`) },
      { title: "met", value: (row) => (row.met === null ? "" : row.met ? "yes" : "NO"), left: true },
    ])}`);
  }
  if (report.worker_log.count > 0) console.log(`\nThe worker logged ${report.worker_log.count} error lines (see results.json worker_log).`);
  for (const row of failed) console.log(`\nFAILED ${row.label} at ${row.concurrency}:\n  ${row.exact_problems.join("\n  ")}`);
  console.log(`\nWrote ${path.relative(process.cwd(), knobs.out) || knobs.out}`);
  return failed.length === 0 ? 0 : 1;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  log(`\nbench failed: ${error instanceof Error ? error.message : String(error)}`);
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
