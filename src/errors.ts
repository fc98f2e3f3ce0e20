import type { Context } from "hono";

/**
 * Every error the API can answer (API §1): its HTTP status, its title, and what it means. The one
 * table the problem bodies, the OpenAPI document and the `/errors` page are all built from: a
 * code added here is listed everywhere at once, and a code without a status does not compile.
 */
export const errorCatalog = {
  invalid_request: { status: 400, title: "Invalid request", meaning: "The request is malformed or a field is invalid; `errors[]` names each bad field." },
  unsupported_currency: { status: 400, title: "Unsupported currency", meaning: "The currency is not enabled (ARS unless the CURRENCIES variable lists more)." },
  unauthenticated: { status: 401, title: "Unauthenticated", meaning: "The `Authorization: Bearer` API key is missing, unknown or revoked." },
  invalid_signature: { status: 401, title: "Invalid signature", meaning: "Bank webhook only: the `Bank-Signature` header is missing or wrong, or its timestamp is more than 300 s away." },
  forbidden: { status: 403, title: "Forbidden", meaning: "The key's role may not call this route." },
  not_found: { status: 404, title: "Not found", meaning: "No such route, or no such resource visible to the caller." },
  idempotency_key_in_flight: { status: 409, title: "Idempotency key in flight", meaning: "A request with the same Idempotency-Key is still running; retry later." },
  conflict: { status: 409, title: "Conflict", meaning: "The request contradicts the resource's current state or an earlier version of the same cause (same id, different data)." },
  payload_too_large: { status: 413, title: "Payload too large", meaning: "The request body exceeds 1 MiB." },
  unsupported_media_type: { status: 415, title: "Unsupported media type", meaning: "Request bodies must be JSON: media type `application/json` (any parameters); `+json` suffix types are refused." },
  idempotency_key_reused: { status: 422, title: "Idempotency key reused", meaning: "The Idempotency-Key was already used with another request body." },
  insufficient_funds: { status: 422, title: "Insufficient funds", meaning: "The balance cannot cover the amount; nothing moved." },
  invalid_state: { status: 422, title: "Invalid state", meaning: "The resource's state does not allow this action (e.g. cancelling a completed payout)." },
  invalid_destination: { status: 422, title: "Invalid destination", meaning: "A payout to an account that is not the customer's own, or a merchant payout when the merchant has no `payout_cbu` (the operator sets it)." },
  unprocessable_event: { status: 422, title: "Unprocessable event", meaning: "Bank webhook only: a correctly signed event that cannot be applied; it is stored for the operator." },
  rate_limited: { status: 429, title: "Rate limited", meaning: "The caller's request budget is spent; see Retry-After." },
  internal_error: { status: 500, title: "Internal error", meaning: "Something failed on our side; nothing internal is revealed. Request-Id identifies it to support." },
  unavailable: { status: 503, title: "Service unavailable", meaning: "The service cannot serve the request now (its configuration is invalid, or a bank call it needs did not answer); nothing changed: retry, with the same Idempotency-Key." },
} as const satisfies Record<string, { status: number; title: string; meaning: string }>;

export type ErrorCode = keyof typeof errorCatalog;
export type ErrorStatus = (typeof errorCatalog)[ErrorCode]["status"];

/** Every code, in the catalog's order (by status). */
export const errorCodes = Object.keys(errorCatalog) as ErrorCode[];

export function statusOf(code: ErrorCode): ErrorStatus {
  return errorCatalog[code].status;
}

/** Where the errors page is served; each code is an anchor on it. */
export const errorsPagePath = "/errors";

/**
 * A problem's `type`: a relative URI (RFC 9457 §3.1.1) that resolves against the service to the
 * code's entry on the errors page. Stable: it changes only if the code itself does.
 */
export function problemTypeOf(code: ErrorCode): string {
  return `${errorsPagePath}#${code}`;
}

export interface FieldError {
  path: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: ErrorStatus;
  detail: string;
  code: ErrorCode;
  errors?: FieldError[];
}

/** An operating error: answered to the client as problem+json, never logged as a crash. */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly errors?: FieldError[],
  ) {
    super(detail);
  }
}

export function problemOf(code: ErrorCode, detail: string, errors?: FieldError[]): Problem {
  return {
    type: problemTypeOf(code),
    title: errorCatalog[code].title,
    status: statusOf(code),
    detail,
    code,
    ...(errors && errors.length > 0 ? { errors } : {}),
  };
}

export function problemResponse(problem: Problem, headers?: HeadersInit): Response {
  const response = new Response(JSON.stringify(problem), {
    status: problem.status,
    headers: { "content-type": "application/problem+json" },
  });
  if (headers) new Headers(headers).forEach((value, name) => response.headers.set(name, value));
  return response;
}

export function problem(c: Context, code: ErrorCode, detail: string, errors?: FieldError[]): Response {
  return problemResponse(problemOf(code, detail, errors), { "Request-Id": c.get("requestId") ?? "" });
}

/** Renders a zod-like issue path (["sender", "cuit"]) the way clients address fields ("sender.cuit"). */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((part) => (typeof part === "number" ? `[${part}]` : String(part))).join(".").replace(/\.\[/g, "[");
}
