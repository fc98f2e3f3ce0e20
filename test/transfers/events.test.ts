/**
 * transfer.completed and balance_account.balance.updated (API §14): written by migrations/0016's
 * triggers in the transfer's own batch, once per change, with data.object equal to GET.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { EventRow } from "../../src/events/event-row";
import { executeTransfer } from "../../src/transfers/execute-transfer";
import { api, createCustomer, createMerchant } from "../helpers";
import { depositReference, drainGroupCommit, drainPayoutQueue, fundedCustomer, ownSender, postPayout, sendBankEvent, settle, transferEvent } from "../money";
import { setWebhookUrl } from "../events/events-helpers";
import { getBalanceAccount, headersOf, merchantBa, platformBa, postTopUp, postTransfer, type TransferBody } from "./transfer-helpers";

async function eventsOf(type: string, where: string, ...params: unknown[]): Promise<EventRow[]> {
  const { results } = await env.DB.prepare(`SELECT * FROM events WHERE type = ? AND ${where} ORDER BY created_at, id`)
    .bind(type, ...params)
    .all<EventRow>();
  return results;
}

const transferEvents = (transferId: string) => eventsOf("transfer.completed", "object_id LIKE ?", `${transferId}:%`);
const balanceEvents = (baId: string) => eventsOf("balance_account.balance.updated", "object_id LIKE ?", `${baId}:%`);
const objectOf = (event: EventRow) => (JSON.parse(event.data) as { object: unknown }).object;

async function deliveries(eventIds: string[]): Promise<number> {
  const row = await env.DB.prepare(`SELECT COUNT(*) AS n FROM webhook_deliveries WHERE event_id IN (${eventIds.map(() => "?").join(",")})`)
    .bind(...eventIds)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

describe("transfer events", () => {
  it("a transfer between two merchants: one transfer.completed for each, equal to GET, delivered to each; one balance event per account, equal to GET", async () => {
    const { merchant: a } = await fundedCustomer(10_000);
    const b = await createMerchant();
    await setWebhookUrl(a.id);
    await setWebhookUrl(b.id);
    const aBefore = (await balanceEvents(merchantBa(a.id))).length;
    const response = await postTransfer(a.api_key, { from_balance_account: merchantBa(a.id), to_balance_account: merchantBa(b.id), amount: 4_000 });
    expect(response.status).toBe(201);
    const transfer = (await response.json()) as TransferBody;

    const events = await transferEvents(transfer.id);
    expect(events.map((event) => event.merchant_id).sort()).toEqual([a.id, b.id].sort());
    for (const event of events) expect(objectOf(event)).toEqual(transfer);
    expect(await deliveries(events.map((event) => event.id))).toBe(2);
    // Each merchant reads its own through the events API, and only its own.
    const aList = (await (await api("/v1/events?type=transfer.completed", { headers: headersOf(a.api_key) })).json()) as { data: { id: string }[] };
    expect(aList.data.map((event) => event.id)).toEqual(events.filter((event) => event.merchant_id === a.id).map((event) => event.id));

    const aBalance = await balanceEvents(merchantBa(a.id));
    expect(aBalance).toHaveLength(aBefore + 1);
    expect(objectOf(aBalance.at(-1)!)).toEqual((await getBalanceAccount(a.api_key, merchantBa(a.id))).body);
    expect(objectOf(aBalance.at(-1)!)).toMatchObject({ available: 6_000, reserved: 0 });
    const bBalance = await balanceEvents(merchantBa(b.id));
    expect(bBalance).toHaveLength(1);
    expect(bBalance[0]!.merchant_id).toBe(b.id);
    expect(objectOf(bBalance[0]!)).toEqual((await getBalanceAccount(b.api_key, merchantBa(b.id))).body);
  });

  it("a replay, a conflict and a refused overdraft emit nothing", async () => {
    const { merchant: a } = await fundedCustomer(1_000);
    const b = await createMerchant();
    const order = { id: `tr_events${Date.now()}`, kind: "transfer", from_balance_account: merchantBa(a.id), to_balance_account: merchantBa(b.id), amount: 600, currency: "ARS", description: null, initiated_by: "operator" };
    expect((await executeTransfer(env, order, Date.now())).result).toBe("created");
    const count = async () => (await transferEvents(order.id)).length + (await balanceEvents(merchantBa(a.id))).length + (await balanceEvents(merchantBa(b.id))).length;
    const after = await count();
    expect((await executeTransfer(env, order, Date.now())).result).toBe("replayed");
    expect((await executeTransfer(env, { ...order, amount: 601 }, Date.now())).result).toBe("conflict");
    expect((await executeTransfer(env, { ...order, id: `${order.id}x`, amount: 401 }, Date.now())).result).toBe("insufficient_funds");
    expect(await count()).toBe(after);
    expect(await transferEvents(`${order.id}x`)).toEqual([]);
  });

  it("a top-up from the platform: the merchant's event and the platform's (merchant_id null, never delivered)", async () => {
    const { merchant: funder } = await fundedCustomer(5_000);
    const merchant = await createMerchant();
    await setWebhookUrl(merchant.id);
    expect((await postTransfer(null, { from_balance_account: merchantBa(funder.id), to_balance_account: platformBa(), amount: 2_000 })).status).toBe(201);
    const response = await postTopUp(merchant.id, { amount: 700 });
    expect(response.status).toBe(201);
    const topUp = (await response.json()) as TransferBody;
    const events = await transferEvents(topUp.id);
    expect(events.map((event) => event.merchant_id).sort()).toEqual([merchant.id, null].sort());
    const platformEvent = events.find((event) => event.merchant_id === null)!;
    expect(await deliveries([platformEvent.id])).toBe(0);
    const platformBalance = await balanceEvents(platformBa());
    expect(platformBalance.at(-1)!.merchant_id).toBeNull();
    expect(objectOf(platformBalance.at(-1)!)).toEqual((await getBalanceAccount(null, platformBa())).body);
  });
});

describe("balance_account.balance.updated beyond transfers", () => {
  it("a cash-in emits one for the merchant's account, a payout one when it reserves; each equal to GET at that moment", async () => {
    const { merchant, customer } = await fundedCustomer(3_000);
    const afterCashIn = await balanceEvents(merchantBa(merchant.id));
    expect(afterCashIn).toHaveLength(1);
    expect(objectOf(afterCashIn[0]!)).toMatchObject({ available: 3_000, reserved: 0 });
    expect(objectOf(afterCashIn[0]!)).toEqual((await getBalanceAccount(merchant.api_key, merchantBa(merchant.id))).body);

    expect((await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 })).status).toBe(201);
    const afterPayout = await balanceEvents(merchantBa(merchant.id));
    expect(afterPayout).toHaveLength(2);
    expect(objectOf(afterPayout[1]!)).toMatchObject({ available: 2_000, reserved: 1_000 });
    expect(objectOf(afterPayout[1]!)).toEqual((await getBalanceAccount(merchant.api_key, merchantBa(merchant.id))).body);
  });
});

describe("balance_account.balance.updated: settlement and group commit", () => {
  it("the trigger that writes it is in the schema, on ledger_accounts (a rebuild of that table would drop it silently)", async () => {
    const { results } = await env.DB.prepare("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' AND name IN ('balance_account_event_on_change', 'transfer_event_on_insert') ORDER BY name")
      .all<{ name: string; tbl_name: string }>();
    expect(results).toEqual([
      { name: "balance_account_event_on_change", tbl_name: "ledger_accounts" },
      { name: "transfer_event_on_insert", tbl_name: "transfers" },
    ]);
  });

  it("a payout's settlement and a failed payout's archive each give exactly one event, equal to GET", async () => {
    const { merchant, customer } = await fundedCustomer(5_000);
    const ba = merchantBa(merchant.id);
    const paid = (await (await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 })).json()) as { id: string };
    const failed = (await (await postPayout(merchant.api_key, { customer_id: customer.id, amount: 2_000 })).json()) as { id: string };
    await drainPayoutQueue([paid.id, failed.id]);
    const before = (await balanceEvents(ba)).length;

    expect((await settle(paid.id, "completed")).status).toBe(200);
    const afterSettle = await balanceEvents(ba);
    expect(afterSettle).toHaveLength(before + 1);
    expect(objectOf(afterSettle.at(-1)!)).toMatchObject({ available: 2_000, reserved: 2_000 });
    expect(objectOf(afterSettle.at(-1)!)).toEqual((await getBalanceAccount(merchant.api_key, ba)).body);

    expect((await settle(failed.id, "failed", true)).status).toBe(200);
    const afterArchive = await balanceEvents(ba);
    expect(afterArchive).toHaveLength(before + 2);
    expect(objectOf(afterArchive.at(-1)!)).toMatchObject({ available: 4_000, reserved: 0 });
    expect(objectOf(afterArchive.at(-1)!)).toEqual((await getBalanceAccount(merchant.api_key, ba)).body);
  });

  it("several cash-ins written by one group commit give one event for the merchant's account, equal to GET", async () => {
    const merchant = await createMerchant();
    const customers = [await createCustomer(merchant.api_key), await createCustomer(merchant.api_key), await createCustomer(merchant.api_key)];
    const events = await Promise.all(
      customers.map(async (customer, index) =>
        transferEvent({ amount: 1_000 * (index + 1), concepto: `pago ${await depositReference(merchant.api_key, customer.id)}`, sender: await ownSender(customer.id) }),
      ),
    );
    // Answered at once, written together by the drain (one group: one update per account).
    const answers = await Promise.all(events.map((event) => sendBankEvent(event, { drain: false })));
    expect(answers.map((response) => response.status)).toEqual([200, 200, 200]);
    await drainGroupCommit();
    const written = await balanceEvents(merchantBa(merchant.id));
    expect(written).toHaveLength(1);
    expect(objectOf(written[0]!)).toMatchObject({ available: 6_000, reserved: 0 });
    expect(objectOf(written[0]!)).toEqual((await getBalanceAccount(merchant.api_key, merchantBa(merchant.id))).body);
  });
});
