/**
 * The ledger over HTTP (API §8): account balances (posted / pending / available), entries,
 * transactions through a payout's life, who may read what, and the operator's views.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { customerAccount, merchantAccount } from "../../src/ledger/accounts";
import { api, bearer, createMerchant, operatorHeaders, type TestMerchant } from "../helpers";
import { coveredSince, drainPayoutQueue, expectInvariants, fund, fundedCustomer, getInvariants, postPayout, sendBankEvent, settle, transferEvent } from "../money";

interface Balances {
  posted: number;
  pending: number;
  available: number;
}
interface LedgerAccount {
  id: string;
  name: string;
  normal_balance: "credit" | "debit";
  currency: string;
  balances: Balances;
  ledgerable_type: string | null;
  ledgerable_id: string | null;
}
interface LedgerEntry {
  id: string;
  ledger_transaction_id: string;
  ledger_account_id: string;
  direction: "debit" | "credit";
  amount: number;
  status: "pending" | "posted" | "archived";
  created_at: string;
}
interface LedgerTransaction {
  id: string;
  status: "pending" | "posted" | "archived";
  entries: { ledger_account_id: string; direction: "debit" | "credit"; amount: number }[];
  ledgerable_type: string | null;
  ledgerable_id: string | null;
  effective_at: string;
}
interface Page<T> {
  data: T[];
  has_more: boolean;
  next_cursor: string | null;
}

const SETTLEMENT = "la_settlement_ars";
const merchantAccountId = (merchant: TestMerchant) => merchantAccount(merchant.id, "ARS").id;

async function getJson<T>(path: string, headers: Record<string, string>, status = 200): Promise<T> {
  const response = await api(path, { headers });
  expect(response.status).toBe(status);
  return (await response.json()) as T;
}

const account = (id: string, headers = operatorHeaders()) => getJson<LedgerAccount>(`/v1/ledger/accounts/${id}`, headers);
const transaction = (id: string, headers = operatorHeaders()) => getJson<LedgerTransaction>(`/v1/ledger/transactions/${id}`, headers);

function expectBalanced(entries: { direction: string; amount: number }[]) {
  const sum = (direction: string) => entries.filter((entry) => entry.direction === direction).reduce((total, entry) => total + entry.amount, 0);
  expect(entries.length).toBeGreaterThanOrEqual(2);
  expect(sum("debit")).toBe(sum("credit"));
}

async function createPayout(merchant: TestMerchant, customerId: string, amount: number): Promise<string> {
  const response = await postPayout(merchant.api_key, { customer_id: customerId, amount, currency: "ARS" });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

async function expectNotFound(path: string, headers: Record<string, string>) {
  const response = await api(path, { headers });
  expect(response.status).toBe(404);
  expect(await response.json()).toMatchObject({ code: "not_found" });
}

describe("GET /v1/ledger/accounts/{id}", () => {
  it("shows a cash-in as posted, and a pending payout in pending and available but not in posted", async () => {
    const settlementBefore = (await account(SETTLEMENT)).balances;
    const { merchant, customer } = await fundedCustomer(100_000);
    const own = bearer(merchant.api_key);

    const merchantView = await account(merchantAccountId(merchant), own);
    expect(merchantView).toMatchObject({
      id: merchantAccountId(merchant),
      normal_balance: "credit",
      currency: "ARS",
      balances: { posted: 100_000, pending: 100_000, available: 100_000 },
      ledgerable_type: "merchant",
      ledgerable_id: merchant.id,
    });
    const settlementAfterCashIn = (await account(SETTLEMENT)).balances;
    expect(settlementAfterCashIn.posted - settlementBefore.posted).toBe(100_000);

    await createPayout(merchant, customer.id, 30_000);
    expect((await account(merchantAccountId(merchant), own)).balances).toEqual({ posted: 100_000, pending: 70_000, available: 70_000 });
    const customerView = await account(customerAccount(customer.id, "ARS").id);
    expect(customerView).toMatchObject({ normal_balance: "credit", ledgerable_type: "customer", ledgerable_id: customer.id });
    expect(customerView.balances).toEqual({ posted: 100_000, pending: 70_000, available: 70_000 });
    // The settlement account is an asset (debit normal): the payout will take money out of it.
    const settlement = await account(SETTLEMENT);
    expect(settlement.normal_balance).toBe("debit");
    expect(settlement.balances.posted).toBe(settlementAfterCashIn.posted);
    expect(settlement.balances.pending).toBe(settlementAfterCashIn.pending - 30_000);
    expect(settlement.balances.available).toBe(settlementAfterCashIn.available - 30_000);
    await expectInvariants();
  });

  it("agrees with the merchant balance endpoint", async () => {
    const { merchant, customer } = await fundedCustomer(40_000);
    await createPayout(merchant, customer.id, 15_000);
    const balance = await getJson<{ available: number; reserved: number }>("/v1/merchant/balance", bearer(merchant.api_key));
    const view = await account(merchantAccountId(merchant), bearer(merchant.api_key));
    expect(view.balances.available).toBe(balance.available);
    expect(view.balances.posted - view.balances.pending).toBe(balance.reserved);
  });

  it("answers 404 for an account that does not exist, to the operator too", async () => {
    await expectNotFound("/v1/ledger/accounts/la_nothing_here", operatorHeaders());
    await expectNotFound("/v1/ledger/accounts/la_nothing_here/entries", operatorHeaders());
  });
});

describe("GET /v1/ledger/accounts/{id}/entries", () => {
  it("lists entries newest first, in pages that together are the whole list", async () => {
    const { merchant, customer } = await fundedCustomer(10_000);
    await fund(merchant, customer.id, 20_000);
    await fund(merchant, customer.id, 30_000);
    const payoutId = await createPayout(merchant, customer.id, 5_000);
    const own = bearer(merchant.api_key);
    const path = `/v1/ledger/accounts/${merchantAccountId(merchant)}/entries`;

    const all = await getJson<Page<LedgerEntry>>(`${path}?limit=100`, own);
    expect(all.has_more).toBe(false);
    expect(all.next_cursor).toBeNull();
    expect(all.data).toHaveLength(4);
    expect(all.data[0]).toMatchObject({ ledger_transaction_id: `lt_${payoutId}`, direction: "debit", amount: 5_000, status: "pending", ledger_account_id: merchantAccountId(merchant) });
    expect(all.data.slice(1).map((entry) => [entry.direction, entry.status])).toEqual([
      ["credit", "posted"],
      ["credit", "posted"],
      ["credit", "posted"],
    ]);
    expect(all.data.slice(1).map((entry) => entry.amount).sort()).toEqual([10_000, 20_000, 30_000]);
    const times = all.data.map((entry) => Date.parse(entry.created_at));
    expect(times).toEqual([...times].sort((a, b) => b - a));

    const first = await getJson<Page<LedgerEntry>>(`${path}?limit=3`, own);
    expect(first.has_more).toBe(true);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await getJson<Page<LedgerEntry>>(`${path}?limit=3&cursor=${first.next_cursor}`, own);
    expect(second.has_more).toBe(false);
    expect([...first.data, ...second.data].map((entry) => entry.id)).toEqual(all.data.map((entry) => entry.id));
  });

  it("answers 400 for a cursor it never issued, and for a limit out of range", async () => {
    const merchant = await createMerchant();
    const path = `/v1/ledger/accounts/${merchantAccountId(merchant)}/entries`;
    expect((await api(`${path}?cursor=bogus`, { headers: bearer(merchant.api_key) })).status).toBe(400);
    expect((await api(`${path}?limit=0`, { headers: bearer(merchant.api_key) })).status).toBe(400);
    expect((await api(`${path}?limit=101`, { headers: bearer(merchant.api_key) })).status).toBe(400);
  });
});

describe("GET /v1/ledger/transactions/{id}", () => {
  it("follows a payout: pending when created, posted when the bank completes it, entries balanced throughout", async () => {
    const { merchant, customer } = await fundedCustomer(50_000);
    const payoutId = await createPayout(merchant, customer.id, 12_000);
    const own = bearer(merchant.api_key);

    const pending = await transaction(`lt_${payoutId}`, own);
    expect(pending).toMatchObject({ id: `lt_${payoutId}`, status: "pending", ledgerable_type: "payout", ledgerable_id: payoutId });
    expectBalanced(pending.entries);
    expect(pending.entries).toEqual(
      expect.arrayContaining([
        { ledger_account_id: merchantAccountId(merchant), direction: "debit", amount: 12_000 },
        { ledger_account_id: customerAccount(customer.id, "ARS").id, direction: "debit", amount: 12_000 },
        { ledger_account_id: SETTLEMENT, direction: "credit", amount: 12_000 },
      ]),
    );

    await drainPayoutQueue([payoutId]);
    expect((await settle(payoutId, "completed")).status).toBe(200);
    const posted = await transaction(`lt_${payoutId}`, own);
    expect(posted.status).toBe("posted");
    expect(posted.entries).toEqual(pending.entries);
    expect((await account(merchantAccountId(merchant), own)).balances).toEqual({ posted: 38_000, pending: 38_000, available: 38_000 });
    await expectInvariants();
  });

  it("archives a canceled payout's transaction, and the funds come back", async () => {
    const { merchant, customer } = await fundedCustomer(20_000);
    const payoutId = await createPayout(merchant, customer.id, 8_000);
    const canceled = await api(`/v1/payouts/${payoutId}/cancel`, { method: "POST", headers: bearer(merchant.api_key) });
    expect(canceled.status).toBe(200);
    const archived = await transaction(`lt_${payoutId}`, bearer(merchant.api_key));
    expect(archived.status).toBe("archived");
    expectBalanced(archived.entries);
    expect((await account(merchantAccountId(merchant))).balances).toEqual({ posted: 20_000, pending: 20_000, available: 20_000 });
    const entries = await getJson<Page<LedgerEntry>>(`/v1/ledger/accounts/${merchantAccountId(merchant)}/entries`, operatorHeaders());
    expect(entries.data.find((entry) => entry.ledger_transaction_id === `lt_${payoutId}`)).toMatchObject({ status: "archived" });
    await expectInvariants();
  });

  it("shows a cash-in as one posted, balanced transaction", async () => {
    const { merchant, customer } = await fundedCustomer(0);
    const paymentId = await fund(merchant, customer.id, 9_000);
    const cashIn = await transaction(`lt_${paymentId}`, bearer(merchant.api_key));
    expect(cashIn).toMatchObject({ status: "posted", ledgerable_type: "payment", ledgerable_id: paymentId });
    expectBalanced(cashIn.entries);
    expect(cashIn.entries).toEqual(expect.arrayContaining([{ ledger_account_id: merchantAccountId(merchant), direction: "credit", amount: 9_000 }]));
  });

  it("answers 404 for a transaction that does not exist", async () => {
    await expectNotFound("/v1/ledger/transactions/lt_nothing_here", operatorHeaders());
  });
});

describe("who may read the ledger", () => {
  it("hides one merchant's accounts and transactions from another (404, as if absent), but not from the operator", async () => {
    const { merchant: owner, customer } = await fundedCustomer(30_000);
    const payoutId = await createPayout(owner, customer.id, 1_000);
    const paymentsPage = await getJson<Page<{ id: string }>>("/v1/payments", bearer(owner.api_key));
    const paymentId = paymentsPage.data[0]!.id;
    const other = await createMerchant();
    const stranger = bearer(other.api_key);

    for (const path of [
      `/v1/ledger/accounts/${merchantAccountId(owner)}`,
      `/v1/ledger/accounts/${merchantAccountId(owner)}/entries`,
      `/v1/ledger/accounts/${customerAccount(customer.id, "ARS").id}`,
      `/v1/ledger/transactions/lt_${payoutId}`,
      `/v1/ledger/transactions/lt_${paymentId}`,
    ]) {
      await expectNotFound(path, stranger);
      expect((await api(path, { headers: operatorHeaders() })).status).toBe(200);
    }
    expect((await api(`/v1/ledger/accounts/${merchantAccountId(other)}`, { headers: stranger })).status).toBe(200);
  });

  it.each([["la_settlement_ars"], ["la_suspense_ars"], ["la_attribution_ars"]])("hides the platform account %s from a merchant", async (id) => {
    const merchant = await createMerchant();
    await expectNotFound(`/v1/ledger/accounts/${id}`, bearer(merchant.api_key));
    await expectNotFound(`/v1/ledger/accounts/${id}/entries`, bearer(merchant.api_key));
    expect((await api(`/v1/ledger/accounts/${id}`, { headers: operatorHeaders() })).status).toBe(200);
  });

  it("hides a quarantined cash-in's transaction (suspense only) from every merchant", async () => {
    const merchant = await createMerchant();
    const event = transferEvent({ amount: 3_000, concepto: "sin referencia" });
    expect((await sendBankEvent(event)).status).toBe(200);
    const row = await env.DB.prepare("SELECT id FROM payments WHERE bank_transaction_id = ?").bind(event.data.bank_transaction_id).first<{ id: string }>();
    expect(row).not.toBeNull();
    await expectNotFound(`/v1/ledger/transactions/lt_${row!.id}`, bearer(merchant.api_key));
    const seen = await transaction(`lt_${row!.id}`);
    expect(seen.entries.map((entry) => entry.ledger_account_id).sort()).toEqual(["la_settlement_ars", "la_suspense_ars"]);
  });

  it("answers 401 without a key", async () => {
    expect((await api(`/v1/ledger/accounts/${SETTLEMENT}`)).status).toBe(401);
  });
});

describe("operator views", () => {
  it("GET /v1/admin/ledger/accounts?kind=merchant lists merchant balance accounts only, newest first, in pages", async () => {
    const first = await createMerchant();
    const second = await createMerchant();
    const seen: LedgerAccount[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<LedgerAccount> = await getJson<Page<LedgerAccount>>(`/v1/admin/ledger/accounts?kind=merchant&limit=2${cursor ? `&cursor=${cursor}` : ""}`, operatorHeaders());
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor);
    const ids = seen.map((entry) => entry.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain(merchantAccountId(first));
    expect(ids).toContain(merchantAccountId(second));
    expect(ids.indexOf(merchantAccountId(second))).toBeLessThan(ids.indexOf(merchantAccountId(first)));
    for (const entry of seen) expect(entry).toMatchObject({ ledgerable_type: "merchant", id: expect.stringMatching(/^la_m/) });
    expect(ids).not.toContain(SETTLEMENT);
  });

  it("lists every kind without a filter, including the platform's accounts", async () => {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<LedgerAccount> = await getJson<Page<LedgerAccount>>(`/v1/admin/ledger/accounts?limit=100${cursor ? `&cursor=${cursor}` : ""}`, operatorHeaders());
      ids.push(...page.data.map((entry) => entry.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(ids).toEqual(expect.arrayContaining(["la_settlement_ars", "la_suspense_ars", "la_attribution_ars"]));
  });

  it("answers 400 naming query.kind for an unknown kind", async () => {
    const response = await api("/v1/admin/ledger/accounts?kind=treasure", { headers: operatorHeaders() });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { errors: { path: string }[] }).errors.map((error) => error.path)).toContain("query.kind");
  });

  it.each([["/v1/admin/ledger/accounts"], ["/v1/admin/invariants"], ["/v1/admin/bank-events"]])("answers 403 to a merchant key on %s", async (path) => {
    const merchant = await createMerchant();
    const response = await api(path, { headers: bearer(merchant.api_key) });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: "forbidden" });
  });

  it("GET /v1/admin/invariants answers { ok, checks: [{ name, ok, detail, coverage? }] } and all hold once every sweep has completed a pass", async () => {
    await fundedCustomer(1_000);
    const since = Date.now();
    let report = await getInvariants();
    for (let call = 1; call < 20 && !report.checks.every((check) => coveredSince(check, since)); call++) report = await getInvariants();
    expect(Object.keys(report).sort()).toEqual(["checks", "ok"]);
    expect(report.ok).toBe(true);
    for (const check of report.checks) {
      expect(["detail", "name", "ok"].every((key) => key in check)).toBe(true);
      expect(Object.keys(check).every((key) => ["coverage", "detail", "name", "ok"].includes(key))).toBe(true);
      expect(check).toMatchObject({ name: expect.any(String), ok: true, detail: expect.any(String) });
    }
    expect(report.checks.map((check) => check.name)).toEqual(
      expect.arrayContaining(["ledger_balanced", "balances_equal_entries", "liabilities_equal_settlement", "customer_balances_equal_attribution"]),
    );
  });

  it("GET /v1/admin/invariants fails, naming the account, when a cached balance disagrees with its entries", async () => {
    const id = "la_test_broken_cache";
    await env.DB.prepare(
      `INSERT INTO ledger_accounts (id, kind, owner_id, name, normal_balance, currency, posted_credits, created_at, updated_at)
       VALUES (?, 'customer', 'cus_test_broken_cache', 'Broken', 'credit', 'ARS', 5, 0, 0)`,
    )
      .bind(id)
      .run();
    try {
      // The accounts sweep reaches the broken account within a pass (a bounded number of calls).
      const since = Date.now();
      let report = await getInvariants();
      const balancesCheck = () => report.checks.find((candidate) => candidate.name === "balances_equal_entries")!;
      for (let call = 1; call < 20 && !coveredSince(balancesCheck(), since); call++) report = await getInvariants();
      expect(report.ok).toBe(false);
      expect(balancesCheck()).toMatchObject({ ok: false, detail: expect.stringContaining(id) });
      // A customer's balance is the memo side of the chart (docs/MONEY.md).
      expect(report.checks.find((candidate) => candidate.name === "customer_balances_equal_attribution")).toMatchObject({ ok: false });
    } finally {
      await env.DB.prepare("DELETE FROM ledger_accounts WHERE id = ?").bind(id).run();
    }
    await expectInvariants();
  });
});
