import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/crypto";
import { normalizeReference, referenceKind } from "../../src/domain/reference-code";
import { merchantAccount, platformAccountId } from "../../src/ledger/accounts";
import { postTransaction } from "../../src/ledger/posting";
import { api, bearer, createMerchant, expectFieldError, json, operatorHeaders } from "../helpers";

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

async function errorOf(response: Response) {
  return (await response.json()) as { code: string; errors?: Array<{ path: string; message: string }> };
}

describe("POST /v1/merchants", () => {
  it("creates a merchant with a reference, a key and a webhook secret", async () => {
    const response = await api("/v1/merchants", json({ name: "  Tienda Sur  ", webhook_url: "https://tienda.example/hooks" }, operatorHeaders()));
    expect(response.status).toBe(201);
    const body = (await response.json()) as Record<string, string>;
    expect(body.id).toMatch(/^mer_/);
    expect(body.name).toBe("Tienda Sur");
    expect(body.reference).toMatch(/^MR-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    expect(referenceKind(body.reference!)).toBe("merchant");
    expect(body.api_key).toMatch(/^vak_[a-z2-9]{8}_[a-z2-9]{52}$/);
    expect(body.webhook_secret).toMatch(/^whsec_[a-z2-9]{40}$/);
    expect(body.webhook_url).toBe("https://tienda.example/hooks");
    expect(body.created_at).toMatch(rfc3339);
  });

  it("stores only the key's hash, under its 12-character prefix, and the reference normalized", async () => {
    const merchant = await createMerchant();
    const key = await env.DB.prepare("SELECT prefix, key_hash, revoked_at FROM api_keys WHERE merchant_id = ?").bind(merchant.id).first();
    expect(key).toEqual({ prefix: merchant.api_key.slice(0, 12), key_hash: await sha256Hex(merchant.api_key), revoked_at: null });
    const row = await env.DB.prepare("SELECT reference FROM merchants WHERE id = ?").bind(merchant.id).first<{ reference: string }>();
    expect(row?.reference).toBe(normalizeReference(merchant.reference));
  });

  it("opens the merchant's ledger accounts in the same write", async () => {
    const merchant = await createMerchant();
    const account = await env.DB.prepare("SELECT kind, owner_id, currency FROM ledger_accounts WHERE id = ?")
      .bind(merchantAccount(merchant.id, "ARS").id)
      .first();
    expect(account).toEqual({ kind: "merchant", owner_id: merchant.id, currency: "ARS" });
  });

  it("accepts http webhooks on localhost only", async () => {
    const local = await api("/v1/merchants", json({ name: "Dev", webhook_url: "http://localhost:3000/hook" }, operatorHeaders()));
    expect(local.status).toBe(201);
    await expectFieldError(await api("/v1/merchants", json({ name: "Dev", webhook_url: "http://example.com/hook" }, operatorHeaders())), "webhook_url");
  });

  it.each([
    [{ name: "" }, "name"],
    [{ name: "   " }, "name"],
    [{ name: "x".repeat(201) }, "name"],
    [{}, "name"],
    [{ name: 42 }, "name"],
    [{ name: "Ok", webhook_url: "not a url" }, "webhook_url"],
    [{ name: "Ok", webhook_url: "ftp://example.com/hook" }, "webhook_url"],
    [{ name: "Ok", webhook_url: `https://example.com/${"a".repeat(2048)}` }, "webhook_url"],
    [{ name: "Ok", api_key: "vak_chosen" }, "api_key"],
  ])("refuses %j naming %s", async (body, field) => {
    await expectFieldError(await api("/v1/merchants", json(body, operatorHeaders())), field);
  });
});

describe("GET /v1/merchants/{id}", () => {
  it("returns the merchant without secrets", async () => {
    const merchant = await createMerchant("Visible");
    const response = await api(`/v1/merchants/${merchant.id}`, { headers: operatorHeaders() });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    // API §12: the merchant object names its balance and reserve accounts (in the primary currency).
    const suffix = merchant.id.slice(4);
    expect(body).toEqual({
      id: merchant.id,
      name: "Visible",
      reference: merchant.reference,
      webhook_url: null,
      webhook_events: ["*"], // every event type (src/webhooks/event-filter.ts): the default
      payout_cbu: null,
      balance_account_id: `ba_m${suffix}_ars`,
      reserve_account_id: `ba_r${suffix}_ars`,
      created_at: expect.stringMatching(rfc3339),
    });
  });

  it("answers 404 for an unknown id", async () => {
    const response = await api("/v1/merchants/mer_doesnotexist000", { headers: operatorHeaders() });
    expect(response.status).toBe(404);
    expect((await errorOf(response)).code).toBe("not_found");
  });
});

describe("merchant API keys", () => {
  it("issues a second key while the first keeps working, then revokes the first", async () => {
    const merchant = await createMerchant();
    const issued = await api(`/v1/merchants/${merchant.id}/api-keys`, { method: "POST", headers: operatorHeaders() });
    expect(issued.status).toBe(201);
    const second = (await issued.json()) as { api_key: string; key_prefix: string };
    expect(second.api_key).toMatch(/^vak_[a-z2-9]{8}_[a-z2-9]{52}$/);
    expect(second.key_prefix).toBe(second.api_key.slice(0, 12));

    for (const key of [merchant.api_key, second.api_key]) {
      expect((await api("/v1/merchant", { headers: bearer(key) })).status).toBe(200);
    }

    const firstPrefix = merchant.api_key.slice(0, 12);
    const revoked = await api(`/v1/merchants/${merchant.id}/api-keys/${firstPrefix}`, { method: "DELETE", headers: operatorHeaders() });
    expect(revoked.status).toBe(200);
    const body = (await revoked.json()) as { key_prefix: string; revoked: boolean; revoked_at: string };
    expect(body).toEqual({ key_prefix: firstPrefix, revoked: true, revoked_at: expect.stringMatching(rfc3339) });

    expect((await api("/v1/merchant", { headers: bearer(merchant.api_key) })).status).toBe(401);
    expect((await api("/v1/merchant", { headers: bearer(second.api_key) })).status).toBe(200);

    // A DELETE is safe to retry: the same answer, the first revocation time.
    const again = await api(`/v1/merchants/${merchant.id}/api-keys/${firstPrefix}`, { method: "DELETE", headers: operatorHeaders() });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(body);
  });

  it("allows revoking the last key", async () => {
    const merchant = await createMerchant();
    const response = await api(`/v1/merchants/${merchant.id}/api-keys/${merchant.api_key.slice(0, 12)}`, { method: "DELETE", headers: operatorHeaders() });
    expect(response.status).toBe(200);
    expect((await api("/v1/merchant", { headers: bearer(merchant.api_key) })).status).toBe(401);
  });

  it("answers 404 for an unknown merchant or a key of another merchant", async () => {
    const issued = await api("/v1/merchants/mer_doesnotexist000/api-keys", { method: "POST", headers: operatorHeaders() });
    expect(issued.status).toBe(404);

    const [owner, other] = await Promise.all([createMerchant(), createMerchant()]);
    const prefix = owner.api_key.slice(0, 12);
    const crossed = await api(`/v1/merchants/${other.id}/api-keys/${prefix}`, { method: "DELETE", headers: operatorHeaders() });
    expect(crossed.status).toBe(404);
    expect((await api("/v1/merchant", { headers: bearer(owner.api_key) })).status).toBe(200);

    const unknown = await api(`/v1/merchants/${owner.id}/api-keys/vak_zzzzzzzz`, { method: "DELETE", headers: operatorHeaders() });
    expect(unknown.status).toBe(404);
  });
});

describe("GET /v1/merchant", () => {
  it("returns the caller's own merchant, without secrets", async () => {
    const merchant = await createMerchant("Self");
    const response = await api("/v1/merchant", { headers: bearer(merchant.api_key) });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body.id).toBe(merchant.id);
    expect(body.reference).toBe(merchant.reference);
    expect(body).not.toHaveProperty("api_key");
    expect(body).not.toHaveProperty("webhook_secret");
  });
});

describe("GET /v1/merchant/balance", () => {
  it("starts at zero", async () => {
    const merchant = await createMerchant();
    const response = await api("/v1/merchant/balance", { headers: bearer(merchant.api_key) });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ merchant_id: merchant.id, currency: "ARS", available: 0, reserved: 0, updated_at: expect.stringMatching(rfc3339) });
  });

  it("reads available and reserved from the merchant's ledger account", async () => {
    const merchant = await createMerchant();
    const account = merchantAccount(merchant.id, "ARS").id;
    const attribution = platformAccountId.attribution("ARS");
    const now = Date.now();
    const post = (id: string, status: "posted" | "pending", direction: "credit" | "debit", amount: number) =>
      postTransaction(
        env.DB,
        {
          id,
          status,
          description: "test",
          ledgerable_type: "test",
          ledgerable_id: id,
          effective_at: now,
          entries: [
            { account_id: account, direction, amount },
            { account_id: attribution, direction: direction === "credit" ? "debit" : "credit", amount },
          ],
        },
        now,
      );
    await env.DB.batch([...post(`lt_test_${merchant.id}_in`, "posted", "credit", 100_000), ...post(`lt_test_${merchant.id}_out`, "pending", "debit", 30_000)]);

    const response = await api("/v1/merchant/balance?currency=ARS", { headers: bearer(merchant.api_key) });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ merchant_id: merchant.id, currency: "ARS", available: 70_000, reserved: 30_000 });
  });

  it("refuses a currency that is not enabled, or not a currency code", async () => {
    const merchant = await createMerchant();
    const usd = await api("/v1/merchant/balance?currency=USD", { headers: bearer(merchant.api_key) });
    expect(usd.status).toBe(400);
    expect((await errorOf(usd)).code).toBe("unsupported_currency");
    await expectFieldError(await api("/v1/merchant/balance?currency=pesos", { headers: bearer(merchant.api_key) }), "query.currency");
  });
});
