/**
 * Virtual accounts and payments at them, written straight into D1 (drizzle) until the
 * provisioning and routing-rule-1 branches merge: auto-ledgering depends only on a payment row
 * carrying virtual_account_id, however it got there. Payments are written as the platform's
 * books expect a quarantined cash-in (lt_<id>: Dr settlement / Cr suspense; a reversal:
 * lt_reversal_<id>: Dr suspense / Cr settlement), so the platform's invariants stay green.
 */
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { expect } from "vitest";
import { randomToken } from "../../src/crypto";
import { database } from "../../src/db/client";
import { cvuAllocations, payments, virtualAccounts } from "../../src/db/schema";
import { cvuOf } from "../../src/domain/cvu";
import { platformAccountId } from "../../src/ledger/accounts";
import { postTransaction } from "../../src/ledger/posting";
import { api, bearer, createCustomer, createMerchant, json, type TestMerchant } from "../helpers";

export const db = () => database(env.DB);

export async function newVirtualAccount(merchant: TestMerchant, options: { ledger_account_id?: string | null; currency?: string } = {}): Promise<string> {
  const customer = await createCustomer(merchant.api_key);
  const id = `va_${randomToken(24)}`;
  const now = Date.now();
  const [allocation] = await db().insert(cvuAllocations).values({ virtual_account_id: id, allocated_at: now }).returning();
  await db()
    .insert(virtualAccounts)
    .values({
      id,
      account_number: cvuOf("0042", allocation!.seq),
      kind: "per_customer",
      status: "active",
      merchant_id: merchant.id,
      customer_id: customer.id,
      currency: options.currency ?? "ARS",
      ledger_account_id: options.ledger_account_id ?? null,
      registered_at: now,
      created_at: now,
      updated_at: now,
    });
  return id;
}

export async function linkVirtualAccount(virtualAccountId: string, ledgerAccountId: string | null): Promise<void> {
  await db().update(virtualAccounts).set({ ledger_account_id: ledgerAccountId }).where(eq(virtualAccounts.id, virtualAccountId));
}

/** The payment row of a cash-in at `virtualAccountId` (held in suspense), as a projection writes it. */
export function paymentRow(virtualAccountId: string | null, amount: number, currency = "ARS") {
  const now = Date.now();
  return {
    id: `pay_${randomToken(24)}`,
    bank_transaction_id: `bt_${randomToken(24)}`,
    status: "quarantined" as const,
    amount,
    currency,
    sender_cuit: "20123456786",
    sender_name: "Sender",
    sender_cbu: "0110599520000001234569",
    concepto: "test",
    matched_by: null,
    booked_at: now,
    booked_date: new Date(now).toISOString().slice(0, 10),
    virtual_account_id: virtualAccountId,
    quarantine_reason: "amount_mismatch",
    created_at: now,
    updated_at: now,
  };
}

/** The platform's ledger transaction of a cash-in held in suspense (or of its reversal). */
export function platformStatements(paymentId: string, amount: number, kind: "arrival" | "reversal", currency = "ARS") {
  const settlement = platformAccountId.settlement(currency);
  const suspense = platformAccountId.suspense(currency);
  return postTransaction(
    env.DB,
    {
      id: kind === "arrival" ? `lt_${paymentId}` : `lt_reversal_${paymentId}`,
      status: "posted",
      description: kind,
      ledgerable_type: "payment",
      ledgerable_id: paymentId,
      effective_at: Date.now(),
      entries:
        kind === "arrival"
          ? [
              { account_id: settlement, direction: "debit", amount },
              { account_id: suspense, direction: "credit", amount },
            ]
          : [
              { account_id: suspense, direction: "debit", amount },
              { account_id: settlement, direction: "credit", amount },
            ],
    },
    Date.now(),
  );
}

/** A cash-in of `amount` arrives at the virtual account: its payment row and its platform ledger transaction, in one batch. */
export async function arrive(virtualAccountId: string, amount: number): Promise<string> {
  const row = paymentRow(virtualAccountId, amount);
  const insert = db().insert(payments).values(row);
  await env.DB.batch([env.DB.prepare(insert.toSQL().sql).bind(...insert.toSQL().params), ...platformStatements(row.id, amount, "arrival")]);
  return row.id;
}

/** The bank reverses the payment, as the reversal projection writes it. */
export async function reverse(paymentId: string): Promise<void> {
  const payment = (await db().select().from(payments).where(eq(payments.id, paymentId)).get())!;
  const update = db()
    .update(payments)
    .set({ status: "reversed", reversal_id: `rev_${randomToken(16)}`, updated_at: Date.now() })
    .where(eq(payments.id, paymentId));
  await env.DB.batch([env.DB.prepare(update.toSQL().sql).bind(...update.toSQL().params), ...platformStatements(paymentId, payment.amount, "reversal")]);
}

export async function createLedgerAccount(merchant: TestMerchant, body: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const response = await api("/v1/ledger/accounts", json({ name: "Wallets", normal_balance: "credit", currency: "ARS", ...body }, { ...bearer(merchant.api_key), ...headers }));
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; balances: { posted: number }; currency: string };
}

export async function internalAccountsOf(merchant: TestMerchant) {
  const response = await api("/v1/internal-accounts", { headers: bearer(merchant.api_key) });
  expect(response.status).toBe(200);
  return ((await response.json()) as { data: { id: string; currency: string; ledger_account_id: string | null; account_number: string }[] }).data;
}

/** A merchant whose ARS virtual account and internal account are both linked to accounts of its ledger. */
export async function linkedMerchant() {
  const merchant = await createMerchant();
  const wallets = await createLedgerAccount(merchant, { name: "Wallets", normal_balance: "credit" });
  const cash = await createLedgerAccount(merchant, { name: "Cash", normal_balance: "debit" });
  const [internal] = await internalAccountsOf(merchant);
  const linked = await api(`/v1/internal-accounts/${internal!.id}`, { ...json({ ledger_account_id: cash.id }, bearer(merchant.api_key)), method: "PATCH" });
  expect(linked.status).toBe(200);
  const virtualAccountId = await newVirtualAccount(merchant, { ledger_account_id: wallets.id });
  return { merchant, wallets, cash, internal: internal!, virtualAccountId };
}
