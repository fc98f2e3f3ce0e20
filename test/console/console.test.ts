/**
 * The operator console (/console): the page, its script, and every fragment it shows, rendered
 * from the real API with the key the browser sends. The browser itself is driven in
 * test-browser/console.browser.test.mjs.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, bearer, createCustomer, createMerchant, json, operatorHeaders, randomCbu, randomCuit } from "../helpers";
import { sendBankEvent, transferEvent, uniqueId } from "../money";

const OPERATOR_KEY = env.ADMIN_API_KEY!;

function form(fields: Record<string, string>, key: string = OPERATOR_KEY): RequestInit {
  return { method: "POST", headers: { ...bearer(key), "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() };
}

async function fragment(path: string, init: RequestInit = { headers: operatorHeaders() }): Promise<{ status: number; html: string; response: Response }> {
  const response = await api(`/console/fragments${path}`, init);
  expectConsoleHeaders(response);
  return { status: response.status, html: await response.text(), response };
}

/** No cookie, no caching of what a key showed, no framing. */
function expectConsoleHeaders(response: Response) {
  expect(response.headers.get("set-cookie")).toBeNull();
  expect(response.headers.get("cache-control")).toBe("no-store");
  expect(response.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
}

/** Every URL a fragment points at: none may carry the key. */
function urlsIn(html: string): string[] {
  return [...html.matchAll(/\b(?:href|src|action)="([^"]*)"/g)].map((match) => match[1]!);
}

function expectNoKeyIn(html: string) {
  expect(html).not.toContain(OPERATOR_KEY);
  for (const url of urlsIn(html)) expect(url.toLowerCase()).not.toMatch(/key|authorization|bearer/);
}

/** A cash-in nobody can be matched to: no reference in its concepto, a sender we do not know. */
async function quarantinedPayment(amount: number, sender = { cuit: randomCuit(), name: "Unknown Sender", cbu: randomCbu() }) {
  const event = transferEvent({ amount, concepto: `varios ${uniqueId("x")}`, sender });
  expect((await sendBankEvent(event)).status).toBe(200);
  const payment = await env.DB.prepare("SELECT id, status FROM payments WHERE bank_transaction_id = ?").bind(event.data.bank_transaction_id).first<{ id: string; status: string }>();
  expect(payment?.status).toBe("quarantined");
  return payment!.id;
}

describe("the console page and its script", () => {
  it("serves one HTML page with a labelled password field, its own script and a CSP, and sets no cookie", async () => {
    const response = await api("/console");
    expect(response.status).toBe(200);
    expectConsoleHeaders(response);
    const policy = response.headers.get("content-security-policy")!;
    expect(policy).toContain("script-src 'self'");
    expect(policy).not.toContain("unsafe-eval");
    const html = await response.text();
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toMatch(/<label for="operator-key">Operator key<\/label>/);
    expect(html).toMatch(/<input id="operator-key"[^>]*type="password"/);
    // The only script is the served file: nothing inline (the CSP would refuse it anyway).
    expect([...html.matchAll(/<script\b[^>]*>/g)].map((match) => match[0])).toEqual(['<script src="/console/app.js" defer="">']);
    expect(html).not.toMatch(/<script[^>]*>[^<]+<\/script>/);
    for (const heading of ["Quarantine", "Reconciliation", "Failed bank events", "Invariants", "Merchants"]) expect(html).toContain(`>${heading}</a>`);
  });

  it("keeps the key in sessionStorage and the Authorization header only: never a cookie, localStorage or a URL", async () => {
    const response = await api("/console/app.js");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/javascript");
    expectConsoleHeaders(response);
    const script = await response.text();
    expect(script).toContain("sessionStorage");
    expect(script).toContain('"Authorization": "Bearer " + key()');
    expect(script).toContain('credentials: "omit"');
    expect(script).not.toMatch(/document\.cookie|localStorage|indexedDB/);
    // The key reaches fetch only as a header: no URL is built from it.
    expect(script).not.toMatch(/\?[^"]*key\(\)|\+ key\(\)(?! *[,}])/);
  });

  it("is linked from the start page", async () => {
    const html = await (await api("/", { headers: { accept: "text/html" } })).text();
    expect(html).toContain('href="/console"');
  });
});

describe("the console's key checks", () => {
  const views = ["/quarantine", "/reconciliations", "/bank-events", "/invariants", "/merchants"];

  it("answers every view without a key with 401 and a message, calling nothing", async () => {
    for (const view of views) {
      const { status, html } = await fragment(view, {});
      expect(status, view).toBe(401);
      expect(html).toContain('role="alert"');
      expect(html).toContain("Missing bearer API key.");
    }
  });

  it("says a wrong key is wrong (401), and that a merchant's key is not the operator's (403)", async () => {
    const merchant = await createMerchant();
    for (const view of views) {
      const wrong = await fragment(view, { headers: bearer("sk_not_the_key") });
      expect(wrong.status, view).toBe(401);
      expect(wrong.html).toMatch(/Wrong key: the API refused it/);
      expectNoKeyIn(wrong.html);
      const merchantKey = await fragment(view, { headers: bearer(merchant.api_key) });
      expect(merchantKey.status, view).toBe(403);
      expect(merchantKey.html).toMatch(/not the operator&#39;s/); // escaped like all text
      expect(merchantKey.html).not.toContain(merchant.api_key);
    }
  });

  it("refuses actions with a wrong key and changes nothing", async () => {
    const paymentId = await quarantinedPayment(1_234);
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const refused = await fragment(`/quarantine/${paymentId}/assign`, form({ customer_id: customer.id, merchant_id: merchant.id }, "sk_wrong"));
    expect(refused.status).toBe(401);
    const payment = await env.DB.prepare("SELECT status FROM payments WHERE id = ?").bind(paymentId).first<{ status: string }>();
    expect(payment?.status).toBe("quarantined");
  });
});

describe("quarantine view", () => {
  it("lists a held payment in pesos and Buenos Aires time, and assigning it shows the customer's balance change", async () => {
    const paymentId = await quarantinedPayment(424_242);
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);

    const list = await fragment("/quarantine?limit=100");
    expect(list.status).toBe(200);
    expect(list.html).toContain(`data-payment-id="${paymentId}"`);
    expect(list.html).toContain("$ 4.242,42");
    expect(list.html).toMatch(/<time datetime="[^"]+Z" title="[^"]+">\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d<\/time>/);
    expect(list.html).toMatch(/<label for="customer-[^"]+">Customer ID<\/label>/);
    expectNoKeyIn(list.html);

    const assigned = await fragment(`/quarantine/${paymentId}/assign`, form({ customer_id: customer.id, merchant_id: merchant.id, idempotency_key: crypto.randomUUID() }));
    expect(assigned.status).toBe(200);
    expect(assigned.html).toContain('role="status"');
    expect(assigned.html).toMatch(/data-balance="before"><span class="money">\$ 0,00<\/span>/);
    expect(assigned.html).toMatch(/data-balance="after"><span class="money">\$ 4.242,42<\/span>/);
    expect(assigned.html).not.toContain(`data-payment-id="${paymentId}"`);
    const balance = (await (await api(`/v1/customers/${customer.id}/balance`, { headers: bearer(merchant.api_key) })).json()) as { available: number };
    expect(balance.available).toBe(424_242);
  });

  it("shows the API's refusal of an assignment, naming the field, and keeps the payment held", async () => {
    const paymentId = await quarantinedPayment(1_000);
    const merchant = await createMerchant();
    const refused = await fragment(`/quarantine/${paymentId}/assign`, form({ customer_id: "cus_does_not_exist_0000000", merchant_id: merchant.id }));
    expect(refused.status).toBe(404);
    expect(refused.html).toContain('role="alert"');
    expect(refused.html).toContain("No such customer.");
    const empty = await fragment(`/quarantine/${paymentId}/assign`, form({ customer_id: "", merchant_id: "" }));
    expect(empty.status).toBe(400);
    expect(empty.html).toContain("<code>customer_id</code>");
  });

  it("returns a held payment to its sender", async () => {
    const sender = { cuit: randomCuit(), name: "Returned Sender", cbu: randomCbu() };
    const paymentId = await quarantinedPayment(2_500, sender);
    const returned = await fragment(`/quarantine/${paymentId}/return`, form({ idempotency_key: crypto.randomUUID() }));
    expect(returned.status).toBe(200);
    expect(returned.html).toContain(`to CBU <code>${sender.cbu}</code>`);
    const payout = await env.DB.prepare("SELECT kind FROM payouts WHERE payment_id = ?").bind(paymentId).first<{ kind: string }>();
    expect(payout?.kind).toBe("return");
  });
});

describe("reconciliation view", () => {
  it("starts a run for a date, shows it running and lists it with its totals", async () => {
    const date = "2024-02-29";
    const started = await fragment("/reconciliations", form({ date, idempotency_key: crypto.randomUUID() }));
    expect(started.status).toBe(200);
    expect(started.html).toContain(`Reconciliation of ${date}`);
    expect(started.html).toMatch(/data-run-status="running"/);
    // A running run's view asks the script to refresh it.
    expect(started.html).toMatch(/data-refresh-ms="1000"/);
    const runId = started.html.match(/data-view="\/reconciliations\/([^"]+)"/)![1]!;

    const list = await fragment(`/reconciliations?date=${date}`);
    expect(list.html).toContain(`href="#/reconciliations/${runId}"`);
    expect(list.html).toContain("Statement lines");
    const run = await fragment(`/reconciliations/${runId}`);
    expect(run.status).toBe(200);
    expect(run.html).toContain("Discrepancies");
  });

  it("shows a bad date and an unknown run as the API's problems", async () => {
    const bad = await fragment("/reconciliations", form({ date: "29/02/2024" }));
    expect(bad.status).toBe(400);
    expect(bad.html).toContain("<code>date</code>");
    const missing = await fragment("/reconciliations/rec_missing_000000");
    expect(missing.status).toBe(404);
    expect(missing.html).toContain("No such reconciliation run.");
    const resolve = await fragment("/reconciliations/rec_missing_000000/discrepancies/dis_missing_00/resolve", form({ note: "checked" }));
    expect(resolve.status).toBe(404);
  });
});

describe("failed bank events view", () => {
  it("lists a failed event with its error and retries it", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = ((await (await api(`/v1/customers/${customer.id}/deposit-details`, { headers: bearer(merchant.api_key) })).json()) as { reference: string }).reference;
    const transfer = transferEvent({ amount: 5_000, concepto: reference });
    const reversal = { id: uniqueId("evt"), type: "transfer.reversed", created_at: new Date().toISOString(), data: { bank_transaction_id: transfer.data.bank_transaction_id, reversal_id: uniqueId("rev"), reason: "fraud" } };
    expect((await sendBankEvent(reversal)).status).toBe(500);

    const list = await fragment("/bank-events");
    expect(list.html).toContain(`<code>${reversal.id}</code>`);
    expect(list.html).toMatch(/no payment/);
    expect(list.html).toContain(`action="/console/fragments/bank-events/${reversal.id}/retry"`);

    // Still nothing to reverse: the API answers 200 with the event still failed (the retry
    // itself worked), and the console shows its new error.
    const stillFailing = await fragment(`/bank-events/${reversal.id}/retry`, form({}));
    expect(stillFailing.status).toBe(200);
    expect(stillFailing.html).toContain("(still_failing):</strong>");
    expect(stillFailing.html).toMatch(new RegExp(`Retried ${reversal.id}: it failed again \\(no payment for bank_transaction_id`));
    expect(stillFailing.html).toMatch(/<td class="num">2<\/td>/); // the attempt is counted
    expect((await sendBankEvent(transfer)).status).toBe(200);
    const retried = await fragment(`/bank-events/${reversal.id}/retry`, form({}));
    expect(retried.status).toBe(200);
    expect(retried.html).toContain(`Retried <code>${reversal.id}</code>: processed.`);
  });
});

describe("invariants view", () => {
  it("shows each check, marked in words as well as colour, with its detail", async () => {
    const { status, html } = await fragment("/invariants");
    expect(status).toBe(200);
    const checks = [...html.matchAll(/<li class="check (ok|bad)" data-check="([^"]+)">/g)];
    expect(checks.length).toBeGreaterThan(3);
    for (const [, state] of checks) expect(["ok", "bad"]).toContain(state);
    expect(html).toMatch(/holds|does not hold/);
  });
});

describe("merchants view", () => {
  it("creates a merchant, shows its key once, and lists it without the key", async () => {
    const idempotencyKey = crypto.randomUUID();
    const name = `Console ${uniqueId("m")}`;
    const created = await fragment("/merchants", form({ name, webhook_url: "", idempotency_key: idempotencyKey }));
    expect(created.status).toBe(201);
    const apiKey = created.html.match(/data-secret="api_key">(vak_[A-Za-z0-9_]+)</)?.[1];
    expect(apiKey).toBeDefined();
    expect(created.html).toContain("shown only once");
    expect((await api("/v1/merchant", { headers: bearer(apiKey!) })).status).toBe(200);

    const list = await fragment("/merchants?limit=100");
    expect(list.html).toContain(name);
    expect(list.html).not.toContain(apiKey!);
    // A repeat of the same form (double click): the same merchant, and no key shown again.
    const repeat = await fragment("/merchants", form({ name, idempotency_key: idempotencyKey }));
    expect(repeat.html).toContain("cannot be shown again");
    expect(repeat.html).not.toContain(apiKey!);
  });

  it("escapes hostile data: a merchant named <script> is text, never markup", async () => {
    const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)> & "quoted"`;
    const created = await fragment("/merchants", form({ name: hostile }));
    expect(created.status).toBe(201);
    const list = await fragment("/merchants");
    for (const html of [created.html, list.html]) {
      expect(html).not.toContain("<script>");
      expect(html).not.toContain("<img src=x");
      expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quoted&quot;");
    }
  });

  it("shows the API's refusal of a creation", async () => {
    const refused = await fragment("/merchants", form({ name: "" }));
    expect(refused.status).toBe(400);
    expect(refused.html).toContain("<code>name</code>");
  });
});

describe("GET /v1/merchants", () => {
  it("lists merchants newest first with a cursor, without secrets, for the operator only", async () => {
    const first = await createMerchant(`List ${uniqueId("a")}`);
    const second = await createMerchant(`List ${uniqueId("b")}`);
    const page = (await (await api("/v1/merchants?limit=2", { headers: operatorHeaders() })).json()) as { data: Record<string, unknown>[]; has_more: boolean; next_cursor: string };
    expect(page.data.map((merchant) => merchant.id)).toEqual([second.id, first.id]);
    expect(Object.keys(page.data[0]!).sort()).toEqual(["balance_account_id", "created_at", "id", "name", "payout_cbu", "reference", "reserve_account_id", "webhook_events", "webhook_url"]);
    const next = (await (await api(`/v1/merchants?limit=2&cursor=${encodeURIComponent(page.next_cursor)}`, { headers: operatorHeaders() })).json()) as { data: { id: string }[] };
    expect(next.data.map((merchant) => merchant.id)).not.toContain(first.id);
    expect((await api("/v1/merchants", { headers: bearer(first.api_key) })).status).toBe(403);
    expect((await api("/v1/merchants")).status).toBe(401);
    expect((await api("/v1/merchants?limit=0", { headers: operatorHeaders() })).status).toBe(400);
    void json;
  });
});
