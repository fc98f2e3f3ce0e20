/** Helpers for the transfers tests: accounts by merchant, and the routes of API §12. */
import { expect } from "vitest";
import { balanceAccountId, merchantAccount, platformBalanceAccount, reserveAccount } from "../../src/ledger/accounts";
import { api, bearer, json, operatorHeaders } from "../helpers";
import { uniqueId } from "../money";

export const merchantBa = (merchantId: string, currency = "ARS") => balanceAccountId(merchantAccount(merchantId, currency).id);
export const reserveBa = (merchantId: string, currency = "ARS") => balanceAccountId(reserveAccount(merchantId, currency).id);
export const platformBa = (currency = "ARS") => balanceAccountId(platformBalanceAccount(currency).id);

/** A merchant's API key, or the operator (null). */
export function headersOf(apiKey: string | null): Record<string, string> {
  return apiKey === null ? operatorHeaders() : bearer(apiKey);
}

export function postTransfer(apiKey: string | null, body: Record<string, unknown>, key: string | null = uniqueId("idem")): Promise<Response> {
  return api("/v1/transfers", json(body, { ...headersOf(apiKey), ...(key === null ? {} : { "idempotency-key": key }) }));
}

export function postTopUp(merchantId: string, body: Record<string, unknown>, key: string | null = uniqueId("idem"), apiKey: string | null = null): Promise<Response> {
  return api(`/v1/merchants/${merchantId}/top-ups`, json(body, { ...headersOf(apiKey), ...(key === null ? {} : { "idempotency-key": key }) }));
}

export interface BalanceAccountBody {
  id: string;
  object: "balance_account";
  owner_id: string;
  kind: string;
  currency: string;
  available: number;
  reserved: number;
  updated_at: string;
}

export interface TransferBody {
  id: string;
  object: "transfer";
  status: string;
  kind: string;
  from_balance_account: string;
  to_balance_account: string;
  amount: number;
  currency: string;
  description: string | null;
  metadata: Record<string, string>;
  created_at: string;
}

export async function getBalanceAccount(apiKey: string | null, id: string): Promise<{ status: number; body: BalanceAccountBody & { code?: string; detail?: string } }> {
  const response = await api(`/v1/balance-accounts/${id}`, { headers: headersOf(apiKey) });
  return { status: response.status, body: (await response.json()) as BalanceAccountBody & { code?: string; detail?: string } };
}

export async function availableOf(id: string): Promise<number> {
  const { status, body } = await getBalanceAccount(null, id);
  expect(status).toBe(200);
  return body.available;
}

/** Every page of GET `path`?query, following next_cursor. */
export async function listAll<T>(path: string, apiKey: string | null, query = "", maxPages = 100): Promise<{ data: T[]; pages: number }> {
  const data: T[] = [];
  let cursor: string | null = null;
  for (let page = 1; page <= maxPages; page++) {
    const parts = [query, cursor ? `cursor=${cursor}` : ""].filter(Boolean).join("&");
    const response = await api(`${path}?${parts}`, { headers: headersOf(apiKey) });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { data: T[]; has_more: boolean; next_cursor: string | null };
    data.push(...body.data);
    if (!body.has_more) return { data, pages: page };
    cursor = body.next_cursor;
  }
  throw new Error(`more than ${maxPages} pages`);
}
