/**
 * Seals webhook secrets stored in clear before sealing existed (migrations/0010 kept them as
 * they were). Run by the cron, a bounded batch per run, until none is left.
 *
 * Each row is replaced by compare-and-set on the value read, so a rotation that lands between
 * our read and our write wins: we never overwrite a newer secret with the seal of an old one.
 */
import type { Config, Env } from "../env";
import { limits } from "../limits";
import { log } from "../log";
import { isSealed, sealWebhookSecret } from "../webhooks/secret-box";

/** How many rows this run sealed. */
export async function sealLegacyWebhookSecrets(env: Env, config: Config): Promise<number> {
  // Exactly the complement of isSealed (`v1.` prefix, case-sensitive: LIKE would not be).
  const { results } = await env.DB.prepare(
    "SELECT id, webhook_secret FROM merchants WHERE substr(webhook_secret, 1, 3) <> 'v1.' LIMIT ?",
  )
    .bind(limits.legacy_webhook_secrets_per_run)
    .all<{ id: string; webhook_secret: string }>();
  const legacy = results.filter((row) => !isSealed(row.webhook_secret));
  if (legacy.length === 0) return 0;
  const updates = await Promise.all(
    legacy.map(async (row) =>
      env.DB.prepare("UPDATE merchants SET webhook_secret = ? WHERE id = ? AND webhook_secret = ?").bind(
        await sealWebhookSecret(config.webhookSecretKey, row.id, row.webhook_secret),
        row.id,
        row.webhook_secret,
      ),
    ),
  );
  const written = await env.DB.batch(updates);
  const sealed = written.reduce((count, result) => count + result.meta.changes, 0);
  log("info", "sealed legacy webhook secrets", { sealed, read: legacy.length });
  return sealed;
}
