/**
 * Helpers for tests over HTTP. Tests never assume a clean database: each one creates the
 * merchants and customers it needs, with random CUITs.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { newApp } from "../src/app";

export const BASE_URL = "http://api.test";

/** Calls the Worker's real entry point (middleware, routes, bindings) in-process. */
export function api(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(new Request(`${BASE_URL}${path}`, init));
}

export function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}

export function operatorHeaders(): Record<string, string> {
  return bearer(env.ADMIN_API_KEY!);
}

/** A POST with a JSON body. */
export function json(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
}

function randomDigits(count: number): string {
  let digits = "";
  for (const byte of crypto.getRandomValues(new Uint8Array(count))) digits += String(byte % 10);
  return digits;
}

/**
 * A valid CUIT (11 bare digits), written here from the AFIP rule rather than imported, so
 * that it also checks the implementation: mod 11 over weights 5,4,3,2,7,6,5,4,3,2; a
 * remainder that gives 10 is never issued.
 */
export function randomCuit(): string {
  const types = ["20", "23", "24", "27", "30", "33", "34"];
  for (;;) {
    const first10 = types[Math.floor(Math.random() * types.length)]! + randomDigits(8);
    const weights = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
    const sum = weights.reduce((total, weight, i) => total + weight * Number(first10[i]), 0);
    const check = (11 - (sum % 11)) % 11;
    if (check !== 10) return first10 + String(check);
  }
}

function cbuCheckDigit(digits: string, weights: number[]): string {
  const sum = weights.reduce((total, weight, i) => total + weight * Number(digits[i]), 0);
  return String((10 - (sum % 10)) % 10);
}

/** A valid CBU (22 bare digits), both check digits computed from the BCRA rule. */
export function randomCbu(): string {
  const bankBranch = randomDigits(7);
  const account = randomDigits(13);
  return (
    bankBranch +
    cbuCheckDigit(bankBranch, [7, 1, 3, 9, 7, 1, 3]) +
    account +
    cbuCheckDigit(account, [3, 9, 7, 1, 3, 9, 7, 1, 3, 9, 7, 1, 3])
  );
}

/** `20123456786` → `20-12345678-6`. */
export function dashedCuit(cuit: string): string {
  return `${cuit.slice(0, 2)}-${cuit.slice(2, 10)}-${cuit.slice(10)}`;
}

export interface TestMerchant {
  id: string;
  api_key: string;
  reference: string;
  webhook_secret: string;
}

export async function createMerchant(name = "Test Merchant"): Promise<TestMerchant> {
  const response = await api("/v1/merchants", json({ name }, operatorHeaders()));
  expect(response.status).toBe(201);
  const body = (await response.json()) as TestMerchant;
  return { id: body.id, api_key: body.api_key, reference: body.reference, webhook_secret: body.webhook_secret };
}

export interface TestCustomer {
  id: string;
  cuit: string;
  name: string;
  cbu: string | null;
  last_merchant_id: string | null;
  origin: "api" | "auto";
  created_at: string;
}

/** Registers a new customer (a fresh random CUIT unless `overrides` names one) for the merchant. */
export async function createCustomer(apiKey: string, overrides: Record<string, unknown> = {}): Promise<TestCustomer> {
  const response = await api("/v1/customers", json({ cuit: randomCuit(), name: "Test Customer", ...overrides }, bearer(apiKey)));
  expect([200, 201]).toContain(response.status);
  return (await response.json()) as TestCustomer;
}

/** Strings that must never appear in an error body: internals of the runtime or the database. */
export const internalMarkers = [/\bat .+\(.*:\d+:\d+\)/, /\bSELECT\b/i, /\bINSERT\b/i, /\bUPDATE\b/i, /SQLITE/i, /D1_ERROR/, /\.ts:\d+/, /stack/i];

export function expectNoInternals(text: string): void {
  for (const marker of internalMarkers) expect(text).not.toMatch(marker);
}

/** Asserts a 400 problem whose errors[] names `field` (as clients address it: "cuit", "query.cuit"). */
export async function expectFieldError(response: Response, field: string, code = "invalid_request"): Promise<void> {
  expect(response.status).toBe(400);
  const problem = (await response.json()) as { code: string; errors?: Array<{ path: string }> };
  expect(problem.code).toBe(code);
  expect(problem.errors?.map((error) => error.path)).toContain(field);
}

/**
 * Runs one request through a fresh app whose D1 batches all fail with `message` (reads and
 * single statements still work): a database outage in the middle of a write.
 */
export async function fetchWithFailingBatches(path: string, init: RequestInit, message: string): Promise<Response> {
  const failing = {
    ...env,
    DB: {
      prepare: (query: string) => env.DB.prepare(query),
      batch: () => Promise.reject(new Error(message)),
      exec: () => Promise.reject(new Error(message)),
    } as unknown as D1Database,
  };
  const context = createExecutionContext();
  const response = await newApp().fetch(new Request(`${BASE_URL}${path}`, init), failing, context);
  await waitOnExecutionContext(context);
  return response;
}
