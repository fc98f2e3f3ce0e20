/**
 * Seals webhook secrets stored in clear before sealing existed (migrations/0010 kept them as
 * they were). Run by the cron, a bounded batch per run, until none is left.
 *
 * Each row is replaced by compare-and-set on the value read, so a rotation that lands between
 * our read and our write wins: we never overwrite a newer secret with the seal of an old one.
 */
import { and, eq, ne, sql } from "drizzle-orm";
import { database } from "../db/client";
import { merchants } from "../db/schema";
import type { Config, Env } from "../env";
import { limits } from "../limits";
import { log } from "../log";
import { isSealed, sealWebhookSecret } from "../webhooks/secret-box";

/** How many rows this run sealed. */
export async function sealLegacyWebhookSecrets(env: Env, config: Config): Promise<number> {
  const db = database(env.DB);
  // Exactly the complement of isSealed (`v1.` prefix, case-sensitive: LIKE would not be).
  const results = await db
    .select({ id: merchants.id, webhook_secret: merchants.webhook_secret })
    .from(merchants)
    .where(ne(sql`substr(${merchants.webhook_secret}, 1, 3)`, "v1."))
    .limit(limits.legacy_webhook_secrets_per_run);
  const legacy = results.filter((row) => !isSealed(row.webhook_secret));
  const sealings = await Promise.all(
    legacy.map(async (row) => ({ row, secret: await sealWebhookSecret(config.webhookSecretKey, row.id, row.webhook_secret) })),
  );
  // Built here, sent below: a drizzle query awaited (or returned from an async function) runs at once.
  const [first, ...rest] = sealings.map(({ row, secret }) =>
    db
      .update(merchants)
      .set({ webhook_secret: secret })
      .where(and(eq(merchants.id, row.id), eq(merchants.webhook_secret, row.webhook_secret))),
  );
  if (first === undefined) return 0;
  // One round trip; each update is its own compare-and-set, so the batch is not needed for atomicity.
  const written = await db.batch([first, ...rest]);
  const sealed = written.reduce((count, result) => count + result.meta.changes, 0);
  log("info", "sealed legacy webhook secrets", { sealed, read: legacy.length });
  return sealed;
}
