/**
 * The sandbox bank's controls (API §10): simulated transfers delivered once, twice or never,
 * the bank's own statement, settling payouts, who may call them, and that with SANDBOX off
 * every /v1/sandbox route is indistinguishable from a route that does not exist.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newApp } from "../../src/app";
import { bankAdapter, TransientBankError, type StatementLine } from "../../src/bank/adapter";
import { loadConfig } from "../../src/env";
import { api, BASE_URL, bearer, createMerchant, dashedCuit, expectFieldError, json, operatorHeaders, randomCbu, randomCuit, type TestMerchant } from "../helpers";
import { drainGroupCommit, drainPayoutQueue, expectInvariants, fundedCustomer, getPayout, merchantBalance, postPayout, settle } from "../money";


interface SandboxTransfer {
  transfer: StatementLine;
  event_id: string;
  deliveries: { status: number; body: unknown }[];
}

/** Today in Buenos Aires, computed here rather than with the service's helper. */
function todayInBuenosAires(): string {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: "America/Argentina/Buenos_Aires", year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(new Date());
  const part = (type: string) => parts.find((candidate) => candidate.type === type)!.value;
  return `${part("year")}-${part("month")}-${part("day")}`;
}

/** A delivered transfer's payment reaches D1 with its group commit: wait for it, as a client would a moment. */
async function sandboxTransfer(body: Record<string, unknown>, headers = operatorHeaders()) {
  const response = await api("/v1/sandbox/transfers", json(body, headers));
  await drainGroupCommit();
  return response;
}

async function bookTransfer(merchant: TestMerchant, amount: number, deliver: "once" | "twice" | "none"): Promise<SandboxTransfer> {
  const response = await sandboxTransfer({
    amount,
    sender: { cuit: randomCuit(), name: "Sandbox Sender", cbu: randomCbu() },
    concepto: `pago ${merchant.reference}`,
    deliver,
  });
  expect(response.status).toBe(201);
  return (await response.json()) as SandboxTransfer;
}

const sandboxBank = () => env.SANDBOX_BANK.get(env.SANDBOX_BANK.idFromName("sandbox"));

async function paymentsOf(merchant: TestMerchant) {
  const response = await api("/v1/payments?limit=100", { headers: bearer(merchant.api_key) });
  expect(response.status).toBe(200);
  return ((await response.json()) as { data: { bank_transaction_id: string; amount: number }[] }).data;
}

async function statement(date: string, query = ""): Promise<{ date: string; data: StatementLine[]; has_more: boolean; next_cursor: string | null }> {
  const response = await api(`/v1/sandbox/statement?date=${date}${query}`, { headers: operatorHeaders() });
  expect(response.status).toBe(200);
  return (await response.json()) as { date: string; data: StatementLine[]; has_more: boolean; next_cursor: string | null };
}

async function allStatementLines(date: string): Promise<StatementLine[]> {
  const lines: StatementLine[] = [];
  let cursor: string | null = null;
  do {
    const page = await statement(date, `&limit=1000${cursor ? `&cursor=${cursor}` : ""}`);
    lines.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor);
  return lines;
}

describe("POST /v1/sandbox/transfers", () => {
  it("deliver once: books the line and delivers the signed event, which becomes one payment", async () => {
    const merchant = await createMerchant();
    const booked = await bookTransfer(merchant, 12_345, "once");
    expect(booked.transfer).toMatchObject({ direction: "credit", amount: 12_345, currency: "ARS", concepto: `pago ${merchant.reference}`, payout_id: null });
    expect(booked.event_id).toMatch(/^evt_/);
    expect(booked.deliveries).toEqual([{ status: 200, body: { received: true } }]);
    const payments = await paymentsOf(merchant);
    expect(payments).toHaveLength(1);
    expect(payments[0]).toMatchObject({ bank_transaction_id: booked.transfer.bank_transaction_id, amount: 12_345 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 12_345 });
    await expectInvariants();
  });

  it("deliver twice: both deliveries answer 200 and make one payment", async () => {
    const merchant = await createMerchant();
    const booked = await bookTransfer(merchant, 5_000, "twice");
    expect(booked.deliveries).toEqual([
      { status: 200, body: { received: true } },
      { status: 200, body: { received: true } },
    ]);
    expect(await paymentsOf(merchant)).toHaveLength(1);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 5_000 });
    await expectInvariants();
  });

  it("deliver none: the bank's statement has the line, but no payment exists (a dropped webhook)", async () => {
    const merchant = await createMerchant();
    const booked = await bookTransfer(merchant, 7_777, "none");
    expect(booked.deliveries).toEqual([]);
    expect(await paymentsOf(merchant)).toEqual([]);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 0 });
    const lines = await allStatementLines(booked.transfer.business_date);
    expect(lines.find((line) => line.bank_transaction_id === booked.transfer.bank_transaction_id)).toMatchObject({ amount: 7_777, direction: "credit" });
    const events = await api("/v1/admin/bank-events?limit=100", { headers: operatorHeaders() });
    const stored = ((await events.json()) as { data: { id: string }[] }).data;
    expect(stored.some((event) => event.id === booked.event_id)).toBe(false);
  });

  it("defaults to delivering once, in ARS", async () => {
    const merchant = await createMerchant();
    const response = await sandboxTransfer({ amount: 100, sender: { cuit: null, name: null, cbu: null }, concepto: merchant.reference });
    expect(response.status).toBe(201);
    const booked = (await response.json()) as SandboxTransfer;
    expect(booked.transfer.currency).toBe("ARS");
    expect(booked.deliveries).toHaveLength(1);
    expect(await paymentsOf(merchant)).toHaveLength(1);
  });

  it("books once for a repeat with the same Idempotency-Key, replaying the first response", async () => {
    const merchant = await createMerchant();
    const body = { amount: 3_000, sender: { cuit: null, name: "Idem", cbu: null }, concepto: `idem ${merchant.reference}` };
    const headers = { ...operatorHeaders(), "idempotency-key": `sandbox-${merchant.id}` };
    const first = await sandboxTransfer(body, headers);
    const second = await sandboxTransfer(body, headers);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(await second.json()).toEqual(await first.json());
    const lines = (await allStatementLines(todayInBuenosAires())).filter((line) => line.concepto === body.concepto);
    expect(lines).toHaveLength(1);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 3_000 });
  });

  it("refuses a currency that is not enabled with 400 unsupported_currency, and books nothing", async () => {
    const merchant = await createMerchant();
    const response = await sandboxTransfer({ amount: 100, currency: "USD", sender: {}, concepto: merchant.reference });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "unsupported_currency" });
    const lines = await allStatementLines(todayInBuenosAires());
    expect(lines.some((line) => line.concepto === merchant.reference)).toBe(false);
  });

  it.each([
    ["a string amount", { amount: "100" }, "amount"],
    ["a float amount", { amount: 1.5 }, "amount"],
    ["amount 0", { amount: 0 }, "amount"],
    ["no amount", { amount: undefined }, "amount"],
    ["an unknown deliver", { deliver: "thrice" }, "deliver"],
    ["no sender", { sender: undefined }, "sender"],
    ["an unknown sender field", { sender: { cuit: null, iban: "x" } }, "sender.iban"],
    ["an unknown field", { surprise: 1 }, "surprise"],
    ["a concepto over 1000 characters", { concepto: "x".repeat(1001) }, "concepto"],
  ])("answers 400 naming the field for %s", async (_label, change, field) => {
    const body: Record<string, unknown> = { amount: 100, sender: { cuit: null, name: null, cbu: null }, concepto: "x", deliver: "none", ...change };
    for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
    await expectFieldError(await sandboxTransfer(body), field);
  });
});

describe("GET /v1/sandbox/statement", () => {
  it("lists the day's lines in booking order: credits, and after a completed payout the debit with its payout_id", async () => {
    const today = todayInBuenosAires();
    const merchant = await createMerchant();
    const first = await bookTransfer(merchant, 1_000, "once");
    const second = await bookTransfer(merchant, 2_000, "none");
    expect(first.transfer.business_date).toBe(today);

    const { merchant: payer, customer } = await fundedCustomer(50_000);
    const created = await postPayout(payer.api_key, { customer_id: customer.id, amount: 20_000, currency: "ARS" });
    expect(created.status).toBe(201);
    const payout = (await created.json()) as { id: string };
    await drainPayoutQueue([payout.id]);
    const settled = await settle(payout.id, "completed");
    expect(settled.status).toBe(200);
    expect(settled.body.delivery.status).toBe(200);
    expect((await getPayout(payer.api_key, payout.id)).body).toMatchObject({ status: "completed" });

    const lines = await allStatementLines(today);
    const index = (id: string) => lines.findIndex((line) => line.bank_transaction_id === id);
    expect(index(first.transfer.bank_transaction_id)).toBeGreaterThanOrEqual(0);
    expect(index(second.transfer.bank_transaction_id)).toBeGreaterThan(index(first.transfer.bank_transaction_id));
    const debit = lines.find((line) => line.payout_id === payout.id);
    expect(debit).toMatchObject({ direction: "debit", amount: 20_000, currency: "ARS", business_date: today, counterparty: { cbu: customer.cbu } });
    expect(index(debit!.bank_transaction_id)).toBeGreaterThan(index(second.transfer.bank_transaction_id));
    for (const line of lines) expect(line.business_date).toBe(today);
    await expectInvariants();
  });

  it("pages with limit and cursor", async () => {
    const merchant = await createMerchant();
    await bookTransfer(merchant, 1, "none");
    await bookTransfer(merchant, 2, "none");
    const today = todayInBuenosAires();
    const all = await allStatementLines(today);
    const firstPage = await statement(today, "&limit=1");
    expect(firstPage.data).toHaveLength(1);
    expect(firstPage.has_more).toBe(true);
    const secondPage = await statement(today, `&limit=1&cursor=${firstPage.next_cursor}`);
    expect(secondPage.data[0]!.bank_transaction_id).toBe(all[1]!.bank_transaction_id);
    expect(firstPage.data[0]!.bank_transaction_id).toBe(all[0]!.bank_transaction_id);
  });

  it.each([["abc"], ["-1"], ["1.5"], ["1e3"]])("answers 400 naming query.cursor for a cursor it never issued (%s), instead of starting over", async (cursor) => {
    await expectFieldError(await api(`/v1/sandbox/statement?date=${todayInBuenosAires()}&cursor=${cursor}`, { headers: operatorHeaders() }), "query.cursor");
  });

  it("is empty for a day with no bookings", async () => {
    expect(await statement("2001-01-01")).toMatchObject({ date: "2001-01-01", data: [], has_more: false, next_cursor: null });
  });

  it.each([["21-11-2026"], ["2026-11-2"], ["today"]])("answers 400 naming query.date for %s", async (date) => {
    await expectFieldError(await api(`/v1/sandbox/statement?date=${date}`, { headers: operatorHeaders() }), "query.date");
  });

  it("answers 400 naming query.date when date is missing", async () => {
    await expectFieldError(await api("/v1/sandbox/statement", { headers: operatorHeaders() }), "query.date");
  });
});

describe("POST /v1/sandbox/payouts/{id}/settle", () => {
  it("answers 404 for an unknown payout", async () => {
    const response = await api("/v1/sandbox/payouts/po_does_not_exist/settle", json({ outcome: "completed" }, operatorHeaders()));
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: "not_found" });
  });

  it("settles a pending payout (submitting it first); a second settle is 422 invalid_state and changes nothing", async () => {
    const { merchant, customer } = await fundedCustomer(30_000);
    const created = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 10_000, currency: "ARS" });
    const payout = (await created.json()) as { id: string };
    expect((await settle(payout.id, "completed")).status).toBe(200);
    const balance = await merchantBalance(merchant.api_key);
    expect(balance).toMatchObject({ available: 20_000, reserved: 0 });

    const again = await api(`/v1/sandbox/payouts/${payout.id}/settle`, json({ outcome: "completed" }, operatorHeaders()));
    expect(again.status).toBe(422);
    expect(await again.json()).toMatchObject({ code: "invalid_state" });
    const failLater = await api(`/v1/sandbox/payouts/${payout.id}/settle`, json({ outcome: "failed", permanent: true }, operatorHeaders()));
    expect(failLater.status).toBe(422);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 20_000, reserved: 0 });
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "completed" });
    const debits = (await allStatementLines(todayInBuenosAires())).filter((line) => line.payout_id === payout.id);
    expect(debits).toHaveLength(1);
    await expectInvariants();
  });

  it("fails a payout permanently: the funds return and no debit is booked", async () => {
    const { merchant, customer } = await fundedCustomer(30_000);
    const created = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 10_000, currency: "ARS" });
    const payout = (await created.json()) as { id: string };
    const settled = await settle(payout.id, "failed", true);
    expect(settled.status).toBe(200);
    expect(settled.body.delivery.status).toBe(200);
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "failed" });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 30_000, reserved: 0 });
    expect((await allStatementLines(todayInBuenosAires())).some((line) => line.payout_id === payout.id)).toBe(false);
    await expectInvariants();
  });

  it("fails a payout transiently: it stays processing with funds reserved until the queue resubmits it, then completes", async () => {
    const { merchant, customer } = await fundedCustomer(30_000);
    const payout = (await (await postPayout(merchant.api_key, { customer_id: customer.id, amount: 10_000, currency: "ARS" })).json()) as { id: string };
    const transient = await settle(payout.id, "failed", false);
    expect(transient.status).toBe(200);
    expect(transient.body.delivery.status).toBe(200);
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "processing" });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 20_000, reserved: 10_000 });
    // Not resubmitted yet: the bank is not processing it.
    expect((await api(`/v1/sandbox/payouts/${payout.id}/settle`, json({ outcome: "completed" }, operatorHeaders()))).status).toBe(422);
    await drainPayoutQueue([payout.id]);
    expect((await settle(payout.id, "completed")).status).toBe(200);
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "completed" });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 20_000, reserved: 0 });
    expect((await allStatementLines(todayInBuenosAires())).filter((line) => line.payout_id === payout.id)).toHaveLength(1);
    await expectInvariants();
  });

  it.each([
    ["an unknown outcome", { outcome: "maybe" }, "outcome"],
    ["no outcome", {}, "outcome"],
    ["a string permanent", { outcome: "failed", permanent: "yes" }, "permanent"],
    ["an unknown field", { outcome: "completed", surprise: true }, "surprise"],
  ])("answers 400 naming the field for %s", async (_label, body, field) => {
    await expectFieldError(await api("/v1/sandbox/payouts/po_whatever/settle", json(body, operatorHeaders())), field);
  });
});

describe("who may call the sandbox", () => {
  it("answers 403 to a merchant key on every sandbox route, and books nothing", async () => {
    const merchant = await createMerchant();
    const headers = bearer(merchant.api_key);
    const transfer = await sandboxTransfer({ amount: 100, sender: {}, concepto: `self-credit ${merchant.reference}` }, headers);
    expect(transfer.status).toBe(403);
    expect(await transfer.json()).toMatchObject({ code: "forbidden" });
    expect((await api("/v1/sandbox/payouts/po_x/settle", json({ outcome: "completed" }, headers))).status).toBe(403);
    expect((await api(`/v1/sandbox/statement?date=${todayInBuenosAires()}`, { headers })).status).toBe(403);
    const cbu = randomCbu();
    expect((await api("/v1/sandbox/accounts", json({ cbu, holder_cuit: randomCuit(), holder_name: "Self" }, headers))).status).toBe(403);
    expect((await api(`/v1/sandbox/virtual-accounts/${randomCbu()}`, { headers })).status).toBe(403);
    expect((await api("/v1/sandbox/faults", json({ submit_payout: 5 }, headers))).status).toBe(403);
    expect(await sandboxBank().accountHolder(cbu)).toBeNull();
    expect(await paymentsOf(merchant)).toEqual([]);
    expect((await allStatementLines(todayInBuenosAires())).some((line) => line.concepto?.includes(merchant.reference))).toBe(false);
  });

  it("answers 401 without a key", async () => {
    expect((await api(`/v1/sandbox/statement?date=${todayInBuenosAires()}`)).status).toBe(401);
  });
});

describe("with SANDBOX off", () => {
  async function fetchWithSandbox(value: string | undefined, path: string, init: RequestInit = {}) {
    const context = createExecutionContext();
    // Outside the sandbox the retry base must give 3 days of retries (src/env.ts): the production one.
    const bindings = { ...env, SANDBOX: value, WEBHOOK_RETRY_BASE_MS: "60000" } as typeof env;
    const response = await newApp().fetch(new Request(`${BASE_URL}${path}`, init), bindings, context);
    await waitOnExecutionContext(context);
    return response;
  }

  const routes: [string, string, RequestInit][] = [
    ["a transfer", "/v1/sandbox/transfers", json({ amount: 100, sender: {}, concepto: "x" }, operatorHeaders())],
    ["an invalid transfer", "/v1/sandbox/transfers", json({ amount: "nope" }, operatorHeaders())],
    ["a statement", "/v1/sandbox/statement?date=2026-01-01", { headers: operatorHeaders() }],
    ["a statement without its date", "/v1/sandbox/statement", { headers: operatorHeaders() }],
    ["an account", "/v1/sandbox/accounts", json({ cbu: randomCbu(), holder_cuit: randomCuit(), holder_name: "Off" }, operatorHeaders())],
    ["an invalid account", "/v1/sandbox/accounts", json({ cbu: "1" }, operatorHeaders())],
    ["a virtual account", `/v1/sandbox/virtual-accounts/${randomCbu()}`, { headers: operatorHeaders() }],
    ["an invalid virtual account number", "/v1/sandbox/virtual-accounts/nope", { headers: operatorHeaders() }],
    ["a fault plan", "/v1/sandbox/faults", json({ register_virtual_account: 1 }, operatorHeaders())],
    ["an invalid fault plan", "/v1/sandbox/faults", json({}, operatorHeaders())],
  ];

  for (const setting of ["false", undefined]) {
    it.each(routes)(`answers 404 not_found to ${setting === undefined ? "an unset" : "a false"} SANDBOX for %s`, async (_label, path, init) => {
      const response = await fetchWithSandbox(setting, path, init);
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ code: "not_found" });
    });
  }

  it("answers 404 to a settle of a real pending payout, which stays pending", async () => {
    const { merchant, customer } = await fundedCustomer(5_000);
    const payout = (await (await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000, currency: "ARS" })).json()) as { id: string };
    const response = await fetchWithSandbox("false", `/v1/sandbox/payouts/${payout.id}/settle`, json({ outcome: "completed" }, operatorHeaders()));
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: "not_found" });
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "pending" });
  });

  it("registers no account and plans no fault", async () => {
    const cbu = randomCbu();
    expect((await fetchWithSandbox("false", "/v1/sandbox/accounts", json({ cbu, holder_cuit: randomCuit(), holder_name: "Off" }, operatorHeaders()))).status).toBe(404);
    expect(await sandboxBank().accountHolder(cbu)).toBeNull();
    expect((await fetchWithSandbox("false", "/v1/sandbox/faults", json({ register_virtual_account: 7 }, operatorHeaders()))).status).toBe(404);
    expect(await sandboxBank().planFaults({})).toMatchObject({ register_virtual_account: 0 });
  });

  it("books nothing at the bank when a transfer is refused", async () => {
    const merchant = await createMerchant();
    const concepto = `sandbox off ${merchant.reference}`;
    const response = await fetchWithSandbox("false", "/v1/sandbox/transfers", json({ amount: 100, sender: {}, concepto }, operatorHeaders()));
    expect(response.status).toBe(404);
    expect((await allStatementLines(todayInBuenosAires())).some((line) => line.concepto === concepto)).toBe(false);
    expect(await paymentsOf(merchant)).toEqual([]);
  });

  it("answers a merchant exactly like the operator (404, not 403)", async () => {
    const merchant = await createMerchant();
    const response = await fetchWithSandbox("false", "/v1/sandbox/statement?date=2026-01-01", { headers: bearer(merchant.api_key) });
    expect(response.status).toBe(404);
  });
});

describe("POST /v1/sandbox/accounts", () => {
  const register = (body: Record<string, unknown>) => api("/v1/sandbox/accounts", json(body, operatorHeaders()));

  it("registers a holder (201, bare digits), replays the same data (200), and refuses another holder or name (409) without changing it", async () => {
    const [cbu, cuit] = [randomCbu(), randomCuit()];
    const created = await register({ cbu: `${cbu.slice(0, 8)}-${cbu.slice(8)}`, holder_cuit: dashedCuit(cuit), holder_name: "  Juana Pérez " });
    expect(created.status).toBe(201);
    const account = await created.json();
    expect(account).toEqual({ cbu, holder_cuit: cuit, holder_name: "Juana Pérez", registered_at: expect.stringMatching(/Z$/) });

    const again = await register({ cbu, holder_cuit: cuit, holder_name: "Juana Pérez" });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(account);

    for (const other of [{ holder_cuit: randomCuit(), holder_name: "Juana Pérez" }, { holder_cuit: cuit, holder_name: "Juana P." }]) {
      const conflict = await register({ cbu, ...other });
      expect(conflict.status).toBe(409);
      expect(await conflict.json()).toMatchObject({ code: "conflict" });
    }
    expect(await sandboxBank().accountHolder(cbu)).toEqual({ cuit, name: "Juana Pérez" });
  });

  it("refuses to give an account another holder than the CUIT its booked transfers came from (409), and accepts that one", async () => {
    const [cbu, sender] = [randomCbu(), randomCuit()];
    const booked = await sandboxTransfer({ amount: 100, sender: { cuit: sender, name: "Sender", cbu }, concepto: "sin referencia", deliver: "none" });
    expect(booked.status).toBe(201);
    const conflict = await register({ cbu, holder_cuit: randomCuit(), holder_name: "Impostor" });
    expect(conflict.status).toBe(409);
    expect(await sandboxBank().accountHolder(cbu)).toEqual({ cuit: sender, name: "Sender" });
    expect((await register({ cbu, holder_cuit: sender, holder_name: "Sender SA" })).status).toBe(201);
    expect(await sandboxBank().accountHolder(cbu)).toEqual({ cuit: sender, name: "Sender SA" });
  });

  it.each([
    ["a CBU with a wrong check digit", { cbu: "2810590940090418135201" }, "cbu"],
    ["a CBU too short", { cbu: "123" }, "cbu"],
    ["no CBU", { cbu: undefined }, "cbu"],
    ["a CUIT with a wrong check digit", { holder_cuit: "20-12345678-0" }, "holder_cuit"],
    ["a numeric CUIT", { holder_cuit: 20123456786 }, "holder_cuit"],
    ["no holder name", { holder_name: undefined }, "holder_name"],
    ["a blank holder name", { holder_name: "   " }, "holder_name"],
    ["an unknown field", { iban: "x" }, "iban"],
  ])("answers 400 naming the field for %s, and registers nothing", async (_label, change, field) => {
    const body: Record<string, unknown> = { cbu: randomCbu(), holder_cuit: randomCuit(), holder_name: "Holder", ...change };
    for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
    await expectFieldError(await register(body), field);
    if (typeof body.cbu === "string" && body.cbu.length === 22) expect(await sandboxBank().accountHolder(body.cbu)).toBeNull();
  });
});

describe("GET /v1/sandbox/virtual-accounts/{account_number}", () => {
  const read = (accountNumber: string) => api(`/v1/sandbox/virtual-accounts/${accountNumber}`, { headers: operatorHeaders() });

  it("says whether the bank has registered the number", async () => {
    const accountNumber = randomCbu();
    const before = await read(accountNumber);
    expect(before.status).toBe(200);
    expect(await before.json()).toEqual({ account_number: accountNumber, registered: false });
    await bankAdapter(env, loadConfig(env)).registerVirtualAccount(accountNumber);
    expect(await (await read(`${accountNumber.slice(0, 8)}-${accountNumber.slice(8)}`)).json()).toEqual({ account_number: accountNumber, registered: true });
  });

  it.each([["nope"], ["123"], ["2810590940090418135201"]])("answers 400 naming param.account_number for %s", async (accountNumber) => {
    await expectFieldError(await read(accountNumber), "param.account_number");
  });
});

describe("POST /v1/sandbox/faults", () => {
  const plan = (body: unknown) => api("/v1/sandbox/faults", json(body, operatorHeaders()));

  it("fails the next n virtual account registrations transiently, then lets them through", async () => {
    const accountNumber = randomCbu();
    const planned = await plan({ register_virtual_account: 2 });
    expect(planned.status).toBe(200);
    expect(await planned.json()).toEqual({ register_virtual_account: 2, submit_payout: expect.any(Number) });
    const adapter = bankAdapter(env, loadConfig(env));
    await expect(adapter.registerVirtualAccount(accountNumber)).rejects.toBeInstanceOf(TransientBankError);
    await expect(adapter.registerVirtualAccount(accountNumber)).rejects.toBeInstanceOf(TransientBankError);
    expect(await sandboxBank().isVirtualAccountRegistered(accountNumber)).toBe(false);
    await adapter.registerVirtualAccount(accountNumber);
    expect(await sandboxBank().isVirtualAccountRegistered(accountNumber)).toBe(true);
    expect(await (await plan({ register_virtual_account: 0 })).json()).toMatchObject({ register_virtual_account: 0 });
  });

  it("fails the next payout submission transiently: the queue retries it and the payout goes through once", async () => {
    const { merchant, customer } = await fundedCustomer(5_000);
    const payout = (await (await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000, currency: "ARS" })).json()) as { id: string };
    expect(await (await plan({ submit_payout: 1 })).json()).toMatchObject({ submit_payout: 1 });
    expect((await drainPayoutQueue([payout.id])).retryMessages).toHaveLength(1);
    expect(await sandboxBank().settlePayout(payout.id, "completed", true)).toMatchObject({ ok: false, reason: "unknown_payout" }); // the bank never took it
    expect(await sandboxBank().planFaults({})).toMatchObject({ submit_payout: 0 });
    expect((await drainPayoutQueue([payout.id], 2)).explicitAcks).toHaveLength(1);
    expect((await settle(payout.id, "completed")).status).toBe(200);
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "completed" });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 4_000, reserved: 0 });
  });

  it("a kind left out keeps its plan; 0 clears it", async () => {
    await plan({ register_virtual_account: 3 });
    expect(await (await plan({ submit_payout: 0 })).json()).toEqual({ register_virtual_account: 3, submit_payout: 0 });
    expect(await (await plan({ register_virtual_account: 0, submit_payout: 0 })).json()).toEqual({ register_virtual_account: 0, submit_payout: 0 });
  });

  it.each([
    ["no kind at all", {}, "body"],
    ["a negative count", { submit_payout: -1 }, "submit_payout"],
    ["more than 1000", { register_virtual_account: 1001 }, "register_virtual_account"],
    ["a fraction", { submit_payout: 1.5 }, "submit_payout"],
    ["a string", { submit_payout: "2" }, "submit_payout"],
    ["null", { register_virtual_account: null }, "register_virtual_account"],
    ["an unknown kind", { statement: 1 }, "statement"],
  ])("answers 400 naming %s, and plans nothing", async (_label, body, field) => {
    const before = await sandboxBank().planFaults({});
    await expectFieldError(await plan(body), field);
    expect(await sandboxBank().planFaults({})).toEqual(before);
  });
});
