/**
 * Webhook secrets stored in clear before sealing existed: the cron seals them, a bounded batch
 * per run, without ever overwriting a secret rotated meanwhile.
 */
import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig, type Env } from "../../src/env";
import worker from "../../src/index";
import { sealLegacyWebhookSecrets } from "../../src/jobs/seal-webhook-secrets";
import { limits } from "../../src/limits";
import { isSealed, openWebhookSecret, sealWebhookSecret } from "../../src/webhooks/secret-box";
import { createMerchant } from "../helpers";

const secretKey = env.WEBHOOK_SECRET_KEY!;

async function storedSecret(merchantId: string): Promise<string> {
  const row = await env.DB.prepare("SELECT webhook_secret FROM merchants WHERE id = ?").bind(merchantId).first<{ webhook_secret: string }>();
  return row!.webhook_secret;
}

/** A merchant whose secret is stored in clear, as before migrations/0010. */
async function legacyMerchant(): Promise<{ id: string; secret: string }> {
  const merchant = await createMerchant("Legacy");
  const secret = `whsec_legacy_${crypto.randomUUID().replaceAll("-", "")}`;
  await env.DB.prepare("UPDATE merchants SET webhook_secret = ? WHERE id = ?").bind(secret, merchant.id).run();
  return { id: merchant.id, secret };
}

async function sealAll(on: Env = env): Promise<void> {
  while ((await sealLegacyWebhookSecrets(on, loadConfig(env))) > 0);
}

describe("sealing legacy webhook secrets", () => {
  it("the cron seals a secret stored in clear, and it opens to the same secret", async () => {
    const legacy = await legacyMerchant();
    // Legacy values open as they are until sealed (the sender keeps working meanwhile).
    expect(await openWebhookSecret(secretKey, legacy.id, legacy.secret)).toBe(legacy.secret);
    await worker.scheduled(createScheduledController({ cron: "*/5 * * * *", scheduledTime: Date.now() }), env, createExecutionContext());
    await sealAll(); // other files' legacy rows, if the first run was spent on them
    const stored = await storedSecret(legacy.id);
    expect(isSealed(stored)).toBe(true);
    expect(stored).not.toContain(legacy.secret);
    expect(await openWebhookSecret(secretKey, legacy.id, stored)).toBe(legacy.secret);
  });

  it("leaves sealed secrets as they are", async () => {
    const merchant = await createMerchant();
    const before = await storedSecret(merchant.id);
    await sealAll();
    expect(await storedSecret(merchant.id)).toBe(before);
  });

  it(`seals at most ${limits.legacy_webhook_secrets_per_run} per run, and the next runs finish the job`, async () => {
    await sealAll();
    const count = limits.legacy_webhook_secrets_per_run + 7;
    const rows = Array.from({ length: count }, (_, i) => ({
      id: `mer_legacybatch${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}${i}`,
      secret: `whsec_legacy_${crypto.randomUUID().replaceAll("-", "")}`,
    }));
    await env.DB.batch(
      rows.map((row) =>
        env.DB.prepare("INSERT INTO merchants (id, name, reference, webhook_url, webhook_secret, created_at) VALUES (?, 'Legacy', ?, NULL, ?, ?)").bind(
          row.id,
          row.id.toUpperCase(),
          row.secret,
          Date.now(),
        ),
      ),
    );
    expect(await sealLegacyWebhookSecrets(env, loadConfig(env))).toBe(limits.legacy_webhook_secrets_per_run);
    expect(await sealLegacyWebhookSecrets(env, loadConfig(env))).toBe(7);
    expect(await sealLegacyWebhookSecrets(env, loadConfig(env))).toBe(0);
    for (const row of rows) expect(await openWebhookSecret(secretKey, row.id, await storedSecret(row.id))).toBe(row.secret);
  });

  it("never overwrites a secret rotated between the read and the write (compare-and-set)", async () => {
    await sealAll();
    const legacy = await legacyMerchant();
    const rotatedSecret = "whsec_rotated_meanwhile";
    const rotatedSealed = await sealWebhookSecret(secretKey, legacy.id, rotatedSecret);
    // A D1 whose batch first lets a rotation land: the job read the legacy value before it.
    const racing = {
      ...env,
      DB: {
        prepare: (query: string) => env.DB.prepare(query),
        batch: async (statements: D1PreparedStatement[]) => {
          await env.DB.prepare("UPDATE merchants SET webhook_secret = ? WHERE id = ?").bind(rotatedSealed, legacy.id).run();
          return env.DB.batch(statements);
        },
      } as unknown as D1Database,
    } as Env;
    expect(await sealLegacyWebhookSecrets(racing, loadConfig(env))).toBe(0);
    expect(await storedSecret(legacy.id)).toBe(rotatedSealed);
    expect(await openWebhookSecret(secretKey, legacy.id, await storedSecret(legacy.id))).toBe(rotatedSecret);
  });
});
