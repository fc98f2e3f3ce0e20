/**
 * Webhook secrets at rest (API §3, §14): sealed in D1 from creation and after every rotation,
 * shown once, opened only for its own merchant under WEBHOOK_SECRET_KEY.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/env";
import { webhookEndpoint } from "../../src/webhooks/endpoint";
import { isSealed, openWebhookSecret, sealWebhookSecret } from "../../src/webhooks/secret-box";
import { api, bearer, createMerchant, json, operatorHeaders } from "../helpers";

const secretKey = env.WEBHOOK_SECRET_KEY!;

async function storedSecret(merchantId: string): Promise<string> {
  const row = await env.DB.prepare("SELECT webhook_secret FROM merchants WHERE id = ?").bind(merchantId).first<{ webhook_secret: string }>();
  return row!.webhook_secret;
}

/** Every column of every row that could hold a secret: the merchant's and the idempotency log's. */
async function everythingStored(merchantId: string): Promise<string> {
  const merchant = await env.DB.prepare("SELECT * FROM merchants WHERE id = ?").bind(merchantId).first();
  const log = await env.DB.prepare("SELECT * FROM idempotency_keys WHERE caller = ? OR response_body LIKE ?").bind(merchantId, `%${merchantId}%`).all();
  return JSON.stringify([merchant, log.results]);
}

interface Rotated {
  merchant_id: string;
  webhook_secret: string | null;
  rotated_at: string;
}

async function rotate(apiKey: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Rotated; replayed: string | null }> {
  const response = await api("/v1/merchant/webhook-secret", { method: "POST", headers: { ...bearer(apiKey), ...headers } });
  return { status: response.status, body: (await response.json()) as Rotated, replayed: response.headers.get("idempotent-replayed") };
}

describe("the webhook secret at rest", () => {
  it("is sealed in D1 from creation, and opens to the secret shown, for its merchant, under its key", async () => {
    const merchant = await createMerchant();
    expect(merchant.webhook_secret).toMatch(/^whsec_[a-z2-9]{40}$/);
    const stored = await storedSecret(merchant.id);
    expect(isSealed(stored)).toBe(true);
    expect(await everythingStored(merchant.id)).not.toContain(merchant.webhook_secret);
    expect(await openWebhookSecret(secretKey, merchant.id, stored)).toBe(merchant.webhook_secret);
    // What the sender uses (src/webhooks/endpoint.ts) once the merchant has an endpoint.
    await api("/v1/merchant", { method: "PATCH", headers: { ...bearer(merchant.api_key), "content-type": "application/json" }, body: JSON.stringify({ webhook_url: "https://receiver.example/hook" }) });
    expect(await webhookEndpoint(env, loadConfig(env), merchant.id)).toEqual({ url: "https://receiver.example/hook", secret: merchant.webhook_secret });
  });

  it("does not open on another merchant's row, tampered with, or under another WEBHOOK_SECRET_KEY", async () => {
    const [one, other] = await Promise.all([createMerchant(), createMerchant()]);
    const stored = await storedSecret(one.id);
    await expect(openWebhookSecret(secretKey, other.id, stored)).rejects.toThrow();
    // Copied onto the other merchant's row, the sender cannot use it either.
    await env.DB.prepare("UPDATE merchants SET webhook_secret = ?, webhook_url = ? WHERE id = ?").bind(stored, "https://receiver.example/hook", other.id).run();
    await expect(webhookEndpoint(env, loadConfig(env), other.id)).rejects.toThrow();

    const [version, iv, sealed] = stored.split(".") as [string, string, string];
    const flipped = (text: string, at: number) => text.slice(0, at) + (text[at] === "A" ? "B" : "A") + text.slice(at + 1);
    for (const tampered of [
      `${version}.${iv}.${flipped(sealed, 5)}`, // the ciphertext
      `${version}.${iv}.${flipped(sealed, sealed.length - 3)}`, // the tag
      `${version}.${flipped(iv, 2)}.${sealed}`, // the nonce
      `${version}.${iv}.${sealed.slice(0, -4)}`, // truncated
      `${stored}.extra`, // something appended
      `${version}.${iv}`, // a part missing
    ]) {
      await expect(openWebhookSecret(secretKey, one.id, tampered), tampered).rejects.toThrow();
    }
    await expect(openWebhookSecret("another_webhook_secret_key_0123456789abcdef", one.id, stored)).rejects.toThrow();
    expect(await openWebhookSecret(secretKey, one.id, stored)).toBe(one.webhook_secret);
  });

  it("seals the same secret differently each time (a fresh nonce), and each seal opens", async () => {
    const [a, b] = [await sealWebhookSecret(secretKey, "mer_x", "whsec_same"), await sealWebhookSecret(secretKey, "mer_x", "whsec_same")];
    expect(a).not.toBe(b);
    expect(await openWebhookSecret(secretKey, "mer_x", a)).toBe("whsec_same");
    expect(await openWebhookSecret(secretKey, "mer_x", b)).toBe("whsec_same");
  });

  it("a replay of the creation under its Idempotency-Key shows no secret, stores none and mints none", async () => {
    const headers = { ...operatorHeaders(), "idempotency-key": `create-${crypto.randomUUID()}` };
    const first = await api("/v1/merchants", json({ name: "Replayed" }, headers));
    const created = (await first.json()) as { id: string; webhook_secret: string };
    const sealedBefore = await storedSecret(created.id);
    const replay = await api("/v1/merchants", json({ name: "Replayed" }, headers));
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(((await replay.json()) as { webhook_secret: unknown }).webhook_secret).toBeNull();
    expect(await storedSecret(created.id)).toBe(sealedBefore);
    expect(await everythingStored(created.id)).not.toContain(created.webhook_secret);
  });
});

describe("POST /v1/merchant/webhook-secret", () => {
  it("rotates: a new secret shown once, sealed in D1; the sender then has only the new one", async () => {
    const merchant = await createMerchant();
    await env.DB.prepare("UPDATE merchants SET webhook_url = ? WHERE id = ?").bind("https://receiver.example/hook", merchant.id).run();
    const before = Date.now();
    const rotated = await rotate(merchant.api_key);
    expect(rotated.status).toBe(200);
    expect(rotated.body).toEqual({ merchant_id: merchant.id, webhook_secret: expect.stringMatching(/^whsec_[a-z2-9]{40}$/), rotated_at: expect.any(String) });
    expect(Date.parse(rotated.body.rotated_at)).toBeGreaterThanOrEqual(before - 1);
    const secret = rotated.body.webhook_secret!;
    expect(secret).not.toBe(merchant.webhook_secret);
    const stored = await storedSecret(merchant.id);
    expect(isSealed(stored)).toBe(true);
    expect(await everythingStored(merchant.id)).not.toContain(secret);
    expect(await openWebhookSecret(secretKey, merchant.id, stored)).toBe(secret);
    expect((await webhookEndpoint(env, loadConfig(env), merchant.id))?.secret).toBe(secret);
  });

  it("rotated twice, only the latest secret opens; neither earlier one is kept anywhere", async () => {
    const merchant = await createMerchant();
    const first = (await rotate(merchant.api_key)).body.webhook_secret!;
    const second = (await rotate(merchant.api_key)).body.webhook_secret!;
    expect(new Set([merchant.webhook_secret, first, second]).size).toBe(3);
    expect(await openWebhookSecret(secretKey, merchant.id, await storedSecret(merchant.id))).toBe(second);
    const everything = await everythingStored(merchant.id);
    for (const secret of [merchant.webhook_secret, first, second]) expect(everything).not.toContain(secret);
  });

  it("under an Idempotency-Key, a replay shows no second secret and does not rotate again", async () => {
    const merchant = await createMerchant();
    const headers = { "idempotency-key": `rotate-${crypto.randomUUID()}` };
    const first = await rotate(merchant.api_key, headers);
    expect(first.status).toBe(200);
    const sealedAfterFirst = await storedSecret(merchant.id);
    const replay = await rotate(merchant.api_key, headers);
    expect(replay).toEqual({ status: 200, body: { ...first.body, webhook_secret: null }, replayed: "true" });
    expect(await storedSecret(merchant.id)).toBe(sealedAfterFirst);
    expect(await openWebhookSecret(secretKey, merchant.id, sealedAfterFirst)).toBe(first.body.webhook_secret);
    expect(await everythingStored(merchant.id)).not.toContain(first.body.webhook_secret!);
    // Another key is another rotation.
    const again = await rotate(merchant.api_key, { "idempotency-key": `rotate-${crypto.randomUUID()}` });
    expect(again.body.webhook_secret).not.toBe(first.body.webhook_secret);
    expect(await openWebhookSecret(secretKey, merchant.id, await storedSecret(merchant.id))).toBe(again.body.webhook_secret);
  });

  it("is the merchant's own: the operator is refused, a missing key is unauthenticated, another merchant is untouched", async () => {
    const [merchant, bystander] = await Promise.all([createMerchant(), createMerchant()]);
    const bystanderBefore = await storedSecret(bystander.id);
    const byOperator = await api("/v1/merchant/webhook-secret", { method: "POST", headers: operatorHeaders() });
    expect(byOperator.status).toBe(403);
    const anonymous = await api("/v1/merchant/webhook-secret", { method: "POST" });
    expect(anonymous.status).toBe(401);
    expect((await rotate(merchant.api_key)).status).toBe(200);
    expect(await storedSecret(bystander.id)).toBe(bystanderBefore);
  });
});
