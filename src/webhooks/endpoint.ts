/** A merchant's webhook endpoint as the sender needs it: the URL and the secret in clear. */
import { eq } from "drizzle-orm";
import { database } from "../db/client";
import { merchants } from "../db/schema";
import type { Config, Env } from "../env";
import { openWebhookSecret } from "./secret-box";

export interface WebhookEndpoint {
  url: string;
  secret: string;
}

/**
 * The stored secret does not open (tampered with, sealed for another merchant or under
 * another WEBHOOK_SECRET_KEY): retrying cannot help, so the sender fails the delivery instead
 * of retrying it (a D1 failure, by contrast, is retried).
 */
export class UnreadableWebhookSecret extends Error {
  constructor(readonly merchantId: string, cause: unknown) {
    super(`the webhook secret of merchant ${merchantId} does not open: ${String(cause)}`);
  }
}

/** The merchant's endpoint now (a rotation or a new URL applies to the next attempt), or null if it has none. */
export async function webhookEndpoint(env: Env, config: Config, merchantId: string): Promise<WebhookEndpoint | null> {
  const row = await database(env.DB)
    .select({ webhook_url: merchants.webhook_url, webhook_secret: merchants.webhook_secret })
    .from(merchants)
    .where(eq(merchants.id, merchantId))
    .get();
  if (!row || row.webhook_url === null) return null;
  let secret: string;
  try {
    secret = await openWebhookSecret(config.webhookSecretKey, merchantId, row.webhook_secret);
  } catch (error) {
    throw new UnreadableWebhookSecret(merchantId, error);
  }
  return { url: row.webhook_url, secret };
}
