const encoder = new TextEncoder();

export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let hex = "";
  for (const byte of view) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

export async function sha256Hex(text: string): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** HMAC-SHA256 over text, or over raw bytes (a webhook's body, exactly as it was sent). */
export async function hmacSha256Hex(secret: string, message: string | Uint8Array): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return toHex(await crypto.subtle.sign("HMAC", key, typeof message === "string" ? encoder.encode(message) : message));
}

/** `prefix` then `body`, as bytes: what a webhook signature covers, without decoding the body. */
export function prefixed(prefix: string, body: Uint8Array): Uint8Array {
  const head = encoder.encode(prefix);
  const joined = new Uint8Array(head.length + body.length);
  joined.set(head, 0);
  joined.set(body, head.length);
  return joined;
}

/**
 * Compares two secrets in time independent of where they differ. Both sides are hashed
 * first so that the comparison also hides their lengths.
 */
export async function secretsEqual(left: string, right: string): Promise<boolean> {
  const [leftDigest, rightDigest] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(left)),
    crypto.subtle.digest("SHA-256", encoder.encode(right)),
  ]);
  return crypto.subtle.timingSafeEqual(leftDigest, rightDigest);
}

const tokenAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"; // 32 symbols: 5 bits each, no look-alikes

/** A random token of `length` symbols from a 32-symbol alphabet (5 bits of entropy each). */
export function randomToken(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let token = "";
  for (const byte of bytes) token += tokenAlphabet[byte & 31];
  return token;
}

/** A new opaque id with a type prefix, time-ordered so that ids sort roughly by creation. */
export function newId(prefix: string): string {
  return `${prefix}_${Date.now().toString(36).padStart(9, "0")}${randomToken(16)}`;
}

/** A deterministic id derived from what caused it: the same cause always yields the same id. */
export async function derivedId(prefix: string, cause: string): Promise<string> {
  return `${prefix}_${(await sha256Hex(cause)).slice(0, 32)}`;
}
