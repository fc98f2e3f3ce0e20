import { z } from "@hono/zod-openapi";
import { errorCatalog, errorCodes, problemTypeOf, statusOf } from "../errors";
import { limits } from "../limits";

/** A money amount: a JSON integer in minor units, 1 ≤ amount ≤ 10^14 (API §1). */
export const amountSchema = z
  .number({ error: "must be an integer number of minor units" })
  .int("must be an integer number of minor units")
  .min(limits.amount_min, `must be at least ${limits.amount_min}`)
  .max(limits.amount_max, `must be at most ${limits.amount_max}`)
  .openapi({ description: "Integer minor units (centavos for ARS).", example: 150000 });

/** Shape only: whether the currency is enabled is configuration, checked by `assertCurrency`. */
export const currencySchema = z
  .string()
  .regex(/^[A-Z]{3}$/, "must be an ISO 4217 code")
  .openapi({ description: "ISO 4217 code. ARS unless the CURRENCIES variable enables more.", example: "ARS" });

export const timestampSchema = z.string().openapi({ format: "date-time", example: "2026-11-21T12:00:00.000Z" });

export function idSchema(prefix: string, example: string) {
  return z
    .string()
    .min(prefix.length + 2)
    .max(80)
    .openapi({ description: `An id starting with \`${prefix}_\`.`, example });
}

export const problemSchema = z
  .object({
    type: z.string().openapi({
      description:
        "`/errors#<code>`: a relative URL (RFC 9457) to the code's entry on the errors page, which lists every code. " +
        "Stable: it changes only if the code does.",
      example: problemTypeOf("invalid_request"),
    }),
    title: z.string().openapi({ description: "The code's title; the same for every problem with that code." }),
    status: z.number().int(),
    detail: z.string().openapi({ description: "For people: what went wrong this time. May change; branch on `code`." }),
    code: z.enum(errorCodes).openapi({
      description:
        "Stable; branch on it. Every code, with its status (`GET /errors` has the same table):\n\n" +
        errorCodes.map((code) => `- \`${code}\` (${statusOf(code)}): ${errorCatalog[code].meaning}`).join("\n"),
      example: "invalid_request",
    }),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem", { description: "RFC 9457 problem details." });

export const paginationQuery = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(limits.page_size_max)
    .default(limits.page_size_default)
    .openapi({ description: `1 to ${limits.page_size_max}.`, example: 20 }),
  cursor: z.string().max(200).optional().openapi({ description: "`next_cursor` from the previous page." }),
});

export function listSchema<T extends z.ZodType>(item: T, name: string) {
  return z
    .object({ data: z.array(item), has_more: z.boolean(), next_cursor: z.string().nullable() })
    .openapi(name);
}

export function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

/** The JSON body of a route: required, validated by `schema`. */
export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return { content: { "application/json": { schema } }, required: true, ...(description ? { description } : {}) };
}

export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { content: { "application/json": { schema } }, description };
}

/**
 * What each status means on an ordinary bearer-authenticated route. A route where a status means
 * something else (the bank webhook's 401 is a bad signature, not a bad key) overrides the entry
 * with `problemResponse`.
 */
const problemDescriptions: Record<number, string> = {
  400: "invalid_request or unsupported_currency; `errors[]` names each bad field.",
  401: "unauthenticated: missing or wrong API key.",
  403: "forbidden: the key's role may not call this route.",
  404: "not_found: no such resource visible to the caller.",
  409: "idempotency_key_in_flight or conflict.",
  413: "payload_too_large: the body exceeds 1 MiB.",
  415: "unsupported_media_type: bodies must be JSON (media type application/json, any parameters; `+json` suffix types are refused). A POST that takes no body may omit Content-Type, but a body it is sent must still be JSON.",
  422: "idempotency_key_reused, insufficient_funds, invalid_state or invalid_destination (a payout to an account that is not the customer's own, or a merchant payout with no payout_cbu).",
  429: "rate_limited: the caller's request budget is spent; see Retry-After.",
  500: "internal_error: nothing internal is revealed.",
  503: "unavailable: the service's configuration is invalid (its log names each bad variable), so it serves nothing until an operator fixes it; or a money-moving POST's Idempotency-Key record expired (past retention) while it ran. Nothing changed: retry with the same Idempotency-Key.",
};

/** The statuses a body can be refused with before any route runs (src/middleware/json-body.ts). */
export const bodyProblemStatuses = [413, 415] as const;

/** One problem response for the OpenAPI document. */
export function problemResponse(description: string) {
  return { content: { "application/problem+json": { schema: problemSchema } }, description };
}

/**
 * The problem responses a route can give, for the OpenAPI document. Every route may answer 400,
 * 401, 429 (src/middleware/rate-limit.ts), 500 and 503 (an invalid configuration refuses every
 * request: src/middleware/request-context.ts). A POST, PUT or PATCH must add 413 and 415
 * (`...bodyProblemStatuses`): the body checks run on every such request, whatever the route.
 */
export function problemResponses(...statuses: number[]) {
  const all = [...new Set([400, 401, 429, 500, 503, ...statuses])].sort((a, b) => a - b);
  return Object.fromEntries(all.map((status) => [status, problemResponse(problemDescriptions[status] ?? "Problem.")]));
}
