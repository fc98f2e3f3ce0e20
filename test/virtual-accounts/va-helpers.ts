/** Helpers for the virtual account tests (API §11). */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { newId } from "../../src/crypto";
import { api, bearer, json, operatorHeaders } from "../helpers";

export interface VirtualAccountBody {
  id: string;
  account_number: string;
  kind: "per_customer" | "per_transaction";
  status: "active" | "paid" | "expired" | "closed";
  customer_id: string;
  merchant_id: string;
  currency: string;
  expected_amount: number | null;
  expires_at: string | null;
  amount_policy: "accept" | "reject" | "hold" | null;
  ledger_account_id: string | null;
  description: string | null;
  created_at: string;
  paid_at: string | null;
  closed_at: string | null;
}

export interface Answer<T = VirtualAccountBody> {
  status: number;
  body: T & { code?: string; errors?: Array<{ path: string; message: string }> };
  replayed: boolean;
}

async function answer<T>(response: Response): Promise<Answer<T>> {
  return { status: response.status, body: (await response.json()) as Answer<T>["body"], replayed: response.headers.get("idempotent-replayed") === "true" };
}

export async function createVirtualAccount(apiKey: string, body: Record<string, unknown>, key?: string): Promise<Answer> {
  return answer(await api("/v1/virtual-accounts", json(body, { ...bearer(apiKey), ...(key === undefined ? {} : { "idempotency-key": key }) })));
}

export async function getVirtualAccount(apiKey: string, id: string): Promise<Answer> {
  return answer(await api(`/v1/virtual-accounts/${id}`, { headers: bearer(apiKey) }));
}

export async function patchVirtualAccount(apiKey: string, id: string, body: unknown): Promise<Answer> {
  return answer(await api(`/v1/virtual-accounts/${id}`, { method: "PATCH", headers: { ...bearer(apiKey), "content-type": "application/json" }, body: JSON.stringify(body) }));
}

export async function closeVirtualAccount(apiKey: string, id: string, key?: string): Promise<Answer> {
  return answer(await api(`/v1/virtual-accounts/${id}/close`, { method: "POST", headers: { ...bearer(apiKey), ...(key === undefined ? {} : { "idempotency-key": key }) } }));
}

/** Every page of GET /v1/virtual-accounts?query. */
export async function listVirtualAccounts(apiKey: string, query = ""): Promise<VirtualAccountBody[]> {
  const accounts: VirtualAccountBody[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 50; page++) {
    const separator = query ? "&" : "";
    const response = await api(`/v1/virtual-accounts?${query}${cursor ? `${separator}cursor=${cursor}` : ""}`, { headers: bearer(apiKey) });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { data: VirtualAccountBody[]; has_more: boolean; next_cursor: string | null };
    accounts.push(...body.data);
    if (!body.has_more) return accounts;
    cursor = body.next_cursor;
  }
  throw new Error("more than 50 pages");
}

/** The sandbox bank's view of an account number (API §10). */
export async function registeredAtBank(accountNumber: string): Promise<boolean> {
  const response = await api(`/v1/sandbox/virtual-accounts/${accountNumber}`, { headers: operatorHeaders() });
  expect(response.status).toBe(200);
  return ((await response.json()) as { registered: boolean }).registered;
}

/** The next `n` registrations fail transiently at the sandbox bank. */
export async function failRegistrations(n: number): Promise<void> {
  const response = await api("/v1/sandbox/faults", json({ register_virtual_account: n }, operatorHeaders()));
  expect(response.status).toBe(200);
}

/** The stored row (whatever its status), straight from D1. */
export async function storedAccount(id: string) {
  return env.DB.prepare("SELECT * FROM virtual_accounts WHERE id = ?").bind(id).first<{ id: string; status: string; account_number: string; created_at: number; expired_event_at: number | null }>();
}

/** Every stored row of a merchant, whatever its status. */
export async function storedAccountsOf(merchantId: string) {
  const { results } = await env.DB.prepare("SELECT id, status, account_number, kind, customer_id FROM virtual_accounts WHERE merchant_id = ?")
    .bind(merchantId)
    .all<{ id: string; status: string; account_number: string; kind: string; customer_id: string }>();
  return results;
}

export async function allocationsOf(accountId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM cvu_allocations WHERE virtual_account_id = ?").bind(accountId).first<{ n: number }>();
  return row!.n;
}

/** An account in the merchant's own ledger (written directly: the ledger routes are not this suite's subject). */
export async function ledgerAccount(merchantId: string, currency = "ARS"): Promise<string> {
  const id = newId("la");
  const now = Date.now();
  await env.DB.prepare(
    "INSERT INTO merchant_ledger_accounts (id, merchant_id, name, normal_balance, currency, created_at, updated_at) VALUES (?, ?, 'Receivables', 'debit', ?, ?, ?)",
  )
    .bind(id, merchantId, currency, now, now)
    .run();
  return id;
}

export function inDays(days: number): string {
  return new Date(Date.now() + days * 24 * 60 * 60 * 1000).toISOString();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
