/**
 * Minting and storing a merchant's webhook secret (API §3, §14). The secret is shown once, in
 * the answer that mints it, and stored only sealed (src/webhooks/secret-box.ts).
 */
import { randomToken } from "../crypto";
import { sealWebhookSecret } from "./secret-box";

/** A new webhook secret: `whsec_` and 40 random characters (200 bits). */
export function newWebhookSecret(): string {
  return `whsec_${randomToken(40)}`;
}

/** A new secret and its sealed form for this merchant's row. */
export async function mintWebhookSecret(secretKey: string, merchantId: string): Promise<{ secret: string; sealed: string }> {
  const secret = newWebhookSecret();
  return { secret, sealed: await sealWebhookSecret(secretKey, merchantId, secret) };
}
