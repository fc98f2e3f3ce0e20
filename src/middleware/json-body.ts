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

/** The media type of a Content-Type header: before any `;`, trimmed, lower case (RFC 9110 §8.3.1). */
export function mediaTypeOf(contentType: string): string {
  return contentType.split(";")[0]!.trim().toLowerCase();
}

/**
 * JSON only: a body is JSON when its media type is `application/json`, whatever its parameters
 * (`application/json;`, `application/json ; charset=utf-8`, `APPLICATION/JSON`); anything else,
 * `+json` suffix types included, answers 415. A POST without a body (e.g. a cancel) needs no
 * content type.
 *
 * An accepted header is rewritten to the bare `application/json` before any validator sees it:
 * @hono/zod-openapi's media-type gate matches the raw header with a strict regex that refuses
 * `application/json;` and a space before `;`, and its 415 would otherwise surface as a 500.
 * Bodies are UTF-8 (API §1), so a charset parameter carries nothing we use.
 */
export const requireJsonBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!methodsWithBody.has(c.req.method)) return next();
  const contentType = c.req.header("content-type");
  const declaredLength = c.req.header("content-length");
  const mayHaveBody = declaredLength === undefined ? c.req.raw.body !== null : declaredLength !== "0";
  if (contentType === undefined && !mayHaveBody) return next();
  if (contentType === undefined || mediaTypeOf(contentType) !== "application/json") {
    return problem(c, "unsupported_media_type", "Request bodies must be JSON (Content-Type: application/json).");
  }
  if (contentType !== "application/json") {
    const headers = new Headers(c.req.raw.headers);
    headers.set("content-type", "application/json");
    c.req.raw = new Request(c.req.raw, { headers });
  }
  return next();
};
