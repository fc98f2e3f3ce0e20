import { z } from "@hono/zod-openapi";
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
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().openapi({ example: "invalid_request" }),
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

const problemDescriptions: Record<number, string> = {
  400: "invalid_request or unsupported_currency; `errors[]` names each bad field.",
  401: "unauthenticated: missing or wrong API key.",
  403: "forbidden: the key's role may not call this route.",
  404: "not_found: no such resource visible to the caller.",
  409: "idempotency_key_in_flight or conflict.",
  413: "payload_too_large: the body exceeds 1 MiB.",
  415: "unsupported_media_type: bodies must be JSON (media type application/json, any parameters; `+json` suffix types are refused).",
  422: "idempotency_key_reused, insufficient_funds, invalid_state or invalid_destination (a payout to an account that is not the customer's own).",
  429: "rate_limited: the caller's request budget is spent; see Retry-After.",
  500: "internal_error: nothing internal is revealed.",
  503: "unavailable: a service this request needs (the bank) did not answer; nothing changed, retry with the same Idempotency-Key.",
};

/** The problem responses a route can give, for the OpenAPI document. */
export function problemResponses(...statuses: number[]) {
  // Every bearer-authenticated route may answer 429 (src/middleware/rate-limit.ts).
  const all = [...new Set([400, 401, 429, 500, ...statuses])].sort();
  return Object.fromEntries(
    all.map((status) => [
      status,
      { content: { "application/problem+json": { schema: problemSchema } }, description: problemDescriptions[status] ?? "Problem." },
    ]),
  );
}
