/** Helpers for commission tests: set a merchant's pricing, read the platform's balance and a payment's fee. */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { api, json, operatorHeaders } from "../helpers";

export function postPricing(merchantId: string, body: unknown, headers: Record<string, string> = operatorHeaders()): Promise<Response> {
  return api(`/v1/merchants/${merchantId}/pricing`, json(body, headers));
}

export async function setPricing(merchantId: string, cash_in_fee_bps: number, cash_in_fee_fixed = 0): Promise<void> {
  const response = await postPricing(merchantId, { cash_in_fee_bps, cash_in_fee_fixed });
  expect(response.status).toBe(200);
}

/** The platform's ARS balance account, exact (bigint: read as text). */
export async function platformBalance(): Promise<bigint> {
  const row = await env.DB.prepare("SELECT CAST(posted_credits - posted_debits AS TEXT) AS balance FROM ledger_accounts WHERE id = 'la_platform_ars'").first<{ balance: string }>();
  return BigInt(row!.balance);
}

export async function merchantLedgerBalance(merchantId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT posted_credits - posted_debits AS balance FROM ledger_accounts WHERE kind = 'merchant' AND owner_id = ? AND currency = 'ARS'")
    .bind(merchantId)
    .first<{ balance: number }>();
  return row!.balance;
}

export async function paymentFee(paymentId: string): Promise<number | null> {
  const row = await env.DB.prepare("SELECT fee_amount FROM payments WHERE id = ?").bind(paymentId).first<{ fee_amount: number }>();
  return row?.fee_amount ?? null;
}

/** The commission entries (to the platform) of a ledger transaction. */
export async function feeEntries(transactionId: string): Promise<{ ledger_account_id: string; direction: string; amount: number }[]> {
  const { results } = await env.DB.prepare(
    `SELECT ledger_account_id, direction, amount FROM ledger_entries WHERE transaction_id = ?
       AND (ledger_account_id = 'la_platform_ars' OR (direction = 'debit' AND ledger_account_id LIKE 'la_m%')) ORDER BY id`,
  )
    .bind(transactionId)
    .all<{ ledger_account_id: string; direction: string; amount: number }>();
  return results;
}
