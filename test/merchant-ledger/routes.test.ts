/**
 * The routes of ledger linking (API §11): the merchant's own ledger accounts, internal
 * accounts and incoming payment details. Isolation: another merchant's account, internal
 * account, transaction or detail answers 404 exactly as an unknown id; linking another
 * merchant's account or one of another currency is 400 naming the field.
 */
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { merchantLedgerAccounts } from "../../src/db/schema";
import { openInternalAccounts } from "../../src/merchant-ledger/internal-accounts";
import { api, bearer, createMerchant, expectFieldError, expectNoInternals, json, operatorHeaders } from "../helpers";
import { arrive, createLedgerAccount, db, internalAccountsOf, linkedMerchant, newVirtualAccount } from "./fixtures";

const patch = (path: string, body: unknown, headers: Record<string, string>) => api(path, { ...json(body, headers), method: "PATCH" });

async function read(path: string, headers: Record<string, string>) {
  const response = await api(path, { headers });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Record<string, any>, text };
}

describe("POST /v1/ledger/accounts", () => {
  it("opens an account in the caller's ledger, with la_ml_ id and zero balances", async () => {
    const merchant = await createMerchant();
    const response = await api(
      "/v1/ledger/accounts",
      json({ name: "  Wallets ", normal_balance: "credit", currency: "ARS", description: "Customer wallets" }, bearer(merchant.api_key)),
    );
    expect(response.status).toBe(201);
    const account = (await response.json()) as Record<string, unknown>;
    expect(account).toEqual({
      id: expect.stringMatching(/^la_ml_/),
      name: "Wallets",
      description: "Customer wallets",
      normal_balance: "credit",
      currency: "ARS",
      balances: { posted: 0, pending: 0, available: 0 },
      ledgerable_type: null,
      ledgerable_id: null,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    expect((await read(`/v1/ledger/accounts/${account.id}`, bearer(merchant.api_key))).body).toEqual(account);
  });

  it("refuses a disabled currency, a bad or unknown field, and the operator", async () => {
    const merchant = await createMerchant();
    const post = (body: unknown, headers = bearer(merchant.api_key)) => api("/v1/ledger/accounts", json(body, headers));
    await expectFieldError(await post({ name: "x", normal_balance: "credit", currency: "USD" }), "currency", "unsupported_currency");
    await expectFieldError(await post({ name: "x", normal_balance: "sideways", currency: "ARS" }), "normal_balance");
    await expectFieldError(await post({ name: " ", normal_balance: "credit", currency: "ARS" }), "name");
    await expectFieldError(await post({ normal_balance: "credit", currency: "ARS" }), "name");
    await expectFieldError(await post({ name: "x", normal_balance: "credit", currency: "ARS", merchant_id: "mer_x" }), "merchant_id");
    await expectFieldError(await post({ name: "x", normal_balance: "credit", currency: "ARS", description: "d".repeat(141) }), "description");
    expect((await post({ name: "x", normal_balance: "credit", currency: "ARS" }, operatorHeaders())).status).toBe(403);
    const count = await db().$count(merchantLedgerAccounts, eq(merchantLedgerAccounts.merchant_id, merchant.id));
    expect(count).toBe(0);
  });

  it("honours Idempotency-Key: a repeat returns the same account and opens no second one; another body is 422", async () => {
    const merchant = await createMerchant();
    const headers = { ...bearer(merchant.api_key), "idempotency-key": "ledger-account-1" };
    const body = { name: "Wallets", normal_balance: "credit", currency: "ARS" };
    const [first, second] = await Promise.all([api("/v1/ledger/accounts", json(body, headers)), api("/v1/ledger/accounts", json(body, headers))]);
    const statuses = [first.status, second.status].sort();
    // Concurrent: one runs, the other waits its turn (409 in flight) or replays it.
    expect(statuses[0]).toBe(201);
    expect([201, 409]).toContain(statuses[1]);
    const replay = await api("/v1/ledger/accounts", json(body, headers));
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    const created = [first, second].find((response) => response.status === 201)!;
    expect(((await replay.json()) as { id: string }).id).toBe(((await created.clone().json()) as { id: string }).id);
    expect((await api("/v1/ledger/accounts", json({ ...body, name: "Other" }, headers))).status).toBe(422);
    expect((await read("/v1/ledger/accounts", bearer(merchant.api_key))).body.data).toHaveLength(1);
  });
});

describe("GET /v1/ledger/accounts and the ledger routes on a merchant's ledger", () => {
  it("lists only the caller's accounts, newest first and paginated; the operator lists everyone's", async () => {
    const merchant = await createMerchant();
    const other = await createMerchant();
    const a = await createLedgerAccount(merchant, { name: "A" });
    const b = await createLedgerAccount(merchant, { name: "B" });
    const theirs = await createLedgerAccount(other, { name: "Theirs" });

    const page1 = await read("/v1/ledger/accounts?limit=1", bearer(merchant.api_key));
    expect(page1.body.data.map((row: { id: string }) => row.id)).toEqual([b.id]);
    expect(page1.body.has_more).toBe(true);
    const page2 = await read(`/v1/ledger/accounts?limit=1&cursor=${page1.body.next_cursor}`, bearer(merchant.api_key));
    expect(page2.body).toMatchObject({ data: [expect.objectContaining({ id: a.id })], has_more: false, next_cursor: null });

    const all = await read("/v1/ledger/accounts?limit=100", operatorHeaders());
    const ids = all.body.data.map((row: { id: string }) => row.id);
    expect(ids).toEqual(expect.arrayContaining([a.id, b.id, theirs.id]));
    expect(ids.every((id: string) => id.startsWith("la_ml_"))).toBe(true);
  });

  it("answers 404 for another merchant's account, its entries and its transactions, as for an unknown id; the operator reads them", async () => {
    const { merchant, wallets, virtualAccountId } = await linkedMerchant();
    const stranger = await createMerchant();
    const paymentId = await arrive(virtualAccountId, 900);
    for (const path of [`/v1/ledger/accounts/${wallets.id}`, `/v1/ledger/accounts/${wallets.id}/entries`, `/v1/ledger/transactions/lt_ml_${paymentId}`]) {
      const theirs = await read(path, bearer(stranger.api_key));
      const unknown = await read(path.replace(/(la_ml_|lt_ml_)[^/]+/, "$1unknown"), bearer(stranger.api_key));
      expect(theirs.status).toBe(404);
      expect(unknown.status).toBe(404);
      expect(theirs.body.code).toBe("not_found");
      expect(theirs.text).not.toContain(merchant.id);
      expectNoInternals(theirs.text);
      expect((await read(path, bearer(merchant.api_key))).status).toBe(200);
      expect((await read(path, operatorHeaders())).status).toBe(200);
    }
    // The platform's accounts keep answering as before (the merchant's own balance account).
    expect((await read(`/v1/ledger/accounts/la_m${merchant.id.slice(4)}_ars`, bearer(merchant.api_key))).status).toBe(200);
  });
});

describe("internal accounts", () => {
  it("lists one per enabled currency, opened on first listing: the settlement CBU, unlinked, with an id derived from merchant and currency", async () => {
    const merchant = await createMerchant();
    const list = await read("/v1/internal-accounts", bearer(merchant.api_key));
    expect(list.status).toBe(200);
    expect(list.body).toEqual({
      data: [
        {
          id: `ia_${merchant.id.slice(4)}_ars`,
          account_number: "2850590940090418135201",
          currency: "ARS",
          ledger_account_id: null,
          created_at: expect.any(String),
          updated_at: expect.any(String),
        },
      ],
      has_more: false,
      next_cursor: null,
    });
    expect((await read(`/v1/internal-accounts/${list.body.data[0].id}`, bearer(merchant.api_key))).body).toEqual(list.body.data[0]);
  });

  it("concurrent first listings open one account per currency", async () => {
    const merchant = await createMerchant();
    const lists = await Promise.all(Array.from({ length: 6 }, () => internalAccountsOf(merchant)));
    for (const list of lists) expect(list.map((account) => account.id)).toEqual([`ia_${merchant.id.slice(4)}_ars`]);
    // Two currencies at once, from code (only ARS is enabled in tests).
    await Promise.all(Array.from({ length: 6 }, () => openInternalAccounts(db(), merchant.id, ["ARS", "USD"], Date.now())));
    const rows = await env.DB.prepare("SELECT id, currency FROM internal_accounts WHERE merchant_id = ? ORDER BY currency").bind(merchant.id).all();
    expect(rows.results).toEqual([
      { id: `ia_${merchant.id.slice(4)}_ars`, currency: "ARS" },
      { id: `ia_${merchant.id.slice(4)}_usd`, currency: "USD" },
    ]);
  });

  it("links to an account of the caller's ledger in its currency, and unlinks with null", async () => {
    const merchant = await createMerchant();
    const cash = await createLedgerAccount(merchant, { name: "Cash", normal_balance: "debit" });
    const [internal] = await internalAccountsOf(merchant);
    const linked = await patch(`/v1/internal-accounts/${internal!.id}`, { ledger_account_id: cash.id }, bearer(merchant.api_key));
    expect(linked.status).toBe(200);
    expect(await linked.json()).toMatchObject({ id: internal!.id, ledger_account_id: cash.id });
    expect((await internalAccountsOf(merchant))[0]!.ledger_account_id).toBe(cash.id);
    const unlinked = await patch(`/v1/internal-accounts/${internal!.id}`, { ledger_account_id: null }, bearer(merchant.api_key));
    expect(await unlinked.json()).toMatchObject({ ledger_account_id: null });
  });

  it("refuses another merchant's ledger account, another currency's, an unknown one, a bad body; another's internal account is 404; the operator may not link", async () => {
    const merchant = await createMerchant();
    const stranger = await createMerchant();
    const [internal] = await internalAccountsOf(merchant);
    const [theirInternal] = await internalAccountsOf(stranger);
    const theirs = await createLedgerAccount(stranger);
    const now = Date.now();
    // A USD account of the caller's own ledger (USD is not enabled in tests: written straight to D1).
    await db().insert(merchantLedgerAccounts).values({ id: "la_ml_usd_of_merchant_" + merchant.id, merchant_id: merchant.id, name: "USD", normal_balance: "debit", currency: "USD", created_at: now, updated_at: now });
    const path = `/v1/internal-accounts/${internal!.id}`;
    for (const ledgerAccountId of [theirs.id, "la_ml_usd_of_merchant_" + merchant.id, "la_ml_unknown", "la_settlement_ars"]) {
      const response = await patch(path, { ledger_account_id: ledgerAccountId }, bearer(merchant.api_key));
      const text = await response.clone().text();
      await expectFieldError(response, "ledger_account_id");
      expect(text).not.toContain(stranger.id);
    }
    await expectFieldError(await patch(path, {}, bearer(merchant.api_key)), "ledger_account_id");
    await expectFieldError(await patch(path, { ledger_account_id: null, extra: 1 }, bearer(merchant.api_key)), "extra");
    expect((await patch(`/v1/internal-accounts/${theirInternal!.id}`, { ledger_account_id: null }, bearer(merchant.api_key))).status).toBe(404);
    expect((await read(`/v1/internal-accounts/${theirInternal!.id}`, bearer(merchant.api_key))).status).toBe(404);
    expect((await read(`/v1/internal-accounts/ia_unknown_ars`, bearer(merchant.api_key))).status).toBe(404);
    expect((await read(`/v1/internal-accounts/${theirInternal!.id}`, operatorHeaders())).status).toBe(200);
    expect((await patch(path, { ledger_account_id: null }, operatorHeaders())).status).toBe(403);
    expect((await read("/v1/internal-accounts", operatorHeaders())).status).toBe(403);
    expect((await internalAccountsOf(merchant))[0]!.ledger_account_id).toBeNull();
  });
});

describe("incoming payment details", () => {
  it("lists the caller's, by virtual account, newest first and paginated; another's is 404 and its virtual account an empty page; the operator sees all", async () => {
    const { merchant, virtualAccountId } = await linkedMerchant();
    const secondAccount = await newVirtualAccount(merchant);
    const stranger = await linkedMerchant();
    const first = await arrive(virtualAccountId, 100);
    const second = await arrive(virtualAccountId, 200);
    const elsewhere = await arrive(secondAccount, 300);
    const theirs = await arrive(stranger.virtualAccountId, 400);

    const all = await read("/v1/incoming-payment-details", bearer(merchant.api_key));
    expect(all.body.data.map((detail: { payment_id: string }) => detail.payment_id).sort()).toEqual([first, second, elsewhere].sort());
    const page1 = await read(`/v1/incoming-payment-details?virtual_account_id=${virtualAccountId}&limit=1`, bearer(merchant.api_key));
    expect(page1.body.has_more).toBe(true);
    const page2 = await read(`/v1/incoming-payment-details?virtual_account_id=${virtualAccountId}&limit=1&cursor=${page1.body.next_cursor}`, bearer(merchant.api_key));
    expect([...page1.body.data, ...page2.body.data].map((detail: { payment_id: string }) => detail.payment_id).sort()).toEqual([first, second].sort());
    expect(page2.body.has_more).toBe(false);

    expect((await read(`/v1/incoming-payment-details?virtual_account_id=${stranger.virtualAccountId}`, bearer(merchant.api_key))).body.data).toEqual([]);
    const foreign = await read(`/v1/incoming-payment-details/ipd_${theirs}`, bearer(merchant.api_key));
    expect(foreign.status).toBe(404);
    expect(foreign.text).not.toContain(stranger.merchant.id);
    expect((await read(`/v1/incoming-payment-details/ipd_unknown`, bearer(merchant.api_key))).status).toBe(404);
    expect((await read(`/v1/incoming-payment-details/ipd_${theirs}`, operatorHeaders())).body.payment_id).toBe(theirs);
    const operatorView = await read(`/v1/incoming-payment-details?virtual_account_id=${stranger.virtualAccountId}`, operatorHeaders());
    expect(operatorView.body.data.map((detail: { payment_id: string }) => detail.payment_id)).toEqual([theirs]);
    await expectFieldError(await api("/v1/incoming-payment-details?limit=0", { headers: bearer(merchant.api_key) }), "query.limit");
  });
});
