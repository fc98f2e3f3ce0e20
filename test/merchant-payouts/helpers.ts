/** Helpers for merchant payouts and reserves (API §12). */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { reserveAccount } from "../../src/ledger/accounts";
import { api, bearer, createMerchant, json, operatorHeaders, randomCbu, type TestMerchant } from "../helpers";
import { sendBankEvent, transferEvent, uniqueId } from "../money";

/** A cash-in with the merchant's reference from a sender with no CUIT: the merchant's own balance account. */
export async function fundMerchant(merchant: TestMerchant, amount: number): Promise<void> {
  const event = transferEvent({ amount, concepto: `pago ${merchant.reference}`, sender: { cuit: null, name: "Sin CUIT", cbu: randomCbu() } });
  expect((await sendBankEvent(event)).status).toBe(200);
}

export function patchMerchant(merchantId: string, body: unknown): Promise<Response> {
  return api(`/v1/merchants/${merchantId}`, { ...json(body, operatorHeaders()), method: "PATCH" });
}

export function setPolicy(merchantId: string, body: Record<string, unknown>): Promise<Response> {
  return api(`/v1/merchants/${merchantId}/reserve-policy`, json(body, operatorHeaders()));
}

/** A merchant holding `amount` in its balance account, with a payout CBU and, if given, a reserve policy. */
export async function payingMerchant(amount: number, policy?: Record<string, unknown>): Promise<TestMerchant & { payout_cbu: string }> {
  const merchant = await createMerchant();
  const payout_cbu = randomCbu();
  expect((await patchMerchant(merchant.id, { payout_cbu })).status).toBe(200);
  if (policy) expect((await setPolicy(merchant.id, policy)).status).toBe(201);
  if (amount > 0) await fundMerchant(merchant, amount);
  return { ...merchant, payout_cbu };
}

export function postMerchantPayout(apiKey: string, body: Record<string, unknown>, key: string | null = uniqueId("idem")): Promise<Response> {
  return api("/v1/merchant/payouts", json(body, { ...bearer(apiKey), ...(key === null ? {} : { "idempotency-key": key }) }));
}

export interface MerchantPayout {
  id: string;
  status: string;
  amount: number;
  withheld_amount: number;
  net_amount: number;
  customer_id: null;
  merchant_id: string;
  destination_cbu: string;
}

export async function createdPayout(response: Response): Promise<MerchantPayout> {
  const body = (await response.json()) as MerchantPayout;
  expect(response.status, JSON.stringify(body)).toBe(201);
  return body;
}

/** The merchant's reserve balance account, from D1's balance_accounts view. */
export async function reserveBalance(merchantId: string, currency = "ARS"): Promise<{ available: number; reserved: number }> {
  const row = await env.DB.prepare("SELECT available, reserved FROM balance_accounts WHERE ledger_account_id = ?")
    .bind(reserveAccount(merchantId, currency).id)
    .first<{ available: number; reserved: number }>();
  expect(row).not.toBeNull();
  return row!;
}

export async function holdOf(payoutId: string) {
  return env.DB.prepare("SELECT * FROM reserve_holds WHERE payout_id = ?").bind(payoutId).first<{ status: string; amount: number; release_at: number | null; released_at: number | null }>();
}

export async function eventsOfType(merchantId: string, type: string) {
  const { results } = await env.DB.prepare("SELECT id, object_id, data FROM events WHERE merchant_id = ? AND type = ?").bind(merchantId, type).all<{ id: string; object_id: string; data: string }>();
  return results;
}
