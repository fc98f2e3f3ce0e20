/**
 * Projection lag: from a cash-in's 200 to its payment appearing in `GET /v1/payments`.
 *
 * One prober per cash-in run, alongside the load: it takes the cash-in acknowledged most
 * recently (so it starts polling within a few ms of that 200), then polls its merchant's
 * `GET /v1/payments?limit=100` (newest first) every `pollMs` until the payment is there, then
 * pauses `pauseMs` and takes the next. One request in flight at a time, at most `maxSamples`
 * samples per run: a small, bounded read load beside the measured one (its count is reported).
 *
 * Each sample has two bounds: `upper` = the answer that first showed the payment − the 200,
 * `lower` = the start of the last poll that did not show it − the 200 (0 when the first poll
 * showed it). The true lag lies between them; their gap is one poll's round trip plus `pollMs`,
 * and a poll's round trip is the worker's latency under the load (`poll_rtt_p50_ms`): on a
 * saturated worker the upper bound is mostly the probe's own wait. The table prints both.
 *
 * A payment is listed by its own created_at (the cash-in's time), so one that lands late may sit
 * below newer ones: the prober follows `next_cursor` while the page still reaches back to the
 * cash-in's send time, at most `pagesMax` pages.
 */
import { createHash } from "node:crypto";
import { round, sleep } from "./common.mjs";
import { api } from "./http.mjs";

/** The payment id the cash-in path derives from the bank transaction id (src/cashins/receive-transfer.ts paymentIdOf). */
export function paymentIdOf(bankTransactionId) {
  return `pay_${createHash("sha256").update(`bank_transaction:${bankTransactionId}`).digest("hex").slice(0, 32)}`;
}

async function listed(op, { pagesMax }) {
  op.payment_id ??= paymentIdOf(op.bank_transaction_id);
  let cursor = null;
  for (let page = 0; page < pagesMax; page++) {
    const query = `limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const { status, json } = await api("GET", `/v1/payments?${query}`, { key: op.customer.merchant.api_key });
    if (status !== 200) return { found: false, requests: page + 1 };
    if (json.data.some((payment) => payment.id === op.payment_id)) return { found: true, requests: page + 1 };
    const last = json.data[json.data.length - 1];
    // Older than the cash-in (with a second's slack for clocks): it is not further down.
    if (!json.has_more || !last || Date.parse(last.created_at) < op.sent_at_ms - 1000) return { found: false, requests: page + 1 };
    cursor = json.next_cursor;
  }
  return { found: false, requests: pagesMax };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Starts probing `stream` (a cash-in stream: `lastAcked`, ops with `acked_at`,
 * `bank_transaction_id` and `sent_at_ms`); `stop()` lets the sample in flight finish and resolves to the summary.
 */
export function startLagProbe(stream, { maxSamples = 200, pollMs = 10, pauseMs = 50, timeoutMs = 10_000, pagesMax = 5 } = {}) {
  const samples = [];
  let requests = 0;
  const rtts = [];
  let stopping = false;
  const taken = new WeakSet();
  const done = (async () => {
    while (!stopping && samples.length < maxSamples) {
      const op = stream.lastAcked;
      if (!op || taken.has(op)) {
        await sleep(2);
        continue;
      }
      taken.add(op);
      const ackedAt = op.acked_at;
      let lastMissStart = null;
      let seenAt = null;
      while (performance.now() - ackedAt < timeoutMs) {
        const pollStart = performance.now();
        const result = await listed(op, { pagesMax });
        requests += result.requests;
        if (rtts.length < 10_000) rtts.push(performance.now() - pollStart);
        if (result.found) {
          seenAt = performance.now();
          break;
        }
        lastMissStart = pollStart;
        await sleep(pollMs);
      }
      samples.push(
        seenAt === null
          ? { seen: false }
          : { seen: true, upper_ms: seenAt - ackedAt, lower_ms: lastMissStart === null ? 0 : Math.max(0, lastMissStart - ackedAt) },
      );
      if (!stopping) await sleep(pauseMs);
    }
  })();
  return {
    async stop() {
      stopping = true;
      await done;
      const seen = samples.filter((sample) => sample.seen);
      const upper = seen.map((sample) => sample.upper_ms).sort((a, b) => a - b);
      const lower = seen.map((sample) => sample.lower_ms).sort((a, b) => a - b);
      return {
        samples: samples.length,
        not_seen: samples.length - seen.length,
        probe_requests: requests,
        poll_rtt_p50_ms: rtts.length ? round(percentile(rtts.sort((a, b) => a - b), 50), 1) : null,
        p50_ms: upper.length ? round(percentile(upper, 50), 1) : null,
        p99_ms: upper.length ? round(percentile(upper, 99), 1) : null,
        max_ms: upper.length ? round(upper[upper.length - 1], 1) : null,
        lower_bound_p50_ms: lower.length ? round(percentile(lower, 50), 1) : null,
        lower_bound_p99_ms: lower.length ? round(percentile(lower, 99), 1) : null,
      };
    },
  };
}
