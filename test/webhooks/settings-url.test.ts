/**
 * Where a merchant's webhooks may go (API §3, §14): PATCH /v1/merchant, PATCH /v1/merchants/{id}
 * and POST /v1/merchants refuse any URL that would make the Worker probe a private network.
 * The tests run with SANDBOX=true, so the routes show the sandbox's rules and the pure function
 * (src/webhooks/destination.ts) shows production's.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { webhookUrlProblem } from "../../src/webhooks/destination";
import { api, bearer, createMerchant, expectFieldError, json, operatorHeaders } from "../helpers";

function patch(path: string, body: unknown, headers: Record<string, string>): Promise<Response> {
  return api(path, { method: "PATCH", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

async function storedUrl(merchantId: string): Promise<string | null> {
  const row = await env.DB.prepare("SELECT webhook_url FROM merchants WHERE id = ?").bind(merchantId).first<{ webhook_url: string | null }>();
  return row!.webhook_url;
}

const longUrl = `https://example.com/${"a".repeat(2049 - "https://example.com/".length)}`;

/** Refused everywhere, sandbox or not. */
const refused = [
  "https://10.0.0.1/hook",
  "https://172.16.5.4/hook",
  "https://192.168.1.1/hook",
  "https://100.64.0.1/hook",
  "https://127.0.0.1/hook",
  "https://0.0.0.0/hook",
  "https://169.254.169.254/latest",
  "https://[::1]/hook",
  "https://[::]/hook",
  "https://[fd00::1]/hook",
  "https://[fe80::1]/hook",
  "https://[::ffff:127.0.0.1]/hook",
  "https://[::ffff:10.0.0.1]/hook",
  "https://[2002:a00:1::]/hook",
  "https://0x7f.1/hook",
  "https://2130706433/hook",
  "https://017700000001/hook",
  "https://localhost/hook",
  "https://localhost./hook",
  "https://foo.localhost/hook",
  "https://foo.localhost./hook",
  "https://printer.local/hook",
  "https://metadata.google.internal/computeMetadata",
  "https://intranet/hook",
  "https://intranet./hook",
  "https://user:pass@example.com/hook",
  "https://user@example.com/hook",
  "ftp://example.com/hook",
  "javascript:alert(1)",
  "file:///etc/passwd",
  "not a url",
  "/relative/hook",
  " https://example.com/hook",
  "https://exa\nmple.com/hook",
  "http://example.com/hook",
  "http://10.0.0.1/hook",
  longUrl,
];

describe("webhookUrlProblem", () => {
  it.each(refused)("refuses %j outside the sandbox", (url) => {
    expect(webhookUrlProblem(url, false)).toEqual(expect.any(String));
  });

  it.each(refused)("refuses %j in the sandbox too", (url) => {
    expect(webhookUrlProblem(url, true)).toEqual(expect.any(String));
  });

  it("refuses plain http even to localhost outside the sandbox, saying https", () => {
    for (const url of ["http://localhost:3000/hook", "http://127.0.0.1:3000/hook", "http://[::1]:3000/hook", "http://example.com/hook"]) {
      expect(webhookUrlProblem(url, false)).toBe("must use https");
    }
  });

  it("accepts public https anywhere, and plain http to localhost only in the sandbox", () => {
    for (const url of ["https://example.com/hook", "https://hooks.example.com:8443/a?b=c", "https://93.184.216.34/hook", "https://[2606:4700::1111]/hook"]) {
      expect(webhookUrlProblem(url, false)).toBeNull();
      expect(webhookUrlProblem(url, true)).toBeNull();
    }
    for (const url of ["http://localhost:3000/hook", "http://127.0.0.1:3000/hook", "http://[::1]:3000/hook", "http://app.localhost:3000/hook"]) {
      expect(webhookUrlProblem(url, true)).toBeNull();
    }
    expect(webhookUrlProblem(longUrl.slice(0, 2048), false)).toBeNull();
  });
});

describe("PATCH /v1/merchant", () => {
  it.each(refused)("refuses %j naming webhook_url, and changes nothing", async (url) => {
    const merchant = await createMerchant();
    await expectFieldError(await patch("/v1/merchant", { webhook_url: url }, bearer(merchant.api_key)), "webhook_url");
    expect(await storedUrl(merchant.id)).toBeNull();
  });

  it("sets an https endpoint, a localhost one in the sandbox, and removes it with null", async () => {
    const merchant = await createMerchant();
    for (const webhook_url of ["https://example.com/hook", "http://localhost:3000/hook", null]) {
      const response = await patch("/v1/merchant", { webhook_url }, bearer(merchant.api_key));
      expect(response.status).toBe(200);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ id: merchant.id, webhook_url });
      expect(body).not.toHaveProperty("webhook_secret");
      expect(await storedUrl(merchant.id)).toBe(webhook_url);
      const self = (await (await api("/v1/merchant", { headers: bearer(merchant.api_key) })).json()) as { webhook_url: unknown };
      expect(self.webhook_url).toBe(webhook_url);
    }
  });

  it.each([
    [{}, "webhook_url"],
    [{ webhook_url: 42 }, "webhook_url"],
    [{ webhook_url: ["https://example.com/hook"] }, "webhook_url"],
    [{ webhook_url: "https://example.com/hook", name: "Renamed" }, "name"],
    [{ webhook_url: "https://example.com/hook", webhook_secret: "whsec_chosen" }, "webhook_secret"],
    [[], "body"],
    ["https://example.com/hook", "body"],
  ])("refuses %j naming %s", async (body, field) => {
    const merchant = await createMerchant();
    await expectFieldError(await patch("/v1/merchant", body, bearer(merchant.api_key)), field);
  });

  it("refuses malformed JSON and a non-JSON body", async () => {
    const merchant = await createMerchant();
    const malformed = await api("/v1/merchant", { method: "PATCH", headers: { ...bearer(merchant.api_key), "content-type": "application/json" }, body: "{" });
    await expectFieldError(malformed, "body");
    const text = await api("/v1/merchant", { method: "PATCH", headers: { ...bearer(merchant.api_key), "content-type": "text/plain" }, body: "x" });
    expect(text.status).toBe(415);
  });

  it("changes only the caller's own row, and is refused to the operator", async () => {
    const [merchant, bystander] = await Promise.all([createMerchant(), createMerchant()]);
    expect((await patch("/v1/merchant", { webhook_url: "https://example.com/mine" }, bearer(merchant.api_key))).status).toBe(200);
    expect(await storedUrl(bystander.id)).toBeNull();
    expect((await patch("/v1/merchant", { webhook_url: "https://example.com/hook" }, operatorHeaders())).status).toBe(403);
    expect((await patch("/v1/merchant", { webhook_url: "https://example.com/hook" }, {})).status).toBe(401);
  });
});

describe("PATCH /v1/merchants/{id}", () => {
  it("updates the name and the endpoint for the operator", async () => {
    const merchant = await createMerchant("Before");
    const renamed = await patch(`/v1/merchants/${merchant.id}`, { name: "  After  " }, operatorHeaders());
    expect(renamed.status).toBe(200);
    expect(await renamed.json()).toMatchObject({ id: merchant.id, name: "After", webhook_url: null, reference: merchant.reference });
    const both = await patch(`/v1/merchants/${merchant.id}`, { name: "Both", webhook_url: "https://example.com/op" }, operatorHeaders());
    expect(await both.json()).toMatchObject({ name: "Both", webhook_url: "https://example.com/op" });
    const removed = await patch(`/v1/merchants/${merchant.id}`, { webhook_url: null }, operatorHeaders());
    expect(await removed.json()).toMatchObject({ name: "Both", webhook_url: null });
    const shown = (await (await api(`/v1/merchants/${merchant.id}`, { headers: operatorHeaders() })).json()) as Record<string, unknown>;
    expect(shown).toMatchObject({ name: "Both", webhook_url: null });
  });

  it.each(["https://169.254.169.254/latest", "https://[::ffff:127.0.0.1]/hook", "https://intranet/hook", "http://example.com/hook", longUrl])(
    "refuses %j naming webhook_url, and changes nothing (not even the name)",
    async (url) => {
      const merchant = await createMerchant("Unchanged");
      await expectFieldError(await patch(`/v1/merchants/${merchant.id}`, { name: "Changed", webhook_url: url }, operatorHeaders()), "webhook_url");
      const row = await env.DB.prepare("SELECT name, webhook_url FROM merchants WHERE id = ?").bind(merchant.id).first();
      expect(row).toEqual({ name: "Unchanged", webhook_url: null });
    },
  );

  it.each([
    [{}, "body"],
    [{ name: "" }, "name"],
    [{ name: 7 }, "name"],
    [{ webhook_url: 7 }, "webhook_url"],
    [{ payout_cbu: "2850590940090418135200" }, "payout_cbu"], // a wrong check digit (a valid CBU is accepted since issue 12)
    [{ name: "Ok", reference: "MR-AAAA-BBBB" }, "reference"],
  ])("refuses %j naming %s", async (body, field) => {
    const merchant = await createMerchant();
    await expectFieldError(await patch(`/v1/merchants/${merchant.id}`, body, operatorHeaders()), field);
  });

  it("answers 404 for an unknown merchant, and 403 to a merchant, even on its own id", async () => {
    const unknown = await patch("/v1/merchants/mer_doesnotexist0000000000", { name: "Ghost" }, operatorHeaders());
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { code: string }).code).toBe("not_found");

    const [merchant, other] = await Promise.all([createMerchant("Mine"), createMerchant("Theirs")]);
    for (const id of [other.id, merchant.id]) {
      const response = await patch(`/v1/merchants/${id}`, { name: "Hijacked", webhook_url: "https://attacker.example/hook" }, bearer(merchant.api_key));
      expect(response.status).toBe(403);
    }
    const row = await env.DB.prepare("SELECT name, webhook_url FROM merchants WHERE id = ?").bind(other.id).first();
    expect(row).toEqual({ name: "Theirs", webhook_url: null });
  });
});

describe("POST /v1/merchants with a webhook_url", () => {
  it.each(["https://10.0.0.1/hook", "https://localhost/hook", "https://[fe80::1]/hook", "http://example.com/hook"])(
    "refuses %j naming webhook_url, creating nothing",
    async (url) => {
      const name = `Refused ${crypto.randomUUID()}`;
      await expectFieldError(await api("/v1/merchants", json({ name, webhook_url: url }, operatorHeaders())), "webhook_url");
      const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM merchants WHERE name = ?").bind(name).first<{ n: number }>();
      expect(count?.n).toBe(0);
    },
  );

  it("accepts a public https URL and, in the sandbox, http to localhost", async () => {
    for (const webhook_url of ["https://example.com/hook", "http://localhost:4242/webhooks"]) {
      const response = await api("/v1/merchants", json({ name: "Hooked", webhook_url }, operatorHeaders()));
      expect(response.status).toBe(201);
      expect(await response.json()).toMatchObject({ webhook_url });
    }
  });
});
