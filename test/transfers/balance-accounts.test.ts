/**
 * Balance accounts (API §12): a merchant reads its own merchant and reserve accounts (anything
 * else 404, exactly as a missing id), the operator all, with filters and pages; the merchant
 * object names its accounts in the primary currency.
 */
import { describe, expect, it } from "vitest";
import { api, createMerchant, json, operatorHeaders } from "../helpers";
import { fundedCustomer } from "../money";
import { getBalanceAccount, headersOf, listAll, merchantBa, platformBa, reserveBa, type BalanceAccountBody } from "./transfer-helpers";

describe("balance accounts", () => {
  it("a merchant reads its own accounts; another's, the platform's and a missing id are the same 404", async () => {
    const { merchant: a } = await fundedCustomer(7_000);
    const b = await createMerchant();
    const own = await getBalanceAccount(a.api_key, merchantBa(a.id));
    expect(own.status).toBe(200);
    expect(own.body).toEqual({
      id: merchantBa(a.id),
      object: "balance_account",
      owner_id: a.id,
      kind: "merchant",
      currency: "ARS",
      available: 7_000,
      reserved: 0,
      updated_at: expect.stringMatching(/Z$/),
    });
    expect((await getBalanceAccount(a.api_key, reserveBa(a.id))).body).toMatchObject({ kind: "reserve", owner_id: a.id, available: 0 });

    const missing = await getBalanceAccount(b.api_key, "ba_mnobody_ars");
    expect(missing.status).toBe(404);
    for (const id of [merchantBa(a.id), reserveBa(a.id), platformBa(), "ba_settlement_ars", "la_settlement_ars"]) {
      const foreign = await getBalanceAccount(b.api_key, id);
      expect(foreign.status, id).toBe(404);
      expect(foreign.body.detail).toBe(missing.body.detail);
    }
    expect((await getBalanceAccount(null, platformBa())).body).toMatchObject({ kind: "platform", owner_id: "platform" });
    expect((await getBalanceAccount(null, "ba_settlement_ars")).status).toBe(404);
  });

  it("lists: a merchant its own two; the operator all, by owner_id and kind, paged newest first without gaps or duplicates", async () => {
    const merchants = [await createMerchant(), await createMerchant(), await createMerchant()];
    const [a] = merchants as [(typeof merchants)[0]];
    const mine = await listAll<BalanceAccountBody>("/v1/balance-accounts", a.api_key);
    expect(mine.data.map((row) => row.id).sort()).toEqual([merchantBa(a.id), reserveBa(a.id)].sort());
    expect((await listAll<BalanceAccountBody>("/v1/balance-accounts", a.api_key, "kind=reserve")).data.map((row) => row.id)).toEqual([reserveBa(a.id)]);
    // A merchant's filters never widen what it sees.
    expect((await listAll<BalanceAccountBody>("/v1/balance-accounts", a.api_key, `owner_id=${merchants[1]!.id}`)).data).toEqual([]);
    expect((await listAll<BalanceAccountBody>("/v1/balance-accounts", a.api_key, "kind=platform")).data).toEqual([]);

    expect((await listAll<BalanceAccountBody>("/v1/balance-accounts", null, `owner_id=${a.id}`)).data.map((row) => row.kind).sort()).toEqual(["merchant", "reserve"]);
    expect((await listAll<BalanceAccountBody>("/v1/balance-accounts", null, "kind=platform")).data.map((row) => row.id)).toEqual([platformBa()]);

    const paged = await listAll<BalanceAccountBody>("/v1/balance-accounts", null, "limit=2");
    const ids = paged.data.map((row) => row.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const merchant of merchants) for (const id of [merchantBa(merchant.id), reserveBa(merchant.id)]) expect(ids).toContain(id);
    expect(ids).toContain(platformBa());
    expect(paged.data.every((row) => ["merchant", "reserve", "platform"].includes(row.kind))).toBe(true);
    const all = await listAll<BalanceAccountBody>("/v1/balance-accounts", null, "limit=100");
    expect(ids).toEqual(all.data.map((row) => row.id));

    const badKind = await api("/v1/balance-accounts?kind=customer", { headers: headersOf(null) });
    expect(badKind.status).toBe(400);
    expect((await api("/v1/balance-accounts?cursor=nonsense", { headers: headersOf(a.api_key) })).status).toBe(400);
  });

  it("the merchant object names its balance and reserve accounts (POST, GET, GET /v1/merchant, the operator's list)", async () => {
    const created = await api("/v1/merchants", json({ name: "Accounts" }, operatorHeaders()));
    expect(created.status).toBe(201);
    const body = (await created.json()) as { id: string; api_key: string; balance_account_id: string; reserve_account_id: string };
    const expected = { balance_account_id: merchantBa(body.id), reserve_account_id: reserveBa(body.id) };
    expect(body).toMatchObject(expected);
    expect(await (await api(`/v1/merchants/${body.id}`, { headers: operatorHeaders() })).json()).toMatchObject(expected);
    expect(await (await api("/v1/merchant", { headers: headersOf(body.api_key) })).json()).toMatchObject(expected);
    const listed = await listAll<{ id: string }>("/v1/merchants", null, "limit=100");
    expect(listed.data.find((merchant) => merchant.id === body.id)).toMatchObject(expected);
    expect((await getBalanceAccount(body.api_key, body.balance_account_id)).status).toBe(200);
    expect((await getBalanceAccount(body.api_key, body.reserve_account_id)).status).toBe(200);
  });
});
