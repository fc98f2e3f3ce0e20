/**
 * GET /v1/transfers pages by index walks (src/transfers/list-transfers.ts): a merchant's list is
 * its from-side and to-side, each walked on its own index and stopped after limit + 1 rows, then
 * merged. Pages must be exactly the newest-first order of "from or to", each transfer once.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { decodeCursor } from "../../src/pagination";
import { executeTransfer, type TransferOrder } from "../../src/transfers/execute-transfer";
import { transferPageQueries, type TransferFilter } from "../../src/transfers/list-transfers";
import { createMerchant, type TestMerchant } from "../helpers";
import { expectInvariants, fundedCustomer, uniqueId } from "../money";
import { listAll, merchantBa, reserveBa, type TransferBody } from "./transfer-helpers";

async function move(from: string, to: string, createdAt: number, kind = "transfer"): Promise<string> {
  const order: TransferOrder = {
    id: uniqueId("tr").replace(/[^a-z0-9_]/g, "").toLowerCase(),
    kind,
    from_balance_account: from,
    to_balance_account: to,
    amount: 10,
    currency: "ARS",
    description: null,
    initiated_by: "operator",
  };
  expect((await executeTransfer(env, order, createdAt)).result).toBe("created");
  return order.id;
}

/** The reference: the one-query OR, sorted by SQLite. */
async function expectedIds(where: string, params: unknown[]): Promise<string[]> {
  const { results } = await env.DB.prepare(`SELECT id FROM transfers WHERE ${where} ORDER BY created_at DESC, id DESC`)
    .bind(...params)
    .all<{ id: string }>();
  return results.map((row) => row.id);
}

async function planOf(query: { toSQL(): { sql: string; params: unknown[] } }): Promise<string[]> {
  const { sql, params } = query.toSQL();
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
    .bind(...params)
    .all<{ detail: string }>();
  return results.map((row) => row.detail);
}

/** A merchant M with transfers out, in, between two of its own accounts, many at the same instant; and transfers that are not M's. */
async function scene(): Promise<{ m: TestMerchant; a: TestMerchant; ids: string[] }> {
  const { merchant: m } = await fundedCustomer(10_000);
  const { merchant: a } = await fundedCustomer(10_000);
  const b = await createMerchant();
  const t = Date.now() - 1_000_000;
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    ids.push(await move(merchantBa(m.id), merchantBa(a.id), t)); // out, all at t: ties
    ids.push(await move(merchantBa(a.id), merchantBa(m.id), t)); // in, at t
    ids.push(await move(merchantBa(a.id), merchantBa(b.id), t)); // not M's, at t
  }
  ids.push(await move(merchantBa(m.id), reserveBa(m.id), t)); // M on both sides
  ids.push(await move(merchantBa(a.id), merchantBa(m.id), t + 1, "top_up"));
  ids.push(await move(merchantBa(m.id), merchantBa(b.id), t - 1));
  ids.push(await move(merchantBa(m.id), reserveBa(m.id), t + 2)); // M on both sides, newest
  return { m, a, ids };
}

describe("GET /v1/transfers pages", () => {
  it("a merchant's pages, at every page size, are its from-or-to transfers newest first, ties on created_at broken by id, a transfer between its own accounts once", async () => {
    const { m } = await scene();
    const expected = await expectedIds("from_owner_id = ? OR to_owner_id = ?", [m.id, m.id]);
    expect(expected).toHaveLength(10);
    for (const limit of [1, 2, 3, 4, 7, 10, 11]) {
      const { data, pages } = await listAll<TransferBody>("/v1/transfers", m.api_key, `limit=${limit}`);
      expect(data.map((row) => row.id)).toEqual(expected);
      expect(pages).toBe(Math.ceil(expected.length / limit));
    }
  });

  it("the balance_account and kind filters page the same way, for the merchant and the operator", async () => {
    const { m, a } = await scene();
    const mine = await expectedIds("from_balance_account = ? OR to_balance_account = ?", [merchantBa(m.id), merchantBa(m.id)]);
    for (const limit of [1, 2, 5]) {
      expect((await listAll<TransferBody>("/v1/transfers", m.api_key, `limit=${limit}&balance_account=${merchantBa(m.id)}`)).data.map((row) => row.id)).toEqual(mine);
      expect((await listAll<TransferBody>("/v1/transfers", null, `limit=${limit}&balance_account=${merchantBa(m.id)}`)).data.map((row) => row.id)).toEqual(mine);
    }
    // Another merchant's account, through M's key: only the transfers M is on.
    const shared = await expectedIds("(from_balance_account = ?1 OR to_balance_account = ?1) AND (from_owner_id = ?2 OR to_owner_id = ?2)", [merchantBa(a.id), m.id]);
    expect(shared).toHaveLength(7);
    expect((await listAll<TransferBody>("/v1/transfers", m.api_key, `limit=2&balance_account=${merchantBa(a.id)}`)).data.map((row) => row.id)).toEqual(shared);
    const topUps = await expectedIds("kind = 'top_up' AND (from_owner_id = ?1 OR to_owner_id = ?1)", [m.id]);
    expect((await listAll<TransferBody>("/v1/transfers", m.api_key, "limit=1&kind=top_up")).data.map((row) => row.id)).toEqual(topUps);
    await expectInvariants();
  });

  it("every page is index walks with no sort of all the matching rows (the one-query OR did sort them all)", async () => {
    const cursor = decodeCursor(btoa(JSON.stringify([Date.now(), "tr_zzz"])));
    const filters: TransferFilter[] = [
      { merchantId: "m_plan" },
      { merchantId: "m_plan", kind: "transfer" },
      { merchantId: "m_plan", balanceAccount: "ba_mplan_ars" },
      { balanceAccount: "ba_mplan_ars" },
      { kind: "top_up" },
      {},
    ];
    for (const filter of filters) {
      for (const at of [null, cursor]) {
        const queries = transferPageQueries(env.DB, filter, at, 10);
        expect(queries).toHaveLength(filter.merchantId !== undefined || filter.balanceAccount !== undefined ? 2 : 1);
        for (const query of queries) {
          const plan = (await planOf(query)).join("\n");
          expect(plan, JSON.stringify(filter)).toMatch(/USING (COVERING )?INDEX transfers_by_/);
          // A walk of an index in its order (SCAN … USING INDEX transfers_by_time for the operator
          // with no side to search) stops at limit + 1; a sort, or a scan of the table, does not.
          expect(plan, JSON.stringify(filter)).not.toMatch(/TEMP B-TREE|SCAN transfers$/m);
          if (queries.length === 2) expect(plan, JSON.stringify(filter)).toMatch(/^SEARCH transfers USING INDEX/);
          expect(query.toSQL().sql).toMatch(/limit \?$/i);
        }
      }
    }
    // What the check catches: the one-query OR reads both sides and sorts them for every page.
    const { results } = await env.DB.prepare(
      "EXPLAIN QUERY PLAN SELECT * FROM transfers WHERE (from_owner_id = ? OR to_owner_id = ?) ORDER BY created_at DESC, id DESC LIMIT ?",
    )
      .bind("m_plan", "m_plan", 11)
      .all<{ detail: string }>();
    expect(results.map((row) => row.detail).join("\n")).toMatch(/TEMP B-TREE FOR ORDER BY/);
  });
});
