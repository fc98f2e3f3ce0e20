/**
 * Merchants' webhook secrets at rest (API §14). We must sign with the secret in clear, so it
 * cannot be stored as a hash like an API key: it is sealed with AES-GCM under a key derived
 * (HKDF-SHA256) from the WEBHOOK_SECRET_KEY secret, with the merchant's id as additional data,
 * so a sealed value copied onto another merchant's row does not open.
 *
 * Stored form: `v1.<base64url iv>.<base64url ciphertext+tag>`. A value without the prefix is
 * a secret stored in clear before this existed (migrations/0010): it still opens, and
 * `sealLegacyWebhookSecrets` (the cron) seals it.
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const version = "v1";
const keys = new Map<string, Promise<CryptoKey>>();

function aesKey(secretKey: string): Promise<CryptoKey> {
  let key = keys.get(secretKey);
  if (!key) {
    key = (async () => {
      const material = await crypto.subtle.importKey("raw", encoder.encode(secretKey), "HKDF", false, ["deriveKey"]);
      return crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: encoder.encode("virtual-accounts/webhook-secrets"), info: encoder.encode(version) },
        material,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      );
    })();
    keys.set(secretKey, key);
  }
  return key;
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

function fromBase64url(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/** Seals a merchant's webhook secret for storage. */
export async function sealWebhookSecret(secretKey: string, merchantId: string, secret: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: encoder.encode(merchantId) },
    await aesKey(secretKey),
    encoder.encode(secret),
  );
  return `${version}.${base64url(iv)}.${base64url(new Uint8Array(sealed))}`;
}

/** Whether a stored value is sealed (or a legacy secret in clear). */
export function isSealed(stored: string): boolean {
  return stored.startsWith(`${version}.`);
}

/** The secret in clear; throws if the value was tampered with, sealed for another merchant or under another key. */
export async function openWebhookSecret(secretKey: string, merchantId: string, stored: string): Promise<string> {
  if (!isSealed(stored)) return stored;
  // Exactly three parts: anything appended to a sealed value is tampering too, not ignored.
  const parts = stored.split(".");
  const [, iv, sealed] = parts;
  if (parts.length !== 3 || !iv || !sealed) throw new Error("malformed sealed webhook secret");
  const clear = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64url(iv), additionalData: encoder.encode(merchantId) },
    await aesKey(secretKey),
    fromBase64url(sealed),
  );
  return decoder.decode(clear);
}
