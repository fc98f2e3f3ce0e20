/**
 * Provisioning virtual accounts (API §11): numbers allocated by the database, registered at the
 * bank before the 201, a failed registration that leaves nothing active and is finished by the
 * client's retry with the same key or by the repair cron, and crashes between every step.
 */
import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { isValidCbu } from "../../src/domain/cbu";
import { armFault, disarmFaults, type FaultPoint } from "../../src/faults";
import worker from "../../src/index";
import { virtualAccountLimits } from "../../src/virtual-accounts/limits";
import { api, bearer, createCustomer, createMerchant, expectFieldError, json, type TestMerchant } from "../helpers";
import { expectInvariants, uniqueId } from "../money";
import { failRegistrations, listVirtualAccounts, registeredAtBank } from "./va-helpers";

interface VirtualAccount {
  id: string;
  account_number: string;
  kind: string;
  status: string;
  customer_id: string;
  merchant_id: string;
  expected_amount: number | null;
  expires_at: string | null;
  amount_policy: string | null;
  ledger_account_id: string | null;
  closed_at: string | null;
}

afterEach(() => disarmFaults());

function create(merchant: TestMerchant, body: Record<string, unknown>, key: string | null = uniqueId("va-key")) {
  const headers: Record<string, string> = { ...bearer(merchant.api_key), ...(key ? { "idempotency-key": key } : {}) };
  return api("/v1/virtual-accounts", json(body, headers));
}

async function repairTick(at = Date.now()) {
  await worker.scheduled(createScheduledController({ cron: "*/5 * * * *", scheduledTime: at }), env, createExecutionContext());
}

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

describe("creating a virtual account", () => {
  it("answers 201 with an active CVU of our range that the bank has registered", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const response = await create(merchant, { customer_id: customer.id, kind: "per_transaction", expected_amount: 150_000, expires_at: inAnHour() });
    expect(response.status).toBe(201);
    const account = (await response.json()) as VirtualAccount;
    expect(account).toMatchObject({ kind: "per_transaction", status: "active", customer_id: customer.id, merchant_id: merchant.id, expected_amount: 150_000, amount_policy: "hold" });
    expect(account.account_number).toMatch(/^0000042\d{15}$/);
    expect(isValidCbu(account.account_number)).toBe(true);
    expect(await registeredAtBank(account.account_number)).toBe(true);
    expect(await (await api(`/v1/virtual-accounts/${account.id}`, { headers: bearer(merchant.api_key) })).json()).toEqual(account);
  });

  it("gives 30 concurrent creations 30 distinct registered numbers", async () => {
    const merchant = await createMerchant();
    const customers = await Promise.all(Array.from({ length: 3 }, () => createCustomer(merchant.api_key)));
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, i) => create(merchant, { customer_id: customers[i % 3]!.id, kind: "per_transaction", expires_at: inAnHour() })),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(30).fill(201));
    const accounts = (await Promise.all(responses.map((response) => response.json()))) as VirtualAccount[];
    expect(new Set(accounts.map((account) => account.account_number)).size).toBe(30);
    expect(new Set(accounts.map((account) => account.id)).size).toBe(30);
    for (const account of accounts) {
      expect(isValidCbu(account.account_number)).toBe(true);
      expect(await registeredAtBank(account.account_number)).toBe(true);
    }
  });

  it("keeps one per_customer account per customer and merchant, even when created concurrently", async () => {
    const merchant = await createMerchant();
    const other = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    await createCustomer(other.api_key, { cuit: customer.cuit });
    const responses = await Promise.all(Array.from({ length: 6 }, () => create(merchant, { customer_id: customer.id, kind: "per_customer" })));
    const accounts = (await Promise.all(responses.map((response) => response.json()))) as VirtualAccount[];
    expect(new Set(accounts.map((account) => account.id)).size).toBe(1);
    expect(responses.filter((response) => response.status === 201).length).toBeGreaterThanOrEqual(1);
    expect(responses.every((response) => response.status === 200 || response.status === 201)).toBe(true);
    // A later repeat is 200 with the same account; another merchant gets its own.
    const again = await create(merchant, { customer_id: customer.id, kind: "per_customer", description: "another description" });
    expect(again.status).toBe(200);
    expect(((await again.json()) as VirtualAccount).id).toBe(accounts[0]!.id);
    const theirs = (await (await create(other, { customer_id: customer.id, kind: "per_customer" })).json()) as VirtualAccount;
    expect(theirs.id).not.toBe(accounts[0]!.id);
    expect(theirs.account_number).not.toBe(accounts[0]!.account_number);
  });

  it("names each invalid field (400) and creates nothing", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const cases: [Record<string, unknown>, string][] = [
      [{ customer_id: customer.id, kind: "per_customer", expected_amount: 100 }, "expected_amount"],
      [{ customer_id: customer.id, kind: "per_customer", expires_at: inAnHour() }, "expires_at"],
      [{ customer_id: customer.id, kind: "per_customer", amount_policy: "accept" }, "amount_policy"],
      [{ customer_id: customer.id, kind: "per_transaction", expires_at: new Date(Date.now() - 1000).toISOString() }, "expires_at"],
      [{ customer_id: customer.id, kind: "per_transaction", expires_at: new Date(Date.now() + virtualAccountLimits.expiry_max_ms + 60_000).toISOString() }, "expires_at"],
      [{ customer_id: customer.id, kind: "per_transaction", expires_at: "tomorrow" }, "expires_at"],
      [{ customer_id: customer.id, kind: "per_transaction", expected_amount: 1.5 }, "expected_amount"],
      [{ customer_id: customer.id, kind: "per_transaction", expected_amount: 0 }, "expected_amount"],
      [{ customer_id: customer.id, kind: "per_transaction", amount_policy: "keep" }, "amount_policy"],
      [{ customer_id: customer.id, kind: "sometimes" }, "kind"],
      [{ customer_id: customer.id, kind: "per_customer", description: "x".repeat(141) }, "description"],
      [{ customer_id: customer.id, kind: "per_customer", account_number: "0000042000000000000000" }, ""],
      [{ customer_id: customer.id, kind: "per_customer", ledger_account_id: "la_ml_not_mine" }, "ledger_account_id"],
    ];
    for (const [body, field] of cases) {
      const response = await create(merchant, body);
      if (field) await expectFieldError(response, field);
      else expect(response.status).toBe(400);
    }
    expect(await listVirtualAccounts(merchant.api_key)).toEqual([]);
  });

  it("answers 404 for a customer the merchant never registered (a CUIT is not a secret)", async () => {
    const merchant = await createMerchant();
    const stranger = await createCustomer((await createMerchant()).api_key);
    const response = await create(merchant, { customer_id: stranger.id, kind: "per_customer" });
    expect(response.status).toBe(404);
    expect(await listVirtualAccounts(merchant.api_key)).toEqual([]);
  });
});

describe("when the bank does not register the number", () => {
  it("answers 503, shows nothing, and the retry with the same key finishes the same account", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const key = uniqueId("va-key");
    const body = { customer_id: customer.id, kind: "per_transaction", expected_amount: 5_000, expires_at: inAnHour() };
    await failRegistrations(2);
    expect((await create(merchant, body, key)).status).toBe(503);
    expect((await create(merchant, body, key)).status).toBe(503);
    expect(await listVirtualAccounts(merchant.api_key)).toEqual([]);

    const finished = await create(merchant, body, key);
    expect(finished.status).toBe(201);
    const account = (await finished.json()) as VirtualAccount;
    expect(account.status).toBe("active");
    expect(await registeredAtBank(account.account_number)).toBe(true);
    expect((await listVirtualAccounts(merchant.api_key)).map((listedAccount) => listedAccount.id)).toEqual([account.id]);
    // The same key answers the same account again; another body under it is refused.
    const replay = await create(merchant, body, key);
    expect(((await replay.json()) as VirtualAccount).id).toBe(account.id);
    expect((await create(merchant, { ...body, expected_amount: 6_000 }, key)).status).toBe(422);
  });

  it("a per_customer creation under any key finishes the pair's half-made account", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    await failRegistrations(1);
    expect((await create(merchant, { customer_id: customer.id, kind: "per_customer" }, uniqueId("first"))).status).toBe(503);
    const { results } = await env.DB.prepare("SELECT id, status FROM virtual_accounts WHERE customer_id = ? AND merchant_id = ?").bind(customer.id, merchant.id).all<{ id: string; status: string }>();
    expect(results).toEqual([{ id: expect.any(String), status: "registering" }]);
    const response = await create(merchant, { customer_id: customer.id, kind: "per_customer" }, uniqueId("second"));
    expect(response.status).toBe(201);
    expect(((await response.json()) as VirtualAccount).id).toBe(results[0]!.id);
  });

  it("the repair cron finishes a half-made account once its request is over, and retires one it cannot finish in time", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    await failRegistrations(2);
    const body = { customer_id: customer.id, kind: "per_transaction", expires_at: inAnHour() };
    expect((await create(merchant, body, null)).status).toBe(503);
    expect((await create(merchant, body, null)).status).toBe(503);
    const { results } = await env.DB.prepare("SELECT id, account_number, created_at FROM virtual_accounts WHERE merchant_id = ? ORDER BY created_at, id").bind(merchant.id).all<{ id: string; account_number: string; created_at: number }>();
    expect(results).toHaveLength(2);
    const [young, old] = results as [(typeof results)[0], (typeof results)[0]];
    // One is made to look older than the give-up age: retired, never shown, number kept.
    await env.DB.prepare("UPDATE virtual_accounts SET created_at = created_at - ? WHERE id = ?").bind(virtualAccountLimits.registration_give_up_ms, old.id).run();

    await repairTick(Date.now()); // too recent: the request may still be running
    expect(await listVirtualAccounts(merchant.api_key)).toEqual([]);
    await repairTick(Date.now() + virtualAccountLimits.registration_stale_ms + 1_000);
    expect((await listVirtualAccounts(merchant.api_key)).map((account) => account.id)).toEqual([young.id]);
    expect(await registeredAtBank(young.account_number)).toBe(true);
    const retired = await env.DB.prepare("SELECT status FROM virtual_accounts WHERE id = ?").bind(old.id).first<{ status: string }>();
    expect(retired?.status).toBe("retired");
    expect((await api(`/v1/virtual-accounts/${old.id}`, { headers: bearer(merchant.api_key) })).status).toBe(404);
    const allocation = await env.DB.prepare("SELECT seq FROM cvu_allocations WHERE virtual_account_id = ?").bind(old.id).first();
    expect(allocation).not.toBeNull();
  });

  const points: FaultPoint[] = ["virtual_account.after_allocation", "virtual_account.after_insert", "virtual_account.after_registration"];
  for (const point of points) {
    it(`after a crash at ${point}, nothing is shown active, and the retry with the same key finishes one account`, async () => {
      const merchant = await createMerchant();
      const customer = await createCustomer(merchant.api_key);
      const key = uniqueId("va-key");
      const body = { customer_id: customer.id, kind: "per_transaction", expected_amount: 7_000, expires_at: inAnHour() };
      armFault(point);
      expect((await create(merchant, body, key)).status).toBe(500);
      expect(await listVirtualAccounts(merchant.api_key)).toEqual([]);
      const response = await create(merchant, body, key);
      expect(response.status).toBe(201);
      const account = (await response.json()) as VirtualAccount;
      expect(await registeredAtBank(account.account_number)).toBe(true);
      const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM cvu_allocations WHERE virtual_account_id = ?").bind(account.id).first<{ n: number }>();
      expect(rows?.n).toBe(1);
      expect((await listVirtualAccounts(merchant.api_key)).map((listedAccount) => listedAccount.id)).toEqual([account.id]);
    });
  }
});

describe("reading, linking and closing", () => {
  it("shows another merchant's account as absent everywhere", async () => {
    const merchant = await createMerchant();
    const other = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const account = (await (await create(merchant, { customer_id: customer.id, kind: "per_customer" })).json()) as VirtualAccount;
    const headers = bearer(other.api_key);
    expect((await api(`/v1/virtual-accounts/${account.id}`, { headers })).status).toBe(404);
    expect((await api(`/v1/virtual-accounts/${account.id}/close`, { method: "POST", headers })).status).toBe(404);
    expect((await api(`/v1/virtual-accounts/${account.id}`, { ...json({ ledger_account_id: null }, headers), method: "PATCH" })).status).toBe(404);
    expect(await listVirtualAccounts(other.api_key)).toEqual([]);
  });

  it("closes idempotently, keeps the number out of circulation, and lists by status exactly", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const open = (await (await create(merchant, { customer_id: customer.id, kind: "per_transaction", expires_at: inAnHour() })).json()) as VirtualAccount;
    const toClose = (await (await create(merchant, { customer_id: customer.id, kind: "per_customer" })).json()) as VirtualAccount;
    const closed = await api(`/v1/virtual-accounts/${toClose.id}/close`, { method: "POST", headers: bearer(merchant.api_key) });
    expect(closed.status).toBe(200);
    const body = (await closed.json()) as VirtualAccount;
    expect(body).toMatchObject({ status: "closed", closed_at: expect.any(String) });
    const again = await api(`/v1/virtual-accounts/${toClose.id}/close`, { method: "POST", headers: bearer(merchant.api_key) });
    expect(await again.json()).toEqual(body);
    expect((await listVirtualAccounts(merchant.api_key, "status=closed")).map((account) => account.id)).toEqual([toClose.id]);
    expect((await listVirtualAccounts(merchant.api_key, "status=active")).map((account) => account.id)).toEqual([open.id]);
    expect((await listVirtualAccounts(merchant.api_key, "kind=per_customer")).map((account) => account.id)).toEqual([toClose.id]);
    // The pair's per_customer account is the closed one: a repeat answers it, no new number.
    const repeat = await create(merchant, { customer_id: customer.id, kind: "per_customer" });
    expect(repeat.status).toBe(200);
    expect(((await repeat.json()) as VirtualAccount).id).toBe(toClose.id);
  });

  it("reads a per_transaction account as expired from the moment expires_at passes, in GET and in the list filters", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const account = (await (await create(merchant, { customer_id: customer.id, kind: "per_transaction", expires_at: new Date(Date.now() + 1_500).toISOString() })).json()) as VirtualAccount;
    expect(account.status).toBe("active");
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    expect(((await (await api(`/v1/virtual-accounts/${account.id}`, { headers: bearer(merchant.api_key) })).json()) as VirtualAccount).status).toBe("expired");
    expect((await listVirtualAccounts(merchant.api_key, "status=expired")).map((listedAccount) => listedAccount.id)).toEqual([account.id]);
    expect(await listVirtualAccounts(merchant.api_key, "status=active")).toEqual([]);
  });

  it("emits virtual_account.expired once per expired unpaid account, equal to GET, however often the cron runs", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const account = (await (await create(merchant, { customer_id: customer.id, kind: "per_transaction", expires_at: new Date(Date.now() + 1_000).toISOString() })).json()) as VirtualAccount;
    const closedEarly = (await (await create(merchant, { customer_id: customer.id, kind: "per_transaction", expires_at: new Date(Date.now() + 1_000).toISOString() })).json()) as VirtualAccount;
    await api(`/v1/virtual-accounts/${closedEarly.id}/close`, { method: "POST", headers: bearer(merchant.api_key) });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await Promise.all([repairTick(), repairTick()]);
    await repairTick();
    const response = await api("/v1/events?type=virtual_account.expired&limit=100", { headers: bearer(merchant.api_key) });
    const events = ((await response.json()) as { data: { data: { object: VirtualAccount } }[] }).data;
    expect(events).toHaveLength(1);
    const now = await (await api(`/v1/virtual-accounts/${account.id}`, { headers: bearer(merchant.api_key) })).json();
    expect(events[0]!.data.object).toEqual(now);
  });

  it("links only an account of the caller's own ledger (400 otherwise), and unlinks with null", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const account = (await (await create(merchant, { customer_id: customer.id, kind: "per_customer" })).json()) as VirtualAccount;
    const patch = (ledger_account_id: string | null) => api(`/v1/virtual-accounts/${account.id}`, { ...json({ ledger_account_id }, bearer(merchant.api_key)), method: "PATCH" });
    await expectFieldError(await patch("la_ml_nobody"), "ledger_account_id");
    const unlinked = await patch(null);
    expect(unlinked.status).toBe(200);
    expect(((await unlinked.json()) as VirtualAccount).ledger_account_id).toBeNull();
  });

  it("shows the per_customer account in the deposit details, whose instructions then name the CVU", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const before = (await (await api(`/v1/customers/${customer.id}/deposit-details`, { headers: bearer(merchant.api_key) })).json()) as { virtual_account: unknown; instructions: string };
    expect(before.virtual_account).toBeNull();
    const account = (await (await create(merchant, { customer_id: customer.id, kind: "per_customer" })).json()) as VirtualAccount;
    const after = (await (await api(`/v1/customers/${customer.id}/deposit-details`, { headers: bearer(merchant.api_key) })).json()) as { virtual_account: unknown; instructions: string };
    expect(after.virtual_account).toEqual({ id: account.id, account_number: account.account_number });
    expect(after.instructions).toContain(account.account_number);
    await expectInvariants();
  });
});
