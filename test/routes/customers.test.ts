import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { findOrCreateCustomer, linkCustomer } from "../../src/db/customers";
import { normalizeReference, referenceKind } from "../../src/domain/reference-code";
import { customerAccount } from "../../src/ledger/accounts";
import { api, bearer, createCustomer, createMerchant, dashedCuit, expectFieldError, json, randomCbu, randomCuit, type TestCustomer } from "../helpers";
import { fund } from "../money";

const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

async function problemOf(response: Response) {
  return (await response.json()) as { code: string; errors?: Array<{ path: string; message: string }> };
}

function get(path: string, apiKey: string) {
  return api(path, { headers: bearer(apiKey) });
}

describe("POST /v1/customers", () => {
  it("creates a customer from a dashed CUIT and CBU, rendered as bare digits", async () => {
    const merchant = await createMerchant();
    const cuit = randomCuit();
    const cbu = randomCbu();
    const dashedCbu = `${cbu.slice(0, 8)}-${cbu.slice(8)}`;
    const response = await api("/v1/customers", json({ cuit: dashedCuit(cuit), name: " María González ", cbu: dashedCbu }, bearer(merchant.api_key)));
    expect(response.status).toBe(201);
    const body = (await response.json()) as TestCustomer;
    expect(body).toEqual({
      id: expect.stringMatching(/^cus_/),
      cuit,
      name: "María González",
      cbu,
      last_merchant_id: null,
      origin: "api",
      created_at: expect.stringMatching(rfc3339),
    });
    const fetched = await get(`/v1/customers/${body.id}`, merchant.api_key);
    expect(fetched.status).toBe(200);
    expect(await fetched.json()).toEqual(body);
  });

  it("opens the customer's ledger account", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const account = await env.DB.prepare("SELECT kind, owner_id FROM ledger_accounts WHERE id = ?").bind(customerAccount(customer.id, "ARS").id).first();
    expect(account).toEqual({ kind: "customer", owner_id: customer.id });
  });

  it("answers 200 with the existing customer, unchanged, and links the caller", async () => {
    const [first, second] = await Promise.all([createMerchant(), createMerchant()]);
    const cuit = randomCuit();
    const created = await createCustomer(first.api_key, { cuit, name: "Original" });
    expect((await get(`/v1/customers/${created.id}`, second.api_key)).status).toBe(404);

    const again = await api("/v1/customers", json({ cuit: dashedCuit(cuit), name: "Other name", cbu: randomCbu() }, bearer(second.api_key)));
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(created);
    expect((await get(`/v1/customers/${created.id}`, second.api_key)).status).toBe(200);

    const repeat = await api("/v1/customers", json({ cuit, name: "Original" }, bearer(first.api_key)));
    expect(repeat.status).toBe(200);
  });

  it("creates one customer when two merchants register the same CUIT at once", async () => {
    const [first, second] = await Promise.all([createMerchant(), createMerchant()]);
    const cuit = randomCuit();
    const responses = await Promise.all(
      [first, second, first, second].map((merchant) => api("/v1/customers", json({ cuit, name: "Racer" }, bearer(merchant.api_key)))),
    );
    expect(responses.map((response) => response.status).sort()).toEqual([200, 200, 200, 201]);
    const ids = new Set(await Promise.all(responses.map(async (response) => ((await response.json()) as TestCustomer).id)));
    expect(ids.size).toBe(1);
    const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM customers WHERE cuit = ?").bind(cuit).first<{ n: number }>();
    expect(count?.n).toBe(1);
  });

  it.each([
    [{ cuit: "20-12345678-0", name: "Bad check digit" }, "cuit"],
    [{ cuit: "2012345678", name: "Too short" }, "cuit"],
    [{ cuit: "20 12345678 6", name: "Spaces" }, "cuit"],
    [{ cuit: 20123456786, name: "A number" }, "cuit"],
    [{ name: "No CUIT" }, "cuit"],
    [{ cuit: "VALID", name: "", }, "name"],
    [{ cuit: "VALID", name: "x".repeat(201) }, "name"],
    [{ cuit: "VALID", name: "Bad CBU", cbu: "0110599520000001234560" }, "cbu"],
    [{ cuit: "VALID", name: "Short CBU", cbu: "01105995" }, "cbu"],
    [{ cuit: "VALID", name: "Extra", email: "a@b.c" }, "email"],
  ])("refuses %j naming %s", async (template: Record<string, unknown>, field) => {
    const merchant = await createMerchant();
    const body = { ...template, ...(template.cuit === "VALID" ? { cuit: randomCuit() } : {}) };
    await expectFieldError(await api("/v1/customers", json(body, bearer(merchant.api_key))), field);
  });
});

describe("findOrCreateCustomer and linkCustomer", () => {
  it("create one customer and one link under concurrent calls", async () => {
    const merchant = await createMerchant();
    const cuit = randomCuit();
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 6 }, () => findOrCreateCustomer(env.DB, { cuit, name: "Auto", cbu: null, origin: "auto" }, ["ARS"])),
    );
    expect(results.filter((result) => result.created)).toHaveLength(1);
    expect(new Set(results.map((result) => result.customer.id)).size).toBe(1);
    const customerId = results[0]!.customer.id;
    expect(results[0]!.customer.origin).toBe("auto");

    const accounts = await env.DB.prepare("SELECT COUNT(*) AS n FROM ledger_accounts WHERE owner_id = ?").bind(customerId).first<{ n: number }>();
    expect(accounts?.n).toBe(1);
    // The calls that lost the race opened no account for their never-created customer ids.
    const orphans = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM ledger_accounts WHERE kind = 'customer' AND created_at >= ? AND owner_id NOT IN (SELECT id FROM customers)",
    )
      .bind(started)
      .first<{ n: number }>();
    expect(orphans?.n).toBe(0);

    const links = await Promise.all(Array.from({ length: 6 }, () => linkCustomer(env.DB, customerId, merchant.id)));
    expect(links.filter((link) => link.created)).toHaveLength(1);
    expect(new Set(links.map((link) => link.reference)).size).toBe(1);
    expect(referenceKind(links[0]!.reference)).toBe("customer");
  });
});

describe("GET /v1/customers", () => {
  it("lists the caller's customers newest first, page by page", async () => {
    const merchant = await createMerchant();
    const created: TestCustomer[] = [];
    for (let i = 0; i < 3; i++) created.push(await createCustomer(merchant.api_key, { name: `Customer ${i}` }));

    const first = await get("/v1/customers?limit=2", merchant.api_key);
    expect(first.status).toBe(200);
    const page1 = (await first.json()) as { data: TestCustomer[]; has_more: boolean; next_cursor: string | null };
    expect(page1.data.map((customer) => customer.id)).toEqual([created[2]!.id, created[1]!.id]);
    expect(page1.has_more).toBe(true);

    const second = await get(`/v1/customers?limit=2&cursor=${page1.next_cursor}`, merchant.api_key);
    const page2 = (await second.json()) as typeof page1;
    expect(page2).toEqual({ data: [created[0]], has_more: false, next_cursor: null });
  });

  it("filters by CUIT, in any accepted form, among linked customers only", async () => {
    const [merchant, stranger] = await Promise.all([createMerchant(), createMerchant()]);
    const mine = await createCustomer(merchant.api_key);
    await createCustomer(merchant.api_key);
    const theirs = await createCustomer(stranger.api_key);

    const filtered = await get(`/v1/customers?cuit=${dashedCuit(mine.cuit)}`, merchant.api_key);
    expect(filtered.status).toBe(200);
    expect(((await filtered.json()) as { data: TestCustomer[] }).data).toEqual([mine]);

    const other = await get(`/v1/customers?cuit=${theirs.cuit}`, merchant.api_key);
    expect(await other.json()).toEqual({ data: [], has_more: false, next_cursor: null });
  });

  it.each([
    ["cuit=20-12345678-0", "query.cuit"],
    ["cuit=abc", "query.cuit"],
    ["limit=0", "query.limit"],
    ["limit=101", "query.limit"],
    ["cursor=not-a-cursor", "query.cursor"],
  ])("refuses ?%s naming %s", async (query, field) => {
    const merchant = await createMerchant();
    await expectFieldError(await get(`/v1/customers?${query}`, merchant.api_key), field);
  });
});

describe("GET /v1/customers/{id}/deposit-details", () => {
  it("gives the settlement CBU and the customer's reference for the calling merchant", async () => {
    const [first, second] = await Promise.all([createMerchant(), createMerchant()]);
    const customer = await createCustomer(first.api_key);
    await createCustomer(second.api_key, { cuit: customer.cuit });

    const read = async (apiKey: string) => {
      const response = await get(`/v1/customers/${customer.id}/deposit-details`, apiKey);
      expect(response.status).toBe(200);
      return (await response.json()) as { customer_id: string; currency: string; cbu: string; reference: string; virtual_account: null; instructions: string };
    };
    const details = await read(first.api_key);
    expect(details).toMatchObject({ customer_id: customer.id, currency: "ARS", cbu: env.SETTLEMENT_CBU, virtual_account: null });
    expect(details.reference).toMatch(/^CR-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    expect(referenceKind(details.reference)).toBe("customer");
    expect(details.instructions).toContain(env.SETTLEMENT_CBU!);
    expect(details.instructions).toContain(details.reference);

    const link = await env.DB.prepare("SELECT reference FROM customer_links WHERE customer_id = ? AND merchant_id = ?")
      .bind(customer.id, first.id)
      .first<{ reference: string }>();
    expect(link?.reference).toBe(normalizeReference(details.reference));

    expect((await read(first.api_key)).reference).toBe(details.reference); // stable
    expect((await read(second.api_key)).reference).not.toBe(details.reference); // one per merchant
  });

  it("refuses a currency that is not enabled", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const response = await get(`/v1/customers/${customer.id}/deposit-details?currency=USD`, merchant.api_key);
    expect(response.status).toBe(400);
    expect((await problemOf(response)).code).toBe("unsupported_currency");
  });
});

describe("GET /v1/customers/{id}/balance", () => {
  it("answers 404 to the merchant that created the customer until it has a payment with it, then the balance", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const before = await get(`/v1/customers/${customer.id}/balance`, merchant.api_key);
    expect(before.status).toBe(404);
    expect((await problemOf(before)).code).toBe("not_found");
    await fund(merchant, customer.id, 2_500);
    const response = await get(`/v1/customers/${customer.id}/balance`, merchant.api_key);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ customer_id: customer.id, currency: "ARS", available: 2_500, reserved: 0, updated_at: expect.stringMatching(rfc3339) });
  });

  it("refuses a currency that is not enabled", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    await fund(merchant, customer.id, 100);
    const response = await get(`/v1/customers/${customer.id}/balance?currency=EUR`, merchant.api_key);
    expect(response.status).toBe(400);
    expect((await problemOf(response)).code).toBe("unsupported_currency");
  });

  it("is the same platform-wide balance for every merchant the customer transacted with, whatever merchant moved it", async () => {
    const [first, second] = await Promise.all([createMerchant(), createMerchant()]);
    const customer = await createCustomer(first.api_key);
    await createCustomer(second.api_key, { cuit: customer.cuit });
    await fund(first, customer.id, 1_000);
    await fund(second, customer.id, 2_000);
    const [a, b] = await Promise.all([first, second].map(async (merchant) => (await get(`/v1/customers/${customer.id}/balance`, merchant.api_key)).json()));
    expect(a).toMatchObject({ customer_id: customer.id, available: 3_000, reserved: 0 });
    expect(a).toEqual(b);
  });
});
