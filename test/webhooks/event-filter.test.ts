/**
 * Event-type filters on the webhook endpoint (`webhook_events`, Stripe's enabled_events;
 * src/webhooks/event-filter.ts, migrations/0023): every event is still stored and listed, only
 * the enabled types get a delivery; the three routes that write it validate it alike; a
 * redeliver sends an event whatever the filter.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { subscribableEventTypes } from "../../src/webhooks/event-filter";
import { api, bearer, createCustomer, createMerchant, expectFieldError, json, operatorHeaders, randomCbu, type TestMerchant } from "../helpers";
import { fund } from "../money";
import { getEvent, listAll, redeliver } from "../events/events-helpers";
import { captureWebhookQueue, drainWebhooks, merchantWithEndpoint, stubReceivers } from "../webhooks";

afterEach(() => {
  vi.restoreAllMocks();
});

function patch(path: string, body: unknown, headers: Record<string, string>): Promise<Response> {
  return api(path, { method: "PATCH", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

async function storedFilter(merchantId: string): Promise<unknown> {
  const row = await env.DB.prepare("SELECT webhook_events FROM merchants WHERE id = ?").bind(merchantId).first<{ webhook_events: string }>();
  return JSON.parse(row!.webhook_events);
}

/** The merchant's events in D1 and which of them have a delivery row, oldest first. */
async function eventsAndDeliveries(merchantId: string) {
  const { results } = await env.DB.prepare(
    "SELECT e.id, e.type, d.event_id IS NOT NULL AS delivered FROM events AS e LEFT JOIN webhook_deliveries AS d ON d.event_id = e.id WHERE e.merchant_id = ? ORDER BY e.created_at, e.id",
  )
    .bind(merchantId)
    .all<{ id: string; type: string; delivered: number }>();
  return results;
}

/** A cash-in to the merchant, its webhooks drained to a stub receiver: the types received, the events stored. */
async function cashInReceived(merchant: TestMerchant & { host: string }) {
  const queued = captureWebhookQueue();
  const { received } = stubReceivers({ [merchant.host]: () => new Response("ok", { status: 200 }) });
  const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
  await fund(merchant, customer.id, 4_321);
  await drainWebhooks(queued, { fastForward: true });
  const types = received.map((request) => (JSON.parse(request.rawBody) as { type: string }).type).sort();
  return { types, events: await eventsAndDeliveries(merchant.id) };
}

describe("a cash-in through the filter", () => {
  it('with balance events disabled (["payment.credited"]) delivers only payment.credited; both events are still stored and listed', async () => {
    const merchant = await merchantWithEndpoint();
    expect((await patch("/v1/merchant", { webhook_events: ["payment.credited"] }, bearer(merchant.api_key))).status).toBe(200);
    const { types, events } = await cashInReceived(merchant);
    expect(types).toEqual(["payment.credited"]);
    expect(events.map((event) => [event.type, event.delivered]).sort()).toEqual([
      ["balance_account.balance.updated", 0],
      ["payment.credited", 1],
    ]);
    // Listed by the events API as before: the filter is about delivery only.
    const listed = await listAll(merchant.api_key);
    expect(listed.events.map((event) => event.type).sort()).toEqual(["balance_account.balance.updated", "payment.credited"]);
    const balanceEvent = listed.events.find((event) => event.type === "balance_account.balance.updated")!;
    const shown = await getEvent(merchant.api_key, balanceEvent.id);
    expect(shown.status).toBe(200);
    expect(shown.body.delivery).toBeNull(); // never scheduled
  });

  it('with only balance events (["balance_account.balance.updated"]) delivers only those', async () => {
    const merchant = await merchantWithEndpoint();
    expect((await patch("/v1/merchant", { webhook_events: ["balance_account.balance.updated"] }, bearer(merchant.api_key))).status).toBe(200);
    const { types, events } = await cashInReceived(merchant);
    expect(types).toEqual(["balance_account.balance.updated"]);
    expect(events).toHaveLength(2);
  });

  it('with the default ["*"] delivers every type, as before filters existed', async () => {
    const merchant = await merchantWithEndpoint();
    expect(await storedFilter(merchant.id)).toEqual(["*"]);
    const { types } = await cashInReceived(merchant);
    expect(types).toEqual(["balance_account.balance.updated", "payment.credited"]);
  });

  it("listing every type explicitly is the same as *", async () => {
    const merchant = await merchantWithEndpoint();
    expect((await patch("/v1/merchant", { webhook_events: [...subscribableEventTypes] }, bearer(merchant.api_key))).status).toBe(200);
    const { types } = await cashInReceived(merchant);
    expect(types).toEqual(["balance_account.balance.updated", "payment.credited"]);
  });

  it("applies to later events only: turning a type back on does not deliver what happened while it was off", async () => {
    const merchant = await merchantWithEndpoint();
    await patch("/v1/merchant", { webhook_events: ["payout.completed"] }, bearer(merchant.api_key));
    const first = await cashInReceived(merchant);
    expect(first.types).toEqual([]);
    await patch("/v1/merchant", { webhook_events: ["*"] }, bearer(merchant.api_key));
    const second = await cashInReceived(merchant);
    expect(second.types).toEqual(["balance_account.balance.updated", "payment.credited"]); // the second cash-in's two only
    expect(second.events.filter((event) => event.delivered === 1)).toHaveLength(2);
    expect(second.events).toHaveLength(4);
  });
});

describe("redelivering an event whose type is not enabled", () => {
  it("answers 202 and delivers it: a redeliver is an explicit request", async () => {
    const merchant = await merchantWithEndpoint();
    await patch("/v1/merchant", { webhook_events: ["payment.credited"] }, bearer(merchant.api_key));
    const { events } = await cashInReceived(merchant);
    const balanceEvent = events.find((event) => event.type === "balance_account.balance.updated")!;
    expect(balanceEvent.delivered).toBe(0);

    const queued = captureWebhookQueue();
    const { received } = stubReceivers({ [merchant.host]: () => new Response("ok", { status: 200 }) });
    const answer = await redeliver(merchant.api_key, balanceEvent.id);
    expect(answer.status).toBe(202);
    expect(answer.body.delivery).toMatchObject({ status: "pending" });
    await drainWebhooks(queued, { fastForward: true });
    expect(received.map((request) => (JSON.parse(request.rawBody) as { id: string }).id)).toEqual([balanceEvent.id]);
  });
});

describe("setting webhook_events", () => {
  it("defaults to [\"*\"] on a new merchant, shown by POST, GET and the merchant itself", async () => {
    const created = await api("/v1/merchants", json({ name: "Default filter" }, operatorHeaders()));
    expect(created.status).toBe(201);
    const body = (await created.json()) as { id: string; api_key: string; webhook_events: unknown };
    expect(body.webhook_events).toEqual(["*"]);
    const shown = (await (await api(`/v1/merchants/${body.id}`, { headers: operatorHeaders() })).json()) as { webhook_events: unknown };
    expect(shown.webhook_events).toEqual(["*"]);
    const self = (await (await api("/v1/merchant", { headers: bearer(body.api_key) })).json()) as { webhook_events: unknown };
    expect(self.webhook_events).toEqual(["*"]);
    expect(await storedFilter(body.id)).toEqual(["*"]);
  });

  it("is set by the operator at creation", async () => {
    const created = await api("/v1/merchants", json({ name: "Filtered", webhook_url: "https://filtered.example/hooks", webhook_events: ["payout.failed", "payout.completed"] }, operatorHeaders()));
    expect(created.status).toBe(201);
    const body = (await created.json()) as { id: string; webhook_events: unknown };
    expect(body.webhook_events).toEqual(["payout.failed", "payout.completed"]);
    expect(await storedFilter(body.id)).toEqual(["payout.failed", "payout.completed"]);
  });

  it("is changed by the merchant alone, leaving webhook_url as it is, and the other way round", async () => {
    const merchant = await merchantWithEndpoint();
    const filtered = await patch("/v1/merchant", { webhook_events: ["payment.credited", "payment.reversed"] }, bearer(merchant.api_key));
    expect(filtered.status).toBe(200);
    expect(await filtered.json()).toMatchObject({ id: merchant.id, webhook_url: merchant.url, webhook_events: ["payment.credited", "payment.reversed"] });
    const moved = await patch("/v1/merchant", { webhook_url: "https://elsewhere.example/hooks" }, bearer(merchant.api_key));
    expect(await moved.json()).toMatchObject({ webhook_url: "https://elsewhere.example/hooks", webhook_events: ["payment.credited", "payment.reversed"] });
    const both = await patch("/v1/merchant", { webhook_url: null, webhook_events: ["*"] }, bearer(merchant.api_key));
    expect(await both.json()).toMatchObject({ webhook_url: null, webhook_events: ["*"] });
    expect(await storedFilter(merchant.id)).toEqual(["*"]);
  });

  it("is changed by the operator, alone or with other fields, and only on that merchant", async () => {
    const [merchant, bystander] = await Promise.all([createMerchant("Before"), createMerchant()]);
    const changed = await patch(`/v1/merchants/${merchant.id}`, { webhook_events: ["transfer.completed"] }, operatorHeaders());
    expect(changed.status).toBe(200);
    expect(await changed.json()).toMatchObject({ id: merchant.id, name: "Before", webhook_url: null, webhook_events: ["transfer.completed"] });
    const renamed = await patch(`/v1/merchants/${merchant.id}`, { name: "After", webhook_events: ["*"] }, operatorHeaders());
    expect(await renamed.json()).toMatchObject({ name: "After", webhook_events: ["*"] });
    // Left out, it is kept: a non-default list, so that a PATCH resetting it to ["*"] fails here.
    const narrowed = await patch(`/v1/merchants/${merchant.id}`, { webhook_events: ["transfer.completed"] }, operatorHeaders());
    expect(await narrowed.json()).toMatchObject({ name: "After", webhook_events: ["transfer.completed"] });
    const other = await patch(`/v1/merchants/${merchant.id}`, { name: "Again" }, operatorHeaders());
    expect(other.status).toBe(200);
    expect(await other.json()).toMatchObject({ name: "Again", webhook_events: ["transfer.completed"] });
    expect(await storedFilter(merchant.id)).toEqual(["transfer.completed"]);
    expect(await storedFilter(bystander.id)).toEqual(["*"]);
    // The merchant list shows it too (its rows are read as stored).
    const list = (await (await api("/v1/merchants?limit=100", { headers: operatorHeaders() })).json()) as { data: { id: string; webhook_events: unknown }[] };
    for (const row of list.data) expect(Array.isArray(row.webhook_events)).toBe(true);
  });

  it("refuses an empty body to the merchant, naming webhook_url as before", async () => {
    const merchant = await createMerchant();
    await expectFieldError(await patch("/v1/merchant", {}, bearer(merchant.api_key)), "webhook_url");
  });
});

const invalid: [string, unknown][] = [
  ["an empty list", []],
  ["an unknown type", ["payment.credited", "payment.exploded"]],
  ["a type listed twice", ["payment.credited", "payout.failed", "payment.credited"]],
  ["* twice", ["*", "*"]],
  ["* beside a type", ["*", "payment.credited"]],
  ["a type beside *", ["payout.completed", "*"]],
  ["the platform's payment.quarantined", ["payment.quarantined"]],
  ["a type in another case", ["Payment.Credited"]],
  ["a string instead of a list", "payment.credited"],
  ["null", null],
  ["an object", { "payment.credited": true }],
  ["too many entries", [...subscribableEventTypes, "payment.credited"]],
];

describe.each([
  ["PATCH /v1/merchant", "merchant"],
  ["PATCH /v1/merchants/{id}", "operator"],
  ["POST /v1/merchants", "create"],
] as const)("%s refuses a bad webhook_events", (_route, via) => {
  it.each(invalid)("%s, naming webhook_events and changing nothing", async (_what, value) => {
    const merchant = await createMerchant("Unchanged");
    let response: Response;
    if (via === "merchant") response = await patch("/v1/merchant", { webhook_events: value }, bearer(merchant.api_key));
    else if (via === "operator") response = await patch(`/v1/merchants/${merchant.id}`, { name: "Changed", webhook_events: value }, operatorHeaders());
    else response = await api("/v1/merchants", json({ name: `Refused ${merchant.id}`, webhook_events: value }, operatorHeaders()));
    expect(response.status).toBe(400);
    const problem = (await response.json()) as { code: string; errors: { path: string }[] };
    expect(problem.code).toBe("invalid_request");
    expect(problem.errors.map((error) => error.path)).toContain("webhook_events");
    expect(await storedFilter(merchant.id)).toEqual(["*"]);
    const row = await env.DB.prepare("SELECT name FROM merchants WHERE id = ?").bind(merchant.id).first<{ name: string }>();
    expect(row?.name).toBe("Unchanged");
    const created = await env.DB.prepare("SELECT COUNT(*) AS n FROM merchants WHERE name = ?").bind(`Refused ${merchant.id}`).first<{ n: number }>();
    expect(created?.n).toBe(0);
  });
});

it("refuses an entry that is not a string, naming webhook_events", async () => {
  const merchant = await createMerchant();
  const response = await patch("/v1/merchant", { webhook_events: [7] }, bearer(merchant.api_key));
  expect(response.status).toBe(400);
  const problem = (await response.json()) as { errors: { path: string }[] };
  expect(problem.errors.every((error) => error.path.startsWith("webhook_events"))).toBe(true);
});
