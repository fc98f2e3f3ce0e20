import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../context";
import { secretsEqual, sha256Hex } from "../crypto";
import { problem } from "../errors";

function bearerToken(header: string | undefined): string | null {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1] ?? null;
}

/**
 * Resolves the caller from `Authorization: Bearer …`: the operator key (compared in constant
 * time), or a merchant key looked up by its SHA-256 hash. Anything else is 401.
 */
export const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
  const token = bearerToken(c.req.header("authorization"));
  if (token === null) return problem(c, "unauthenticated", "Missing bearer API key.");
  if (await secretsEqual(token, c.get("config").adminApiKey)) {
    c.set("caller", { kind: "operator" });
    return next();
  }
  const row = await c.env.DB.prepare(
    "SELECT prefix, merchant_id FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
  )
    .bind(await sha256Hex(token))
    .first<{ prefix: string; merchant_id: string }>();
  if (!row) return problem(c, "unauthenticated", "Invalid API key.");
  c.set("caller", { kind: "merchant", merchantId: row.merchant_id, keyPrefix: row.prefix });
  return next();
};

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
