/**
 * The webhook consumer (src/webhooks/deliver.ts) against stubbed receivers: what counts as an
 * acknowledgement, the retry schedule, exhaustion, stale and duplicate messages, rotation and
 * the SSRF rules at attempt time.
 */
import { env } from "cloudflare:workers";
import Stripe from "stripe";
import { afterEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/env";
import { limits } from "../../src/limits";
import { dispatchFor } from "../../src/webhooks/dispatch";
import { sealWebhookSecret } from "../../src/webhooks/secret-box";
import { unjitteredDelayMs } from "../../src/webhooks/schedule";
import {
  attemptsOf,
  captureWebhookQueue,
  deliverBatch,
  deliveryOf,
  drainWebhooks,
  insertEvents,
  merchantWithEndpoint,
  stubReceivers,
  type ReceivedWebhook,
} from "../webhooks";

// constructEventAsync: in workerd the stripe package's crypto is async only (signature.test.ts).
const stripe = new Stripe("sk_test_not_used_for_requests");

afterEach(() => {
  vi.restoreAllMocks();
});

/** A merchant with an endpoint and `count` events, dispatched: their first attempts are queued. */
async function dispatchedMerchant(count = 1) {
  const queued = captureWebhookQueue();
  const merchant = await merchantWithEndpoint();
  const events = await insertEvents(merchant.id, count);
  expect(await dispatchFor(env, [merchant.id])).toBe(Math.min(count, limits.webhook_in_flight_per_merchant));
  return { queued, merchant, events };
}

describe("what acknowledges a webhook", () => {
  it("retries with growing delays within the jitter bounds until a 2xx", async () => {
    const { queued, merchant, events } = await dispatchedMerchant();
    const [eventId] = events as [string];
    const answers = [500, 502, 429, 204];
    const { received } = stubReceivers({ [merchant.host]: () => new Response(null, { status: answers.shift()! }) });
    const config = { ...loadConfig(env), webhookRetryBaseMs: 1_000 };

    const delays: number[] = [];
    await drainWebhooks(queued, {
      config,
      fastForward: true,
      beforeRound: async (messages) => {
        // Before the queue hands over a retry, its delay (as recorded in D1) is within the bounds.
        if (messages[0]!.body.attempt === 1) return;
        const row = await deliveryOf(eventId);
        // The wait is counted from when the failed attempt was recorded (updated_at).
        delays.push(row.next_attempt_at! - row.updated_at);
        expect(messages).toHaveLength(1);
        expect(messages[0]!.delaySeconds).toBeGreaterThanOrEqual(Math.floor(unjitteredDelayMs(1_000, messages[0]!.body.attempt - 1) / 1000));
        expect(messages[0]!.delaySeconds).toBeLessThanOrEqual(Math.ceil((unjitteredDelayMs(1_000, messages[0]!.body.attempt - 1) * 1.25) / 1000) + 1);
      },
    });
    expect(received).toHaveLength(4);
    expect(delays).toHaveLength(3);
    delays.forEach((delay, index) => {
      const floor = unjitteredDelayMs(1_000, index + 1); // 1 s, 2 s, 4 s
      expect(delay).toBeGreaterThanOrEqual(floor);
      expect(delay).toBeLessThan(floor * 1.25);
    });
    expect(await deliveryOf(eventId)).toMatchObject({ status: "delivered", attempts: 4, round_attempts: 4, last_status_code: 204, last_error: null });
    expect((await attemptsOf(eventId)).map((attempt) => [attempt.attempt, attempt.status_code, attempt.error])).toEqual([
      [1, 500, "http_500"],
      [2, 502, "http_502"],
      [3, 429, "http_429"],
      [4, 204, null],
    ]);
  });

  it("waits in real time for a retry that is not due: an early message is queued again, nothing is fetched", async () => {
    const { queued, merchant, events } = await dispatchedMerchant();
    const [eventId] = events as [string];
    const answers = [503, 200];
    const { received } = stubReceivers({ [merchant.host]: () => new Response(null, { status: answers.shift()! }) });
    const config = { ...loadConfig(env), webhookRetryBaseMs: 3_000 };
    await deliverBatch([queued.shift()!.body], { config });
    expect(received).toHaveLength(1);
    const [retry] = queued.splice(0);
    expect(retry!.body).toEqual({ event_id: eventId, attempt: 2 });
    expect(retry!.delaySeconds).toBeGreaterThanOrEqual(3);
    expect(retry!.delaySeconds).toBeLessThanOrEqual(4);

    // The queue hands it over early: the consumer sends it back with the time that remains.
    await deliverBatch([retry!.body], { config });
    expect(received).toHaveLength(1);
    expect(queued).toHaveLength(1);
    expect(queued[0]!.body).toEqual({ event_id: eventId, attempt: 2 });
    expect(queued[0]!.delaySeconds).toBeGreaterThanOrEqual(3);
    expect((await deliveryOf(eventId)).attempts).toBe(1);

    await drainWebhooks(queued, { config }); // waits the ~3 s for real
    expect(received).toHaveLength(2);
    expect(await deliveryOf(eventId)).toMatchObject({ status: "delivered", attempts: 2 });
  });

  it("fails the delivery after webhook_attempts_max attempts, every one recorded", async () => {
    const { queued, merchant, events } = await dispatchedMerchant();
    const [eventId] = events as [string];
    const { received } = stubReceivers({ [merchant.host]: () => new Response("down", { status: 503 }) });
    await drainWebhooks(queued, { fastForward: true });
    expect(received).toHaveLength(limits.webhook_attempts_max);
    expect(await deliveryOf(eventId)).toMatchObject({
      status: "failed",
      attempts: limits.webhook_attempts_max,
      round_attempts: limits.webhook_attempts_max,
      next_attempt_at: null,
      dispatched_at: null,
      last_status_code: 503,
      last_error: "http_503",
    });
    const attempts = await attemptsOf(eventId);
    expect(attempts.map((attempt) => attempt.attempt)).toEqual(Array.from({ length: limits.webhook_attempts_max }, (_, index) => index + 1));
    expect(attempts.every((attempt) => attempt.status_code === 503 && attempt.url === merchant.url)).toBe(true);
    expect(queued).toHaveLength(0); // nothing more is queued for it
  });

  it("counts as a failed attempt: a timeout, a network error, a redirect (never followed), a 4xx", async () => {
    const { queued, merchant, events } = await dispatchedMerchant(4);
    const byEvent = new Map<string, (request: ReceivedWebhook) => Response | Promise<Response>>();
    const [hangs, refused, redirects, notFound] = events as [string, string, string, string];
    // Answers only when the attempt's signal aborts it, as a receiver that never answers.
    byEvent.set(
      hangs,
      (request) =>
        new Promise<Response>((_, reject) => {
          request.signal!.addEventListener("abort", () => reject(request.signal!.reason));
        }),
    );
    byEvent.set(refused, () => Promise.reject(new TypeError("Network connection lost.")));
    byEvent.set(redirects, () => new Response(null, { status: 302, headers: { location: "https://169.254.169.254/latest/meta-data" } }));
    byEvent.set(notFound, () => new Response("no such route", { status: 404 }));
    const { received } = stubReceivers({ [merchant.host]: (request) => byEvent.get((JSON.parse(request.rawBody) as { id: string }).id)!(request) });

    const started = Date.now();
    await deliverBatch(
      queued.splice(0).map((message) => message.body),
      { timeoutMs: 200 },
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(received).toHaveLength(4); // the redirect's location was never fetched
    expect(received.every((request) => request.redirect === "manual" && request.signal instanceof AbortSignal)).toBe(true);

    const outcomes = await Promise.all(events.map(async (eventId) => [await deliveryOf(eventId), (await attemptsOf(eventId))[0]!] as const));
    for (const [delivery] of outcomes) {
      expect(delivery).toMatchObject({ status: "pending", attempts: 1 });
      expect(delivery.next_attempt_at).toBeGreaterThan(delivery.last_attempt_at!);
    }
    const [timeout, network, redirect, client] = outcomes;
    expect(timeout![1]).toMatchObject({ status_code: null, error: expect.stringMatching(/^timeout/) });
    expect(timeout![1].duration_ms).toBeGreaterThanOrEqual(150);
    expect(network![1]).toMatchObject({ status_code: null, error: expect.stringMatching(/^network_error: .*Network connection lost/) });
    expect(redirect![1]).toMatchObject({ status_code: 302, error: expect.stringMatching(/^redirect_not_followed: 302/) });
    expect(client![1]).toMatchObject({ status_code: 404, error: "http_404" });
    expect(client![0]).toMatchObject({ last_status_code: 404, last_error: "http_404" });
    // Each keeps its slot, with its retry queued.
    expect(queued.map((message) => message.body.attempt)).toEqual([2, 2, 2, 2]);
  });

  it("the Worker's queue handler routes webhook-deliveries to this consumer", async () => {
    const { queued, merchant, events } = await dispatchedMerchant();
    const { received } = stubReceivers({ [merchant.host]: () => new Response(null, { status: 200 }) });
    const result = await deliverBatch([queued.shift()!.body]); // through worker.queue
    expect(result.explicitAcks).toHaveLength(1);
    expect(received).toHaveLength(1);
    expect((await deliveryOf(events[0]!)).status).toBe("delivered");
  });
});

describe("exactly one attempt per message", () => {
  it("duplicate and stale messages never make a second attempt", async () => {
    const { queued, merchant, events } = await dispatchedMerchant();
    const [eventId] = events as [string];
    const { received } = stubReceivers({ [merchant.host]: () => new Response(null, { status: 500 }) });
    const [first] = queued.splice(0);
    // The same message twice in one batch (two consumers at once), and a message from the future.
    await deliverBatch([first!.body, first!.body, { event_id: eventId, attempt: 7 }]);
    expect(received).toHaveLength(1);
    expect(await attemptsOf(eventId)).toHaveLength(1);
    expect((await deliveryOf(eventId)).attempts).toBe(1);
    expect(queued).toHaveLength(1); // one retry, not two

    // The first message again, later: stale.
    await deliverBatch([first!.body]);
    expect(received).toHaveLength(1);

    // Delivered: every message for it is stale, the retry's included.
    await env.DB.prepare("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE event_id = ?").bind(Date.now(), eventId).run();
    const [retry] = queued.splice(0);
    const answers = stubReceivers({ [merchant.host]: () => new Response(null, { status: 200 }) });
    await deliverBatch([retry!.body, retry!.body]);
    expect(answers.received).toHaveLength(1);
    await deliverBatch([retry!.body, { event_id: eventId, attempt: 3 }]);
    expect(answers.received).toHaveLength(1);
    expect(await deliveryOf(eventId)).toMatchObject({ status: "delivered", attempts: 2 });
    expect(queued).toHaveLength(0);
  });

  it("a message for a delivery that waits for a slot (not claimed) is dropped", async () => {
    const queued = captureWebhookQueue();
    const merchant = await merchantWithEndpoint();
    const [eventId] = (await insertEvents(merchant.id, 1)) as [string];
    const { received } = stubReceivers({ [merchant.host]: () => new Response(null, { status: 200 }) });
    await deliverBatch([{ event_id: eventId, attempt: 1 }]);
    expect(received).toHaveLength(0);
    expect(await deliveryOf(eventId)).toMatchObject({ status: "pending", attempts: 0, dispatched_at: null });
    expect(queued).toHaveLength(0);
  });
});

describe("the endpoint at attempt time", () => {
  it("a rotated secret signs the next attempt: only the new secret verifies it", async () => {
    const { queued, merchant } = await dispatchedMerchant();
    const answers = [500, 200];
    const { received } = stubReceivers({ [merchant.host]: () => new Response(null, { status: answers.shift()! }) });
    await drainWebhooks(queued, { fastForward: true, maxRounds: 1 });
    expect(received).toHaveLength(1);
    await expect(stripe.webhooks.constructEventAsync(received[0]!.rawBody, received[0]!.headers.get("signature")!, merchant.webhook_secret)).resolves.toBeDefined();

    const rotated = "whsec_rotated_secret_0123456789abcdef";
    const sealed = await sealWebhookSecret(loadConfig(env).webhookSecretKey, merchant.id, rotated);
    await env.DB.prepare("UPDATE merchants SET webhook_secret = ? WHERE id = ?").bind(sealed, merchant.id).run();
    await drainWebhooks(queued, { fastForward: true });
    expect(received).toHaveLength(2);
    const [, second] = received;
    await expect(stripe.webhooks.constructEventAsync(second!.rawBody, second!.headers.get("signature")!, rotated)).resolves.toBeDefined();
    await expect(stripe.webhooks.constructEventAsync(second!.rawBody, second!.headers.get("signature")!, merchant.webhook_secret)).rejects.toThrow(/signature/i);
  });

  it("a private address stored as the URL fails the delivery without fetching it", async () => {
    const { queued, merchant, events } = await dispatchedMerchant();
    const { spy } = stubReceivers({});
    const calls = spy.mock.calls.length;
    for (const url of ["https://10.0.0.7/hooks", "https://169.254.169.254/latest/meta-data", "https://[::ffff:7f00:1]/x", "ftp://example.com/x"]) {
      expect(await env.DB.prepare("UPDATE merchants SET webhook_url = ? WHERE id = ?").bind(url, merchant.id).run()).toBeTruthy();
      await env.DB.prepare("UPDATE webhook_deliveries SET status = 'pending', dispatched_at = ?, next_attempt_at = ?, round_attempts = 0 WHERE event_id = ?")
        .bind(Date.now(), Date.now(), events[0]!)
        .run();
      const { attempts } = await deliveryOf(events[0]!);
      await deliverBatch([{ event_id: events[0]!, attempt: attempts + 1 }]);
      expect(await deliveryOf(events[0]!)).toMatchObject({ status: "failed", last_status_code: null, last_error: expect.stringMatching(/^url_not_allowed: /) });
    }
    expect(spy.mock.calls.length).toBe(calls); // fetch never called
    expect((await attemptsOf(events[0]!)).map((attempt) => attempt.url)).toEqual([
      "https://10.0.0.7/hooks",
      "https://169.254.169.254/latest/meta-data",
      "https://[::ffff:7f00:1]/x",
      "ftp://example.com/x",
    ]);
    void queued;
  });

  it("a merchant that removed its endpoint: the delivery fails, nothing is fetched", async () => {
    const { queued, merchant, events } = await dispatchedMerchant();
    const { spy } = stubReceivers({});
    await env.DB.prepare("UPDATE merchants SET webhook_url = NULL WHERE id = ?").bind(merchant.id).run();
    await drainWebhooks(queued);
    expect(spy).not.toHaveBeenCalled();
    expect(await deliveryOf(events[0]!)).toMatchObject({ status: "failed", last_error: expect.stringMatching(/^no_endpoint/) });
  });

  it("a secret that does not open fails the delivery (retrying cannot help) instead of retrying forever", async () => {
    const { queued, merchant, events } = await dispatchedMerchant();
    const { spy } = stubReceivers({});
    const sealedForAnother = await sealWebhookSecret(loadConfig(env).webhookSecretKey, "mer_someone_else", "whsec_x");
    await env.DB.prepare("UPDATE merchants SET webhook_secret = ? WHERE id = ?").bind(sealedForAnother, merchant.id).run();
    const result = await deliverBatch([queued.shift()!.body]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(spy).not.toHaveBeenCalled();
    expect(await deliveryOf(events[0]!)).toMatchObject({ status: "failed", last_error: expect.stringMatching(/^secret_unreadable/) });
  });

  it("D1 failing: the message is retried, the delivery is not lost", async () => {
    const { queued, merchant, events } = await dispatchedMerchant();
    const { received } = stubReceivers({ [merchant.host]: () => new Response(null, { status: 200 }) });
    const message = queued.shift()!.body;
    const prepare = vi.spyOn(env.DB, "prepare").mockImplementation(() => {
      throw new Error("D1_ERROR: simulated outage");
    });
    const result = await deliverBatch([message]);
    prepare.mockRestore();
    expect(result.retryMessages).toHaveLength(1);
    expect(received).toHaveLength(0);
    await deliverBatch([message]);
    expect(await deliveryOf(events[0]!)).toMatchObject({ status: "delivered", attempts: 1 });
  });
});
