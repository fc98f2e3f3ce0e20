/**
 * Outbound webhook signatures (API §14): `Signature: t=<unix seconds>,v1=<hex HMAC-SHA256
 * over "<t>.<raw body>">` with the merchant's webhook secret, the scheme Stripe uses, so that
 * a merchant verifies our webhooks with `stripe.webhooks.constructEvent(rawBody, header,
 * secret)`. The timestamp is the attempt's (each attempt is signed anew), which lets a
 * receiver refuse old replays with the library's tolerance.
 */
import { hmacSha256Hex } from "../crypto";

export const signatureHeaderName = "Signature";

/** The `Signature` header for this exact body, signed at `nowMs`. */
export async function webhookSignature(secret: string, rawBody: string, nowMs = Date.now()): Promise<string> {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${await hmacSha256Hex(secret, `${t}.${rawBody}`)}`;
}
