import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "../context";
import { problem } from "../errors";
import { limits } from "../limits";

const methodsWithBody = new Set(["POST", "PUT", "PATCH"]);

/** Bodies above the limit are refused before they are read in full (413). */
export const limitBodySize: MiddlewareHandler<AppEnv> = bodyLimit({
  maxSize: limits.request_body_bytes,
  onError: (c) =>
    problem(c as never, "payload_too_large", `The request body exceeds ${limits.request_body_bytes} bytes.`),
});

/**
 * JSON only: a body sent with any other media type answers 415. A POST without a body
 * (e.g. a cancel) needs no content type.
 */
export const requireJsonBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!methodsWithBody.has(c.req.method)) return next();
  const contentType = c.req.header("content-type");
  const declaredLength = c.req.header("content-length");
  const mayHaveBody = declaredLength === undefined ? c.req.raw.body !== null : declaredLength !== "0";
  if (contentType === undefined && !mayHaveBody) return next();
  const mediaType = contentType?.split(";")[0]?.trim().toLowerCase();
  if (mediaType !== "application/json") {
    return problem(c, "unsupported_media_type", "Request bodies must be JSON (Content-Type: application/json).");
  }
  return next();
};
