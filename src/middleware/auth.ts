import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../context";
import { toHex } from "../crypto";
import { problem } from "../errors";
import { apiKeyCache, type ApiKeyCache } from "./api-key-cache";

function bearerToken(header: string | undefined): string | null {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1] ?? null;
}

const encoder = new TextEncoder();

/** The operator key's SHA-256, computed once per isolate (per key: a rotated secret is a new one). */
let operatorDigest: { key: string; digest: Promise<ArrayBuffer> } | null = null;

function operatorKeyDigest(adminApiKey: string): Promise<ArrayBuffer> {
  if (operatorDigest?.key !== adminApiKey) operatorDigest = { key: adminApiKey, digest: crypto.subtle.digest("SHA-256", encoder.encode(adminApiKey)) };
  return operatorDigest.digest;
}

/**
 * Resolves the caller from `Authorization: Bearer …`: the operator key (compared in constant
 * time), or a merchant key looked up by its SHA-256 hash in `cache` (api-key-cache.ts: a
 * revoked key keeps working at most limits.api_key_cache_ms). Anything else is 401.
 */
export function authenticateWith(cache: ApiKeyCache): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearerToken(c.req.header("authorization"));
    if (token === null) return problem(c, "unauthenticated", "Missing bearer API key.");
    // One digest of the token serves both checks: compared in constant time with the
    // operator key's (hashing both sides hides their lengths, as secretsEqual does), and as
    // the merchant key's lookup key.
    const digest = await crypto.subtle.digest("SHA-256", encoder.encode(token));
    if (crypto.subtle.timingSafeEqual(digest, await operatorKeyDigest(c.get("config").adminApiKey))) {
      c.set("caller", { kind: "operator" });
      return next();
    }
    const key = await cache.lookup(c.env.DB, toHex(digest));
    if (!key) return problem(c, "unauthenticated", "Invalid API key.");
    c.set("caller", { kind: "merchant", merchantId: key.merchant_id, keyPrefix: key.prefix });
    return next();
  };
}

export const authenticate: MiddlewareHandler<AppEnv> = authenticateWith(apiKeyCache);

export const requireOperator: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.get("caller").kind !== "operator") return problem(c, "forbidden", "This route needs the operator key.");
  return next();
};

export const requireMerchant: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.get("caller").kind !== "merchant") return problem(c, "forbidden", "This route needs a merchant API key.");
  return next();
};

/** The calling merchant's id; only valid behind requireMerchant. */
export function merchantIdOf(caller: AppEnv["Variables"]["caller"]): string {
  if (caller.kind !== "merchant") throw new Error("merchantIdOf called for a non-merchant caller");
  return caller.merchantId;
}
