import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../context";
import { secretsEqual, sha256Hex } from "../crypto";
import { problem } from "../errors";
import { apiKeyCache, type ApiKeyCache } from "./api-key-cache";

function bearerToken(header: string | undefined): string | null {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1] ?? null;
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
    if (await secretsEqual(token, c.get("config").adminApiKey)) {
      c.set("caller", { kind: "operator" });
      return next();
    }
    const key = await cache.lookup(c.env.DB, await sha256Hex(token));
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
