import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../context";
import { loadConfig } from "../env";
import { log } from "../log";

function newRequestId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `req_${[...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * Gives every request an id (echoed in `Request-Id` and in every log line), validates the
 * configuration before anything else runs, and logs one structured line per request.
 */
export const requestContext: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started_ms = Date.now();
  const requestId = newRequestId();
  c.set("requestId", requestId);
  c.set("config", loadConfig(c.env)); // throws ConfigError → 503 from the error handler
  await next();
  c.res.headers.set("Request-Id", requestId);
  const caller = c.get("caller");
  log("info", "request", {
    request_id: requestId,
    method: c.req.method,
    path: c.req.path,
    status: c.res.status,
    duration_ms: Date.now() - started_ms,
    caller: caller ? (caller.kind === "merchant" ? caller.merchantId : "operator") : undefined,
  });
};
