/**
 * POST /v1/bank/events over HTTP (API §6): the signature gate, events that are signed but
 * cannot be applied (stored failed, answered 422, no money moved), repeats, and the body
 * limits. Every transfer here carries a real merchant's reference, so an event wrongly
 * accepted would show up as that merchant's payment.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signatureHeader } from "../../src/bank/signature";
import { api, bearer, createMerchant, expectNoInternals, operatorHeaders, type TestMerchant } from "../helpers";
import { drainGroupCommit, drainPayoutQueue, expectInvariants, fundedCustomer, getPayout, merchantBalance, postPayout, sendBankEvent, settle, transferEvent, uniqueId } from "../money";

interface StoredEvent {
  id: string;
  type: string;
  status: "processed" | "failed";
  error: string | null;
  attempts: number;
  payload: string;
}

async function storedEvents(status?: "processed" | "failed"): Promise<StoredEvent[]> {
  const response = await api(`/v1/admin/bank-events?limit=100${status ? `&status=${status}` : ""}`, { headers: operatorHeaders() });
  expect(response.status).toBe(200);
  return ((await response.json()) as { data: StoredEvent[] }).data;
}

async function storedById(id: string): Promise<StoredEvent | undefined> {
  return (await storedEvents()).find((event) => event.id === id);
}

async function paymentsOf(merchant: TestMerchant) {
  const response = await api("/v1/payments?limit=100", { headers: bearer(merchant.api_key) });
  expect(response.status).toBe(200);
  return ((await response.json()) as { data: unknown[] }).data;
}

async function settlementPosted(): Promise<number> {
  const response = await api("/v1/ledger/accounts/la_settlement_ars", { headers: operatorHeaders() });
  expect(response.status).toBe(200);
  return ((await response.json()) as { balances: { posted: number } }).balances.posted;
}

async function problemOf(response: Response) {
  const text = await response.text();
  expectNoInternals(text);
  expect(response.headers.get("content-type")).toContain("application/problem+json");
  return JSON.parse(text) as { code: string; detail: string; status: number };
}

/** A transfer to `merchant` (by its reference) that would be credited if it were accepted. */
function transferTo(merchant: TestMerchant, amount = 5_000) {
  return transferEvent({ amount, concepto: `pago ${merchant.reference}` });
}

function post(body: string, headers: Record<string, string>) {
  return api("/v1/bank/events", { method: "POST", headers, body });
}

describe("the signature gate", () => {
  it.each([
    ["no Bank-Signature header", async () => ({})],
    ["an empty header", async () => ({ "bank-signature": "" })],
    ["a garbage header", async () => ({ "bank-signature": "hello" })],
    ["a signature made with another secret", async (body: string) => ({ "bank-signature": await signatureHeader(body, "whsec_not_the_bank_secret_0000") })],
    ["a signature over another body", async (body: string) => ({ "bank-signature": await signatureHeader(`${body} `, env.BANK_WEBHOOK_SECRET!) })],
    ["a stale timestamp (301 s old)", async (body: string) => ({ "bank-signature": await signatureHeader(body, env.BANK_WEBHOOK_SECRET!, Date.now() - 301_000) })],
    ["a timestamp 301 s in the future", async (body: string) => ({ "bank-signature": await signatureHeader(body, env.BANK_WEBHOOK_SECRET!, Date.now() + 301_000) })],
  ])("answers 401 invalid_signature for %s, and stores nothing", async (_label, headersFor) => {
    const merchant = await createMerchant();
    const event = transferTo(merchant);
    const body = JSON.stringify(event);
    const response = await post(body, { "content-type": "application/json", ...(await headersFor(body)) });
    expect(response.status).toBe(401);
    expect((await problemOf(response)).code).toBe("invalid_signature");
    expect(await storedById(event.id)).toBeUndefined();
    expect((await storedEvents()).some((stored) => stored.payload.includes(event.data.bank_transaction_id))).toBe(false);
    expect(await paymentsOf(merchant)).toEqual([]);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 0 });
  });

  it("refuses a badly signed body that is not even JSON with 401, not 422 (the signature comes first)", async () => {
    const response = await post("{not json", { "content-type": "application/json", "bank-signature": "t=1,v1=" + "a".repeat(64) });
    expect(response.status).toBe(401);
    expect((await problemOf(response)).code).toBe("invalid_signature");
    expect((await storedEvents()).some((stored) => stored.payload === "{not json")).toBe(false);
  });

  it("needs no Authorization header, and ignores a bogus one", async () => {
    const merchant = await createMerchant();
    const first = await sendBankEvent(transferTo(merchant, 1_000));
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ received: true });

    const event = transferTo(merchant, 2_000);
    const body = JSON.stringify(event);
    const second = await post(body, {
      "content-type": "application/json",
      authorization: "Bearer not-a-key",
      "bank-signature": await signatureHeader(body, env.BANK_WEBHOOK_SECRET!),
    });
    expect(second.status).toBe(200);
    await drainGroupCommit();
    expect(await paymentsOf(merchant)).toHaveLength(2);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 3_000 });
    await expectInvariants();
  });
});

describe("a signed event that cannot be applied", () => {
  type Case = [label: string, build: (merchant: TestMerchant) => { body: string; id?: string }, errorMatch: RegExp];
  const withData = (merchant: TestMerchant, change: (data: Record<string, unknown>) => void) => {
    const event = transferTo(merchant);
    const data = { ...event.data } as Record<string, unknown>;
    change(data);
    return { body: JSON.stringify({ ...event, data }), id: event.id };
  };

  const cases: Case[] = [
    ["malformed JSON", (merchant) => ({ body: `{"id": "${uniqueId("evt")}", "type": "transfer.received", "data": {"concepto": "${merchant.reference}"` }), /not JSON/],
    ["an unknown type", (merchant) => {
      const event = { ...transferTo(merchant), type: "transfer.teleported" };
      return { body: JSON.stringify(event), id: event.id };
    }, /unknown event type/],
    ["a float amount", (merchant) => withData(merchant, (data) => (data.amount = 100.5)), /amount/],
    ["a string amount", (merchant) => withData(merchant, (data) => (data.amount = "5000")), /amount/],
    ["amount 0", (merchant) => withData(merchant, (data) => (data.amount = 0)), /amount/],
    ["a negative amount", (merchant) => withData(merchant, (data) => (data.amount = -5_000)), /amount/],
    ["an amount above 10^14", (merchant) => withData(merchant, (data) => (data.amount = 100_000_000_000_001)), /amount/],
    ["no sender", (merchant) => withData(merchant, (data) => delete data.sender), /sender/],
    ["no bank_transaction_id", (merchant) => withData(merchant, (data) => delete data.bank_transaction_id), /bank_transaction_id/],
    ["an empty bank_transaction_id", (merchant) => withData(merchant, (data) => (data.bank_transaction_id = "")), /bank_transaction_id/],
    ["a currency that is not enabled (USD)", (merchant) => withData(merchant, (data) => (data.currency = "USD")), /USD/],
    ["a lower-case currency", (merchant) => withData(merchant, (data) => (data.currency = "ars")), /currency/],
    ["an unknown field in data", (merchant) => withData(merchant, (data) => (data.surprise = true)), /surprise|unrecognized/i],
    ["a bad booked_at", (merchant) => withData(merchant, (data) => (data.booked_at = "yesterday")), /booked_at/],
  ];

  it.each(cases)("%s → 422, stored failed with its raw payload and the error, and no money moves", async (_label, build, errorMatch) => {
    const merchant = await createMerchant();
    const { body, id } = build(merchant);
    const settlementBefore = await settlementPosted();

    const response = await sendBankEvent(body);
    expect(response.status).toBe(422);
    const problem = await problemOf(response);
    expect(problem.code).toBe("unprocessable_event");

    const failed = (await storedEvents("failed")).find((stored) => stored.payload === body);
    expect(failed).toBeDefined();
    expect(failed!.status).toBe("failed");
    expect(failed!.error).toMatch(errorMatch);
    if (id !== undefined) expect(failed!.id).toBe(id);
    expect((await storedEvents("processed")).some((stored) => stored.payload === body)).toBe(false);

    expect(await paymentsOf(merchant)).toEqual([]);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 0, reserved: 0 });
    expect(await settlementPosted()).toBe(settlementBefore);
    await expectInvariants();
  });

  it("stays failed when the same event is delivered again (not promoted), counting the attempts", async () => {
    const merchant = await createMerchant();
    const event = { ...transferTo(merchant), type: "transfer.teleported" };
    expect((await sendBankEvent(event)).status).toBe(422);
    const again = await sendBankEvent(event);
    expect(again.status).toBe(422);
    expect((await problemOf(again)).code).toBe("unprocessable_event");
    const stored = await storedById(event.id);
    expect(stored).toMatchObject({ status: "failed", attempts: 2 });
    expect((await storedEvents("processed")).some((candidate) => candidate.id === event.id)).toBe(false);
    expect(await paymentsOf(merchant)).toEqual([]);
  });

  it("stays failed when a failed transfer (USD) is delivered again", async () => {
    const merchant = await createMerchant();
    const event = transferEvent({ amount: 7_000, currency: "USD", concepto: merchant.reference });
    expect((await sendBankEvent(event)).status).toBe(422);
    expect((await sendBankEvent(event)).status).toBe(422);
    expect(await storedById(event.id)).toMatchObject({ status: "failed", attempts: 2 });
    expect(await paymentsOf(merchant)).toEqual([]);
    await expectInvariants();
  });

  it.each([["an empty id", () => ""], ["the same id", () => uniqueId("evt_shared")]])(
    "keeps every payload of broken envelopes that claim %s (none overwrites another)",
    async (_label, makeId) => {
      const id = makeId();
      const first = JSON.stringify({ id, type: "transfer.received", created_at: "x", data: { note: uniqueId("first") } });
      const second = JSON.stringify({ id, type: "payout.completed", data: { note: uniqueId("second") } });
      expect((await sendBankEvent(first)).status).toBe(422);
      expect((await sendBankEvent(second)).status).toBe(422);
      const payloads = (await storedEvents("failed")).map((stored) => stored.payload);
      expect(payloads).toContain(first);
      expect(payloads).toContain(second);
    },
  );

  it("stores a broken envelope that reuses a processed event's id, and leaves the processed one alone", async () => {
    const merchant = await createMerchant();
    const event = transferTo(merchant, 2_222);
    expect((await sendBankEvent(event)).status).toBe(200);
    const broken = JSON.stringify({ id: event.id, type: "transfer.received", data: "not an object" });
    expect((await sendBankEvent(broken)).status).toBe(422);
    expect((await storedEvents("failed")).some((stored) => stored.payload === broken)).toBe(true);
    expect(await storedById(event.id)).toMatchObject({ status: "processed", payload: JSON.stringify(event) });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 2_222 });
  });

  it("counts a broken body delivered twice as one stored event with two attempts", async () => {
    const body = `{"id": "${uniqueId("evt")}", "type": 42}`;
    expect((await sendBankEvent(body)).status).toBe(422);
    expect((await sendBankEvent(body)).status).toBe(422);
    const rows = (await storedEvents("failed")).filter((stored) => stored.payload === body);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.attempts).toBe(2);
  });

  it("stores an unknown payout's completion as failed", async () => {
    const event = { id: uniqueId("evt"), type: "payout.completed", created_at: new Date().toISOString(), data: { payout_id: "po_does_not_exist", bank_transaction_id: uniqueId("bt") } };
    const response = await sendBankEvent(event);
    expect(response.status).toBe(422);
    expect(await storedById(event.id)).toMatchObject({ status: "failed", type: "payout.completed" });
  });
});

describe("a repeat of a processed event", () => {
  it("answers 200 and changes nothing", async () => {
    const merchant = await createMerchant();
    const event = transferTo(merchant, 4_321);
    const first = await sendBankEvent(event);
    expect(first.status).toBe(200);
    const settlementAfterFirst = await settlementPosted();

    const second = await sendBankEvent(event);
    expect(second.status).toBe(200);
    expect(await second.json()).toEqual({ received: true });
    expect(await paymentsOf(merchant)).toHaveLength(1);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 4_321 });
    expect(await settlementPosted()).toBe(settlementAfterFirst);
    expect(await storedById(event.id)).toMatchObject({ status: "processed" });
    await expectInvariants();
  });

  it("answers 200 to a late repeat of a payout's transient failure, after the payout completed", async () => {
    const { merchant, customer } = await fundedCustomer(20_000);
    const created = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 5_000, currency: "ARS" });
    const payout = (await created.json()) as { id: string };
    await drainPayoutQueue([payout.id]);
    const transient = { id: uniqueId("evt"), type: "payout.failed", created_at: new Date().toISOString(), data: { payout_id: payout.id, permanent: false, reason: "try again" } };
    expect((await sendBankEvent(transient)).status).toBe(200);
    await drainPayoutQueue([payout.id]); // the retry the event asked for
    expect((await settle(payout.id, "completed")).status).toBe(200);
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "completed" });

    const late = await sendBankEvent(transient);
    expect(late.status).toBe(200);
    expect(await storedById(transient.id)).toMatchObject({ status: "processed" });
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "completed" });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 15_000, reserved: 0 });
    await expectInvariants();
  });

  it("is not demoted to failed by a later delivery of the same id that cannot be applied", async () => {
    const merchant = await createMerchant();
    const event = transferTo(merchant, 1_111);
    expect((await sendBankEvent(event)).status).toBe(200);
    const broken = { ...event, data: { ...event.data, currency: "USD" } };
    expect((await sendBankEvent(broken)).status).toBe(422);
    expect(await storedById(event.id)).toMatchObject({ status: "processed", error: null, payload: JSON.stringify(event) });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 1_111 });
  });
});

describe("body limits", () => {
  it("answers 413 for a body over 1 MiB, even signed, and stores nothing", async () => {
    const merchant = await createMerchant();
    const event = transferEvent({ amount: 1_000, concepto: merchant.reference });
    const body = JSON.stringify({ ...event, padding: "x".repeat(1024 * 1024) });
    const response = await post(body, { "content-type": "application/json", "bank-signature": await signatureHeader(body, env.BANK_WEBHOOK_SECRET!) });
    expect(response.status).toBe(413);
    expect((await problemOf(response)).code).toBe("payload_too_large");
    expect(await storedById(event.id)).toBeUndefined();
    expect(await paymentsOf(merchant)).toEqual([]);
  });

  it.each([["text/plain"], ["application/x-www-form-urlencoded"]])("answers 415 for a signed body sent as %s, and stores nothing", async (contentType) => {
    const merchant = await createMerchant();
    const event = transferEvent({ amount: 1_000, concepto: merchant.reference });
    const body = JSON.stringify(event);
    const response = await post(body, { "content-type": contentType, "bank-signature": await signatureHeader(body, env.BANK_WEBHOOK_SECRET!) });
    expect(response.status).toBe(415);
    expect((await problemOf(response)).code).toBe("unsupported_media_type");
    expect(await storedById(event.id)).toBeUndefined();
    expect(await paymentsOf(merchant)).toEqual([]);
  });
});
