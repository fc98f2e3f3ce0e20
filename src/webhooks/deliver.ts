/**
 * The webhook queue's consumer: one message is one attempt to deliver one event to its
 * merchant's endpoint (API §14). See src/webhooks/dispatch.ts for how deliveries reach the
 * queue and docs/WEBHOOKS.md for the bounds.
 *
 * For each message, concurrently with the others of its batch (one slow receiver never delays
 * another merchant's attempt):
 *   1. claim the attempt: a compare-and-set on the delivery's attempt count, so that two
 *      copies of one message (the queue delivers at least once; the cron re-sends a message
 *      it believes lost) make one attempt. A message that is not the delivery's next attempt
 *      is stale and dropped; one that arrives before the attempt is due (a queue delay is
 *      whole seconds, at most 12 h) is sent again with the time that remains.
 *   2. read the merchant's endpoint now (a new URL or a rotated secret applies to this
 *      attempt), check the URL against the SSRF rules again, sign, and POST with a timeout,
 *      never following a redirect.
 *   3. record the attempt and the delivery's new state in one D1 batch: delivered (2xx),
 *      retried after the schedule's wait (the delivery keeps its slot, and a delayed message
 *      carries the next attempt), or failed when the round is exhausted.
 * A D1 failure retries the message; an attempt claimed but never recorded (a crash, a D1
 * failure after the claim) leaves an overdue claimed delivery, which the cron sends again
 * after the lease (src/webhooks/backstop.ts). Nothing is lost; at worst a receiver gets an
 * event twice, which API §14 tells it to expect (dedupe by event id).
 */
import type { Config, Env } from "../env";
import { eventView, type EventRow } from "../events/event-row";
import { limits } from "../limits";
import { log } from "../log";
import { webhookUrlProblem } from "./destination";
import { dispatchFor } from "./dispatch";
import { UnreadableWebhookSecret, webhookEndpoint, type WebhookEndpoint } from "./endpoint";
import type { WebhookMessage } from "./message";
import { nextAttemptAt } from "./schedule";
import { signatureHeaderName, webhookSignature } from "./sign";

export interface DeliveryOptions {
  /** How long a receiver has to answer (tests shorten it). */
  timeoutMs?: number;
  /** The retry schedule's jitter source, in [0, 1). */
  random?: () => number;
}

/** A queue delay is whole seconds, at most 12 hours. */
const queueDelayMaxSeconds = 12 * 60 * 60;

type Outcome =
  | { kind: "stale" }
  | { kind: "early" }
  | { kind: "delivered"; merchantId: string }
  | { kind: "retry"; merchantId: string }
  | { kind: "failed"; merchantId: string };

interface Claimed {
  event_id: string;
  merchant_id: string;
  attempts: number;
  round_attempts: number;
}

export async function handleWebhookMessages(batch: MessageBatch<WebhookMessage>, env: Env, config: Config, options: DeliveryOptions = {}): Promise<void> {
  const freed = new Set<string>();
  await Promise.all(
    batch.messages.map(async (message) => {
      try {
        const outcome = await deliverAttempt(env, config, message.body, options);
        // A delivery that ended, or that now waits for a delayed retry, no longer holds a slot.
        if (outcome.kind === "delivered" || outcome.kind === "failed" || outcome.kind === "retry") freed.add(outcome.merchantId);
        message.ack();
      } catch (error) {
        log("error", "webhook attempt failed to run; the queue retries it", { event_id: message.body.event_id, attempt: message.body.attempt, error: String(error) });
        message.retry({ delaySeconds: Math.min(300, 2 ** Math.min(message.attempts, 8)) });
      }
    }),
  );
  // A delivery that is done frees its merchant's slot for the next one waiting in D1.
  if (freed.size > 0) {
    try {
      await dispatchFor(env, freed);
    } catch (error) {
      log("error", "webhook dispatch after a batch failed; the cron dispatches instead", { merchants: freed.size, error: String(error) });
    }
  }
}

/** Makes (at most) the attempt this message asks for, and records it. */
export async function deliverAttempt(env: Env, config: Config, message: WebhookMessage, options: DeliveryOptions = {}, now = Date.now()): Promise<Outcome> {
  const claimed = await env.DB.prepare(
    `UPDATE webhook_deliveries SET attempts = attempts + 1, round_attempts = round_attempts + 1, last_attempt_at = ?1, next_attempt_at = ?1, updated_at = ?1
     WHERE event_id = ?2 AND status = 'pending' AND dispatched_at IS NOT NULL AND attempts = ?3 AND next_attempt_at <= ?1
     RETURNING event_id, merchant_id, attempts, round_attempts`,
  )
    .bind(now, message.event_id, message.attempt - 1)
    .first<Claimed>();
  if (!claimed) return notClaimed(env, message, now);

  const [event, endpoint] = await Promise.all([
    env.DB.prepare("SELECT * FROM events WHERE id = ?").bind(message.event_id).first<EventRow>(),
    endpointOrProblem(env, config, claimed.merchant_id),
  ]);
  if (!event) throw new Error(`webhook delivery ${message.event_id} has no event`); // a foreign key forbids it
  if (typeof endpoint === "string") {
    return record(env, config, claimed, { url: "", status_code: null, error: endpoint, duration_ms: 0, final: true }, now, options);
  }
  const problem = webhookUrlProblem(endpoint.url, config.sandbox);
  if (problem !== null) {
    // A URL stored before a rule changed, or written around the API: never fetched.
    return record(env, config, claimed, { url: endpoint.url, status_code: null, error: `url_not_allowed: ${problem}`, duration_ms: 0, final: true }, now, options);
  }
  const result = await post(endpoint, JSON.stringify(eventView(event)), options.timeoutMs ?? limits.webhook_timeout_ms);
  return record(env, config, claimed, { url: endpoint.url, ...result, final: false }, Date.now(), options);
}

/** The endpoint, or why there is none to send to (the delivery then fails: retrying cannot help). */
async function endpointOrProblem(env: Env, config: Config, merchantId: string): Promise<WebhookEndpoint | string> {
  try {
    return (await webhookEndpoint(env, config, merchantId)) ?? "no_endpoint: the merchant has no webhook_url";
  } catch (error) {
    if (!(error instanceof UnreadableWebhookSecret)) throw error;
    log("error", "a merchant's webhook secret does not open; its delivery is failed", { merchant_id: merchantId, error: String(error) });
    return "secret_unreadable: rotate the webhook secret";
  }
}

/** A message whose attempt was not claimed: early (send it again for later) or stale (drop it). */
async function notClaimed(env: Env, message: WebhookMessage, now: number): Promise<Outcome> {
  const row = await env.DB.prepare("SELECT status, attempts, next_attempt_at, dispatched_at FROM webhook_deliveries WHERE event_id = ?")
    .bind(message.event_id)
    .first<{ status: string; attempts: number; next_attempt_at: number | null; dispatched_at: number | null }>();
  const current = row !== null && row.status === "pending" && row.dispatched_at !== null && row.attempts === message.attempt - 1;
  if (!current || row.next_attempt_at === null || row.next_attempt_at <= now) return { kind: "stale" };
  await env.WEBHOOK_QUEUE.send(message, { delaySeconds: queueDelaySeconds(row.next_attempt_at - now) });
  return { kind: "early" };
}

function queueDelaySeconds(ms: number): number {
  return Math.min(queueDelayMaxSeconds, Math.max(0, Math.ceil(ms / 1000)));
}

interface AttemptResult {
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

/** One POST. Never throws: every way it can go wrong is an attempt's result. */
async function post(endpoint: WebhookEndpoint, body: string, timeoutMs: number): Promise<AttemptResult> {
  const started = Date.now();
  const headers = {
    "content-type": "application/json",
    "user-agent": "virtual-accounts-webhooks/1",
    [signatureHeaderName]: await webhookSignature(endpoint.secret, body, started),
  };
  try {
    const response = await fetch(endpoint.url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
    const duration_ms = Date.now() - started;
    // Only the status matters: the body is not read (a receiver cannot make us hold a large one).
    await response.body?.cancel().catch(() => undefined);
    const status = response.status;
    if (status >= 200 && status < 300) return { status_code: status, error: null, duration_ms };
    const error = status >= 300 && status < 400 ? `redirect_not_followed: ${status} to ${(response.headers.get("location") ?? "").slice(0, 200)}` : `http_${status}`;
    return { status_code: status, error, duration_ms };
  } catch (error) {
    const duration_ms = Date.now() - started;
    const name = error instanceof Error ? error.name : "";
    if (name === "TimeoutError" || name === "AbortError") return { status_code: null, error: `timeout: no answer within ${timeoutMs} ms`, duration_ms };
    return { status_code: null, error: `network_error: ${String(error).slice(0, 300)}`, duration_ms };
  }
}

/**
 * Records the attempt and the delivery's new state in one batch, then queues the next
 * attempt if there is one. The update is a compare-and-set on the claimed attempt, so a
 * redelivery that restarted the delivery meanwhile is not overwritten.
 */
async function record(
  env: Env,
  config: Config,
  claimed: Claimed,
  attempt: AttemptResult & { url: string; final: boolean },
  now: number,
  options: DeliveryOptions,
): Promise<Outcome> {
  const delivered = attempt.status_code !== null && attempt.status_code >= 200 && attempt.status_code < 300;
  const next = delivered || attempt.final ? null : nextAttemptAt(config.webhookRetryBaseMs, claimed.round_attempts, now, options.random);
  const status = delivered ? "delivered" : next === null ? "failed" : "pending";
  const [, updated] = await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO webhook_attempts (event_id, attempt, attempted_at, url, status_code, error, duration_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ).bind(claimed.event_id, claimed.attempts, now - attempt.duration_ms, attempt.url.slice(0, limits.webhook_url_length_max), attempt.status_code, attempt.error, attempt.duration_ms),
    env.DB.prepare(
      `UPDATE webhook_deliveries SET status = ?1, next_attempt_at = ?2, dispatched_at = CASE WHEN ?1 = 'pending' THEN ?3 END,
         last_status_code = ?4, last_error = ?5, updated_at = ?3
       WHERE event_id = ?6 AND status = 'pending' AND attempts = ?7`,
    ).bind(status, next, now, attempt.status_code, attempt.error, claimed.event_id, claimed.attempts),
  ]);
  if ((updated?.meta.changes ?? 0) === 0) return { kind: "stale" }; // restarted meanwhile: the restart owns the row
  if (status === "pending") {
    try {
      await env.WEBHOOK_QUEUE.send({ event_id: claimed.event_id, attempt: claimed.attempts + 1 }, { delaySeconds: queueDelaySeconds(next! - Date.now()) });
    } catch (error) {
      // The delivery keeps its slot with its next attempt due: the cron sends it after the lease.
      log("error", "queueing a webhook retry failed; the cron will", { event_id: claimed.event_id, error: String(error) });
    }
    return { kind: "retry", merchantId: claimed.merchant_id };
  }
  if (status === "failed") log("warn", "webhook delivery failed", { event_id: claimed.event_id, attempts: claimed.attempts, error: attempt.error });
  return { kind: status, merchantId: claimed.merchant_id };
}
