/**
 * Helpers for webhook delivery tests: a merchant with an endpoint, a stubbed outbound fetch
 * (receivers by host, every request recorded), the webhook queue captured, and
 * `drainWebhooks`, which plays that queue as a queue would (tests drive consumers
 * themselves: in tests the producer sends to a queue nothing consumes).
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import { loadConfig, type Config } from "../src/env";
import worker from "../src/index";
import { handleWebhookMessages, type DeliveryOptions } from "../src/webhooks/deliver";
import type { WebhookMessage } from "../src/webhooks/message";
import { createMerchant, type TestMerchant } from "./helpers";
import { uniqueId } from "./money";

export interface ReceivedWebhook {
  url: string;
  method: string;
  headers: Headers;
  /** Exactly the bytes sent, as text. */
  rawBody: string;
  redirect: RequestInit["redirect"];
  signal: AbortSignal | undefined;
}

export type Receiver = (request: ReceivedWebhook) => Response | Promise<Response>;

/** A merchant whose webhook_url is `https://<host>/hooks` (set in D1 directly), with its secret. */
export async function merchantWithEndpoint(host = `${uniqueId("m").replace(/_/g, "-")}.example.com`): Promise<TestMerchant & { host: string; url: string }> {
  const merchant = await createMerchant();
  const url = `https://${host}/hooks`;
  await env.DB.prepare("UPDATE merchants SET webhook_url = ? WHERE id = ?").bind(url, merchant.id).run();
  return { ...merchant, host, url };
}

/**
 * Stubs the isolate's outbound fetch: a request to a host in `receivers` is recorded and
 * answered by its receiver; any other goes out as before. Returns what was received.
 */
export function stubReceivers(receivers: Record<string, Receiver>): { received: ReceivedWebhook[]; spy: ReturnType<typeof vi.spyOn> } {
  const received: ReceivedWebhook[] = [];
  const original = globalThis.fetch;
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const receiver = receivers[url.host];
    if (!receiver) return original(input, init);
    const request: ReceivedWebhook = {
      url: url.toString(),
      method: init?.method ?? "GET",
      headers: new Headers(init?.headers),
      rawBody: typeof init?.body === "string" ? init.body : await new Response(init?.body).text(),
      redirect: init?.redirect,
      signal: init?.signal ?? undefined,
    };
    received.push(request);
    return receiver(request);
  });
  return { received, spy };
}

export interface QueuedMessage {
  body: WebhookMessage;
  delaySeconds: number;
}

/** Captures what the Worker sends to the webhook queue (send and sendBatch) instead of sending it. */
export function captureWebhookQueue(): QueuedMessage[] {
  const queued: QueuedMessage[] = [];
  // The generated bindings type the queue's messages as unknown; the Worker sends WebhookMessage.
  vi.spyOn(env.WEBHOOK_QUEUE, "send").mockImplementation(async (body: unknown, options?: QueueSendOptions) => {
    queued.push({ body: body as WebhookMessage, delaySeconds: options?.delaySeconds ?? 0 });
    return { metadata: {} } as unknown as QueueSendResponse;
  });
  vi.spyOn(env.WEBHOOK_QUEUE, "sendBatch").mockImplementation(async (messages: Iterable<MessageSendRequest<unknown>>, options?: QueueSendBatchOptions) => {
    for (const message of messages) queued.push({ body: message.body as WebhookMessage, delaySeconds: message.delaySeconds ?? options?.delaySeconds ?? 0 });
    return { metadata: {} } as unknown as QueueSendBatchResponse;
  });
  return queued;
}

let messageSequence = 0;

/** Delivers these messages as one consumer batch; returns what the consumer did with each. */
export async function deliverBatch(messages: WebhookMessage[], options: DeliveryOptions & { config?: Config } = {}) {
  const batch = createMessageBatch<WebhookMessage>(
    "webhook-deliveries",
    messages.map((body) => ({ id: `whmsg-${++messageSequence}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  if (options.config || options.timeoutMs !== undefined || options.random) {
    await handleWebhookMessages(batch, env, options.config ?? loadConfig(env), options);
  } else {
    await worker.queue(batch, env, ctx); // the Worker's own routing (src/index.ts)
  }
  return getQueueResult(batch, ctx);
}

export interface DrainOptions extends DeliveryOptions {
  config?: Config;
  /**
   * Make each queued attempt due at once (as if its delay had passed) instead of waiting for
   * it: schedules of many retries run in milliseconds. Without it the drain waits, in real
   * time, until the attempts are due.
   */
  fastForward?: boolean;
  /** Consumer batches at most (a receiver that never recovers would otherwise go on to exhaustion). */
  maxRounds?: number;
  /** Called before each round with the messages about to be delivered. */
  beforeRound?: (messages: QueuedMessage[]) => void | Promise<void>;
}

/**
 * Plays the webhook queue: takes every captured message, waits until its attempt is due (or
 * fast-forwards), delivers them as one batch, and repeats with what that batch queued, until
 * the queue is empty or `maxRounds` batches ran. Returns the number of rounds.
 */
export async function drainWebhooks(queued: QueuedMessage[], options: DrainOptions = {}): Promise<number> {
  const maxRounds = options.maxRounds ?? 200;
  let rounds = 0;
  while (queued.length > 0 && rounds < maxRounds) {
    const messages = queued.splice(0, queued.length);
    await options.beforeRound?.(messages);
    const ids = JSON.stringify(messages.map((message) => message.body.event_id));
    if (options.fastForward) {
      await env.DB.prepare(
        "UPDATE webhook_deliveries SET next_attempt_at = MIN(next_attempt_at, ?) WHERE event_id IN (SELECT value FROM json_each(?)) AND status = 'pending'",
      )
        .bind(Date.now(), ids)
        .run();
    } else {
      const due = await env.DB.prepare("SELECT MAX(next_attempt_at) AS due FROM webhook_deliveries WHERE event_id IN (SELECT value FROM json_each(?)) AND status = 'pending'")
        .bind(ids)
        .first<{ due: number | null }>();
      const wait = (due?.due ?? 0) - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(wait + 1, 5_000)));
    }
    await deliverBatch(
      messages.map((message) => message.body),
      options,
    );
    rounds++;
  }
  return rounds;
}

/** Events for a merchant, written as the triggers would (a delivery row follows if it has a webhook_url). */
export async function insertEvents(merchantId: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  // 1 ms apart, in order, the last one already in the past: all due the moment they exist
  // (starting at now would leave the last ones due a few ms later, and a fast run would see
  // fewer due deliveries than the test wrote).
  const now = Date.now() - count;
  const statements = [];
  for (let index = 0; index < count; index++) {
    const id = `evt_${uniqueId("t").replace(/_/g, "")}`;
    ids.push(id);
    const object = { id: `pay_${id}`, status: "credited", amount: 100 + index, currency: "ARS", merchant_id: merchantId };
    statements.push(
      env.DB.prepare("INSERT INTO events (id, type, merchant_id, object_type, object_id, data, created_at) VALUES (?, 'payment.credited', ?, 'payment', ?, ?, ?)").bind(
        id,
        merchantId,
        object.id,
        JSON.stringify({ object }),
        now + index,
      ),
    );
  }
  for (let start = 0; start < statements.length; start += 100) await env.DB.batch(statements.slice(start, start + 100));
  return ids;
}

export interface DeliveryRow {
  event_id: string;
  merchant_id: string;
  status: "pending" | "delivered" | "failed";
  attempts: number;
  round_attempts: number;
  next_attempt_at: number | null;
  dispatched_at: number | null;
  last_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  updated_at: number;
}

export async function deliveryOf(eventId: string): Promise<DeliveryRow> {
  const row = await env.DB.prepare("SELECT * FROM webhook_deliveries WHERE event_id = ?").bind(eventId).first<DeliveryRow>();
  if (!row) throw new Error(`no delivery for ${eventId}`);
  return row;
}

export async function attemptsOf(eventId: string) {
  const { results } = await env.DB.prepare("SELECT * FROM webhook_attempts WHERE event_id = ? ORDER BY attempt").bind(eventId).all<{
    attempt: number;
    url: string;
    status_code: number | null;
    error: string | null;
    attempted_at: number;
    duration_ms: number;
  }>();
  return results;
}
