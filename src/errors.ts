import type { Context } from "hono";

/**
 * Every error the API can answer, with its HTTP status (API §1). The switch is exhaustive:
 * adding a code without a status does not compile.
 */
export type ErrorCode =
  | "invalid_request"
  | "unsupported_currency"
  | "unauthenticated"
  | "invalid_signature"
  | "forbidden"
  | "not_found"
  | "idempotency_key_in_flight"
  | "conflict"
  | "payload_too_large"
  | "unsupported_media_type"
  | "idempotency_key_reused"
  | "insufficient_funds"
  | "invalid_state"
  | "invalid_destination"
  | "unprocessable_event"
  | "rate_limited"
  | "internal_error"
  | "unavailable";

export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 500 | 503;

export function statusOf(code: ErrorCode): ErrorStatus {
  switch (code) {
    case "invalid_request":
    case "unsupported_currency":
      return 400;
    case "unauthenticated":
    case "invalid_signature":
      return 401;
    case "forbidden":
      return 403;
    case "not_found":
      return 404;
    case "idempotency_key_in_flight":
    case "conflict":
      return 409;
    case "payload_too_large":
      return 413;
    case "unsupported_media_type":
      return 415;
    case "idempotency_key_reused":
    case "insufficient_funds":
    case "invalid_state":
    case "invalid_destination":
    case "unprocessable_event":
      return 422;
    case "rate_limited":
      return 429;
    case "internal_error":
      return 500;
    case "unavailable":
      return 503;
  }
}

const titles: Record<ErrorCode, string> = {
  invalid_request: "Invalid request",
  unsupported_currency: "Unsupported currency",
  unauthenticated: "Unauthenticated",
  invalid_signature: "Invalid signature",
  forbidden: "Forbidden",
  not_found: "Not found",
  idempotency_key_in_flight: "Idempotency key in flight",
  conflict: "Conflict",
  payload_too_large: "Payload too large",
  unsupported_media_type: "Unsupported media type",
  idempotency_key_reused: "Idempotency key reused",
  insufficient_funds: "Insufficient funds",
  invalid_state: "Invalid state",
  invalid_destination: "Invalid destination",
  unprocessable_event: "Unprocessable event",
  rate_limited: "Rate limited",
  internal_error: "Internal error",
  unavailable: "Service unavailable",
};

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
    // Relative URI (RFC 9457 §3.1.1): resolves against the service, whose /docs lists every code.
    type: `/docs#error-${code}`,
    title: titles[code],
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
