import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../context";
import { problem } from "../errors";

/** The limiter's window (wrangler.toml `simple.period`): how long a refused caller should wait. */
const windowSeconds = 10;

/**
 * A budget per caller (the operator, or one merchant across all its keys), after
 * authentication so that it is keyed by who is calling, not by address. 429 rate_limited with
 * Retry-After when spent.
 */
export const rateLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  const limiter = c.env.API_RATE_LIMITER;
  if (!limiter) return next();
  const caller = c.get("caller");
  const key = caller.kind === "operator" ? "operator" : caller.merchantId;
  const { success } = await limiter.limit({ key });
  if (success) return next();
  const response = problem(c, "rate_limited", `Too many requests: at most the API's budget per ${windowSeconds} s. Retry after ${windowSeconds} s.`);
  response.headers.set("Retry-After", String(windowSeconds));
  return response;
};
