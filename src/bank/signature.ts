/**
 * Bank webhook signatures (API §6): `Bank-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`,
 * where each v1 is HMAC-SHA256 over `<t>.<raw body>`. Several v1 values let the bank sign
 * with an old and a new secret while one is being rotated. Outbound merchant webhooks are
 * signed the same way.
 */
import { hmacSha256Hex, prefixed, secretsEqual } from "../crypto";
import { limits } from "../limits";

export interface ParsedSignature {
  timestamp: number;
  signatures: string[];
}

export function parseSignatureHeader(header: string | undefined | null): ParsedSignature | null {
  if (!header || header.length > 2048) return null;
  let timestamp: number | null = null;
  const signatures: string[] = [];
  for (const part of header.split(",")) {
    const [name, value, ...rest] = part.trim().split("=");
    if (value === undefined || rest.length > 0) return null;
    if (name === "t") {
      if (!/^\d{1,12}$/.test(value)) return null;
      timestamp = Number(value);
    } else if (name === "v1") {
      if (!/^[0-9a-f]{64}$/i.test(value)) return null;
      signatures.push(value.toLowerCase());
    }
    // Unknown schemes (v0, v2…) are ignored, as Stripe does, so the bank can add one.
  }
  if (timestamp === null || signatures.length === 0 || signatures.length > limits.bank_signature_values_max) return null;
  return { timestamp, signatures };
}

/**
 * Checks the header over the raw body, before anything parses the body. Given bytes, it
 * checks exactly the bytes that were sent (a byte-order mark or invalid UTF-8 included).
 */
export async function verifySignature(rawBody: string | Uint8Array, header: string | undefined | null, secret: string, now_ms = Date.now()): Promise<boolean> {
  const parsed = parseSignatureHeader(header);
  if (!parsed) return false;
  if (Math.abs(now_ms / 1000 - parsed.timestamp) > limits.bank_signature_tolerance_seconds) return false;
  const message = typeof rawBody === "string" ? `${parsed.timestamp}.${rawBody}` : prefixed(`${parsed.timestamp}.`, rawBody);
  const expected = await hmacSha256Hex(secret, message);
  let matched = false;
  // Compare against every value (no early exit) so timing says nothing about which matched.
  for (const candidate of parsed.signatures) matched = (await secretsEqual(candidate, expected)) || matched;
  return matched;
}

export async function signatureHeader(rawBody: string, secret: string, now_ms = Date.now()): Promise<string> {
  const timestamp = Math.floor(now_ms / 1000);
  return `t=${timestamp},v1=${await hmacSha256Hex(secret, `${timestamp}.${rawBody}`)}`;
}
