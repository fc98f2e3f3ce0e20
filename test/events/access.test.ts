/**
 * Who sees which events (API §14): a merchant its own only (anything else is 404, as if
 * absent); the operator all, the platform's included. The list: newest first, type filter,
 * pages with no duplicates and no gaps.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { paymentIdOf } from "../../src/cashins/receive-transfer";
import { api, bearer, createCustomer, createMerchant, expectFieldError, operatorHeaders, randomCbu, type TestMerchant } from "../helpers";
import { depositReference, fund, sendBankEvent, transferEvent, uniqueId } from "../money";
import { getEvent, listAll, redeliver, setWebhookUrl, theEvent } from "./events-helpers";

/**
 * A merchant with `count` credited payments (through one customer); returns every event of the
 * merchant, oldest first: each payment's payment.credited and the balance_account.balance.updated
 * of its balance account that each cash-in also emits (API §14).
 */
async function merchantWithEvents(count: number): Promise<{ merchant: TestMerchant; eventIds: string[]; creditedIds: string[] }> {
  const merchant = await createMerchant();
  await setWebhookUrl(merchant.id);
  const customer = await createCustomer(merchant.api_key);
  for (let index = 0; index < count; index++) {
    const paymentId = await fund(merchant, customer.id, 1_000 + index);
    await theEvent(paymentId, "payment.credited");
  }
  const { results } = await env.DB.prepare("SELECT id, type FROM events WHERE merchant_id = ? ORDER BY created_at, id").bind(merchant.id).all<{ id: string; type: string }>();
  expect(results.filter((event) => event.type === "payment.credited")).toHaveLength(count);
  expect(results.filter((event) => event.type === "balance_account.balance.updated")).toHaveLength(count);
  const creditedIds = results.filter((event) => event.type === "payment.credited").map((event) => event.id);
  return { merchant, eventIds: results.map((event) => event.id), creditedIds };
}

async function platformEvent(): Promise<string> {
  const transfer = transferEvent({ amount: 321, concepto: `nadie ${uniqueId("x")}` });
  expect((await sendBankEvent(transfer)).status).toBe(200);
  return (await theEvent(await paymentIdOf(transfer.data.bank_transaction_id), "payment.quarantined")).id;
}

describe("events: who sees what", () => {
  it("a merchant reads its own event; another merchant gets 404 on GET and redeliver, exactly as for a missing id", async () => {
    const { merchant: a, creditedIds } = await merchantWithEvents(1);
    const b = await createMerchant();
    await setWebhookUrl(b.id);
    const eventId = creditedIds[0]!;

    const own = await getEvent(a.api_key, eventId);
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ id: eventId, object: "event", type: "payment.credited", data: { object: { merchant_id: a.id } } });

    const missing = await getEvent(b.api_key, "evt_000000000000000000000000");
    const foreign = await getEvent(b.api_key, eventId);
    expect(missing.status).toBe(404);
    expect(foreign.status).toBe(404);
    expect(foreign.body).toMatchObject({ code: "not_found" });
    expect((foreign.body as unknown as { detail: string }).detail).toBe((missing.body as unknown as { detail: string }).detail);
    const foreignRedeliver = await redeliver(b.api_key, eventId);
    expect(foreignRedeliver.status).toBe(404);
    expect(foreignRedeliver.body.code).toBe("not_found");
    // B's attempt changed nothing of A's delivery.
    expect((await getEvent(a.api_key, eventId)).body.delivery).toEqual(own.body.delivery);
    expect((await redeliver(b.api_key, "evt_000000000000000000000000")).status).toBe(404);
    expect((await getEvent(null, "evt_000000000000000000000000")).status).toBe(404);
  });

  it("a merchant's list shows only its own events, never another's nor the platform's; the operator sees all", async () => {
    const { merchant: a, eventIds: aIds } = await merchantWithEvents(2);
    const { merchant: b, eventIds: bIds } = await merchantWithEvents(1);
    const platform = await platformEvent();

    const aList = await listAll(a.api_key, "limit=100");
    expect(aList.ids.sort()).toEqual([...aIds].sort());
    const bList = await listAll(b.api_key, "limit=100");
    expect([...bList.ids].sort()).toEqual([...bIds].sort());
    // A merchant_id filter naming another merchant shows nothing of it.
    expect((await listAll(b.api_key, `merchant_id=${a.id}`)).ids).toEqual([]);

    const all = await listAll(null, "limit=100");
    for (const id of [...aIds, ...bIds, platform]) expect(all.ids).toContain(id);
    expect((await listAll(null, `merchant_id=${a.id}`)).ids.sort()).toEqual([...aIds].sort());
    expect((await getEvent(null, aIds[0]!)).status).toBe(200);
    expect((await getEvent(null, platform)).body).toMatchObject({ id: platform, type: "payment.quarantined", delivery: null });
  });

  it("filters by type, and refuses a type that is not one of §14's (400 naming query.type)", async () => {
    const { merchant, creditedIds: eventIds } = await merchantWithEvents(1);
    const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    const transfer = transferEvent({ amount: 900, concepto: await depositReference(merchant.api_key, customer.id) });
    expect((await sendBankEvent(transfer)).status).toBe(200);
    const reversal = { id: uniqueId("evt"), type: "transfer.reversed", created_at: new Date().toISOString(), data: { bank_transaction_id: transfer.data.bank_transaction_id, reversal_id: uniqueId("rev"), reason: "fraud" } };
    expect((await sendBankEvent(reversal)).status).toBe(200);
    const reversed = await theEvent(await paymentIdOf(transfer.data.bank_transaction_id), "payment.reversed");

    const onlyReversed = await listAll(merchant.api_key, "type=payment.reversed");
    expect(onlyReversed.ids).toEqual([reversed.id]);
    const credited = await listAll(merchant.api_key, "type=payment.credited");
    expect(credited.ids).toHaveLength(2);
    expect(credited.ids).toContain(eventIds[0]);
    expect(credited.events.every((event) => event.type === "payment.credited")).toBe(true);
    expect((await listAll(merchant.api_key, "type=payout.completed")).ids).toEqual([]);
    // An event of a type that exists in §14 but is not emitted yet is a valid filter.
    expect((await listAll(merchant.api_key, "type=transfer.completed")).ids).toEqual([]);

    await expectFieldError(await api("/v1/events?type=payment.created", { headers: bearer(merchant.api_key) }), "query.type");
    await expectFieldError(await api("/v1/events?type=", { headers: operatorHeaders() }), "query.type");
    await expectFieldError(await api("/v1/events?cursor=nonsense", { headers: bearer(merchant.api_key) }), "query.cursor");
    await expectFieldError(await api("/v1/events?limit=0", { headers: bearer(merchant.api_key) }), "query.limit");
  });

  it("pages newest first, with no duplicates and no gaps, events of one millisecond included", async () => {
    const { merchant, eventIds } = await merchantWithEvents(5);
    // Two more events stamped with the same millisecond as the newest: the id breaks the tie.
    const twins = [`evt_${uniqueId("twina")}`, `evt_${uniqueId("twinb")}`];
    for (const id of twins) {
      await env.DB.prepare("INSERT INTO events (id, type, merchant_id, object_type, object_id, data, created_at) SELECT ?, type, merchant_id, object_type, ?, data, created_at FROM events WHERE id = ?")
        .bind(id, `pay_${id}`, eventIds.at(-1))
        .run();
    }
    const expected = [...eventIds, ...twins];
    const paged = await listAll(merchant.api_key, "limit=2");
    expect(paged.pages).toBe(Math.ceil(expected.length / 2));
    expect(new Set(paged.ids).size).toBe(paged.ids.length);
    expect([...paged.ids].sort()).toEqual([...expected].sort());
    // Newest first: created_at never increases along the list; ties in id order, descending.
    const keys = paged.events.map((event) => [Date.parse(event.created_at), event.id] as const);
    for (let index = 1; index < keys.length; index++) {
      const [before, after] = [keys[index - 1]!, keys[index]!];
      expect(before[0] > after[0] || (before[0] === after[0] && before[1] > after[1])).toBe(true);
    }
    const single = (await (await api("/v1/events?limit=100", { headers: bearer(merchant.api_key) })).json()) as { data: { id: string }[]; has_more: boolean; next_cursor: string | null };
    expect(single).toMatchObject({ has_more: false, next_cursor: null });
    expect(single.data.map((event) => event.id)).toEqual(paged.ids);
  });

  it("requires an API key", async () => {
    expect((await api("/v1/events")).status).toBe(401);
    expect((await api("/v1/events/evt_x1")).status).toBe(401);
    expect((await api("/v1/events/evt_x1/redeliver", { method: "POST" })).status).toBe(401);
  });
});
