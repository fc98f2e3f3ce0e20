/**
 * The whole of API §11 as a merchant uses it, through the public API only: a ledger of its own,
 * its internal account linked, a per_customer CVU linked, a transfer to the CVU (redelivered),
 * its incoming payment detail auto-ledgered once, the bank's reversal mirrored, and the
 * invariants green after each step.
 */
import { describe, expect, it } from "vitest";
import { api, bearer, createCustomer, createMerchant, json } from "../helpers";
import { balanceOf, expectInvariants, sendBankEvent, transferEvent, uniqueId } from "../money";

interface Detail {
  id: string;
  direction: "credit" | "debit";
  amount: number;
  virtual_account_id: string;
  internal_account_id: string;
  payment_id: string;
  ledger_transaction_id: string | null;
}

async function call<T>(path: string, key: string, init: RequestInit = {}): Promise<T> {
  const response = await api(path, { ...init, headers: { ...bearer(key), ...(init.headers as Record<string, string> | undefined) } });
  expect(response.status, `${init.method ?? "GET"} ${path}`).toBeLessThan(300);
  return (await response.json()) as T;
}

describe("a transfer to a linked virtual account, end to end", () => {
  it("credits the customer once, writes one detail auto-ledgered once, and mirrors the bank's reversal", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const key = merchant.api_key;

    const wallets = await call<{ id: string }>("/v1/ledger/accounts", key, { ...json({ name: "Wallets", normal_balance: "credit", currency: "ARS" }) });
    const cash = await call<{ id: string }>("/v1/ledger/accounts", key, { ...json({ name: "Cash at bank", normal_balance: "debit", currency: "ARS" }) });
    const internal = (await call<{ data: { id: string; currency: string }[] }>("/v1/internal-accounts", key)).data.find((account) => account.currency === "ARS")!;
    await call(`/v1/internal-accounts/${internal.id}`, key, { ...json({ ledger_account_id: cash.id }), method: "PATCH" });
    const account = await call<{ id: string; account_number: string }>("/v1/virtual-accounts", key, {
      ...json({ customer_id: customer.id, kind: "per_customer", ledger_account_id: wallets.id }),
      headers: { "content-type": "application/json", "idempotency-key": uniqueId("va") },
    });

    // Whatever the concepto says, the destination decides; the bank delivers the transfer twice.
    const transfer = transferEvent({ amount: 250_000, account_number: account.account_number, concepto: "pago" });
    expect((await sendBankEvent(transfer)).status).toBe(200);
    expect((await sendBankEvent({ ...transfer, id: uniqueId("evt") })).status).toBe(200);

    expect((await balanceOf(key, customer.id)).available).toBe(250_000);
    const payments = await call<{ data: { id: string; virtual_account_id: string; matched_by: string; status: string }[] }>(`/v1/customers/${customer.id}/payments`, key);
    expect(payments.data).toEqual([expect.objectContaining({ status: "credited", matched_by: "virtual_account", virtual_account_id: account.id })]);
    const paymentId = payments.data[0]!.id;

    const details = (await call<{ data: Detail[] }>(`/v1/incoming-payment-details?virtual_account_id=${account.id}`, key)).data;
    expect(details).toEqual([expect.objectContaining({ direction: "credit", amount: 250_000, payment_id: paymentId, internal_account_id: internal.id, ledger_transaction_id: expect.any(String) })]);
    const posting = await call<{ ledgerable_type: string; ledgerable_id: string; entries: { ledger_account_id: string; direction: string; amount: number }[] }>(`/v1/ledger/transactions/${details[0]!.ledger_transaction_id}`, key);
    expect(posting).toMatchObject({ ledgerable_type: "incoming_payment_detail", ledgerable_id: details[0]!.id });
    expect(posting.entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ ledger_account_id: wallets.id, direction: "credit", amount: 250_000 }),
        expect.objectContaining({ ledger_account_id: cash.id, direction: "debit", amount: 250_000 }),
      ]),
    );
    await expectInvariants();

    const reversal = { id: uniqueId("evt"), type: "transfer.reversed", created_at: new Date().toISOString(), data: { bank_transaction_id: transfer.data.bank_transaction_id, reversal_id: uniqueId("rev"), reason: "fraud" } };
    expect((await sendBankEvent(reversal)).status).toBe(200);
    expect((await sendBankEvent(reversal)).status).toBe(200);
    const after = (await call<{ data: Detail[] }>(`/v1/incoming-payment-details?virtual_account_id=${account.id}`, key)).data;
    expect(after.map((detail) => detail.direction).sort()).toEqual(["credit", "debit"]);
    const wallet = await call<{ balances: { posted: number } }>(`/v1/ledger/accounts/${wallets.id}`, key);
    expect(wallet.balances.posted).toBe(0);
    expect((await balanceOf(key, customer.id)).available).toBe(0);
    await expectInvariants();

    // Another merchant sees none of it.
    const other = await createMerchant();
    expect((await api(`/v1/incoming-payment-details/${details[0]!.id}`, { headers: bearer(other.api_key) })).status).toBe(404);
    expect((await api(`/v1/virtual-accounts/${account.id}`, { headers: bearer(other.api_key) })).status).toBe(404);
    expect((await api(`/v1/ledger/accounts/${wallets.id}`, { headers: bearer(other.api_key) })).status).toBe(404);
  });

  it("mirrors a reversal to the accounts the credit posted to, and posts none for a credit that was not ledgered, whatever the links are by then", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const key = merchant.api_key;
    const open = (name: string, normal_balance: string) => call<{ id: string }>("/v1/ledger/accounts", key, json({ name, normal_balance, currency: "ARS" }));
    const [wallets, cash, otherWallets] = [await open("Wallets", "credit"), await open("Cash", "debit"), await open("Other wallets", "credit")];
    const internal = (await call<{ data: { id: string; currency: string }[] }>("/v1/internal-accounts", key)).data.find((account) => account.currency === "ARS")!;
    const account = await call<{ id: string; account_number: string }>("/v1/virtual-accounts", key, json({ customer_id: customer.id, kind: "per_customer" }));
    const link = (path: string, ledger_account_id: string | null) => call(path, key, { ...json({ ledger_account_id }), method: "PATCH" });
    const reverse = (transfer: ReturnType<typeof transferEvent>) =>
      sendBankEvent({ id: uniqueId("evt"), type: "transfer.reversed", created_at: new Date().toISOString(), data: { bank_transaction_id: transfer.data.bank_transaction_id, reversal_id: uniqueId("rev"), reason: "fraud" } });
    const balance = async (id: string) => (await call<{ balances: { posted: number } }>(`/v1/ledger/accounts/${id}`, key)).balances.posted;

    // Credited while unlinked, reversed once linked: neither side is posted.
    const unledgered = transferEvent({ amount: 5_000, account_number: account.account_number });
    expect((await sendBankEvent(unledgered)).status).toBe(200);
    await link(`/v1/internal-accounts/${internal.id}`, cash.id);
    await link(`/v1/virtual-accounts/${account.id}`, wallets.id);
    expect((await reverse(unledgered)).status).toBe(200);
    expect([await balance(wallets.id), await balance(cash.id)]).toEqual([0, 0]);

    // Credited while linked, relinked elsewhere, then unlinked, then reversed: mirrored to the credit's accounts.
    const ledgered = transferEvent({ amount: 7_000, account_number: account.account_number });
    expect((await sendBankEvent(ledgered)).status).toBe(200);
    expect([await balance(wallets.id), await balance(cash.id)]).toEqual([7_000, 7_000]);
    await link(`/v1/virtual-accounts/${account.id}`, otherWallets.id);
    await link(`/v1/internal-accounts/${internal.id}`, null);
    expect((await reverse(ledgered)).status).toBe(200);
    expect([await balance(wallets.id), await balance(cash.id), await balance(otherWallets.id)]).toEqual([0, 0, 0]);
    const details = (await call<{ data: Detail[] }>(`/v1/incoming-payment-details?virtual_account_id=${account.id}&limit=10`, key)).data;
    expect(details.map((detail) => [detail.direction, detail.amount, detail.ledger_transaction_id === null]).sort()).toEqual([
      ["credit", 5_000, true],
      ["credit", 7_000, false],
      ["debit", 5_000, true],
      ["debit", 7_000, false],
    ]);
    await expectInvariants();
  });
});
