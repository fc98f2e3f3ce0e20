/** A merchant's webhook endpoint as the sender needs it: the URL and the secret in clear. */
import type { Config, Env } from "../env";
import { openWebhookSecret } from "./secret-box";

export interface WebhookEndpoint {
  url: string;
  secret: string;
}

/** The merchant's endpoint now (a rotation or a new URL applies to the next attempt), or null if it has none. */
export async function webhookEndpoint(env: Env, config: Config, merchantId: string): Promise<WebhookEndpoint | null> {
  const row = await env.DB.prepare("SELECT webhook_url, webhook_secret FROM merchants WHERE id = ?")
    .bind(merchantId)
    .first<{ webhook_url: string | null; webhook_secret: string }>();
  if (!row || row.webhook_url === null) return null;
  return { url: row.webhook_url, secret: await openWebhookSecret(config.webhookSecretKey, merchantId, row.webhook_secret) };
}
