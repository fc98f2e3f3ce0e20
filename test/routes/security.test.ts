import { describe, expect, it } from "vitest";
import { api, bearer, createCustomer, createMerchant, expectNoInternals, fetchWithFailingBatches, json, operatorHeaders, randomCuit } from "../helpers";

async function problemOf(response: Response) {
  const text = await response.text();
  expectNoInternals(text);
  return JSON.parse(text) as { code: string; detail: string; status: number };
}

describe("authentication", () => {
  it.each([
    ["no Authorization header", {}],
    ["a non-Bearer scheme", { authorization: "Basic dXNlcjpwYXNz" }],
    ["an empty bearer", { authorization: "Bearer " }],
    ["an unknown key", bearer("vak_aaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")],
    ["a key with a wrong last character", null],
  ])("answers 401 unauthenticated for %s", async (_label, headers) => {
    let sent = headers;
    if (sent === null) {
      const merchant = await createMerchant();
      sent = bearer(`${merchant.api_key.slice(0, -1)}${merchant.api_key.endsWith("a") ? "b" : "a"}`);
    }
    const response = await api("/v1/merchant", { headers: sent });
    expect(response.status).toBe(401);
    expect((await problemOf(response)).code).toBe("unauthenticated");
  });

  it("refuses a revoked key", async () => {
    const merchant = await createMerchant();
    const prefix = merchant.api_key.slice(0, 12);
    expect((await api(`/v1/merchants/${merchant.id}/api-keys/${prefix}`, { method: "DELETE", headers: operatorHeaders() })).status).toBe(200);
    const response = await api("/v1/customers", json({ cuit: randomCuit(), name: "Late" }, bearer(merchant.api_key)));
    expect(response.status).toBe(401);
    expect((await problemOf(response)).code).toBe("unauthenticated");
  });
});

describe("roles", () => {
  it("refuses a merchant key on operator routes with 403", async () => {
    const merchant = await createMerchant();
    const key = bearer(merchant.api_key);
    const prefix = merchant.api_key.slice(0, 12);
    const responses = await Promise.all([
      api("/v1/merchants", json({ name: "Sneaky" }, key)),
      api(`/v1/merchants/${merchant.id}`, { headers: key }),
      api(`/v1/merchants/${merchant.id}/api-keys`, { method: "POST", headers: key }),
      api(`/v1/merchants/${merchant.id}/api-keys/${prefix}`, { method: "DELETE", headers: key }),
    ]);
    for (const response of responses) {
      expect(response.status).toBe(403);
      expect((await problemOf(response)).code).toBe("forbidden");
    }
    expect((await api("/v1/merchant", { headers: key })).status).toBe(200); // the key was not revoked
  });

  it("refuses the operator key on merchant routes with 403", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const operator = operatorHeaders();
    const responses = await Promise.all([
      api("/v1/merchant", { headers: operator }),
      api("/v1/merchant/balance", { headers: operator }),
      api("/v1/customers", json({ cuit: randomCuit(), name: "Operator" }, operator)),
      api("/v1/customers", { headers: operator }),
      api(`/v1/customers/${customer.id}`, { headers: operator }),
      api(`/v1/customers/${customer.id}/deposit-details`, { headers: operator }),
      api(`/v1/customers/${customer.id}/balance`, { headers: operator }),
    ]);
    for (const response of responses) {
      expect(response.status).toBe(403);
      expect((await problemOf(response)).code).toBe("forbidden");
    }
  });
});

describe("isolation between merchants", () => {
  it("answers another merchant's customer exactly like a customer that does not exist", async () => {
    const [owner, stranger] = await Promise.all([createMerchant(), createMerchant()]);
    const customer = await createCustomer(owner.api_key);
    const missing = "cus_0000000000000000000000000";
    for (const suffix of ["", "/deposit-details", "/balance"]) {
      const theirs = await api(`/v1/customers/${customer.id}${suffix}`, { headers: bearer(stranger.api_key) });
      const nobody = await api(`/v1/customers/${missing}${suffix}`, { headers: bearer(stranger.api_key) });
      expect(theirs.status).toBe(404);
      expect(nobody.status).toBe(404);
      const theirsBody = await problemOf(theirs);
      const nobodyBody = await problemOf(nobody);
      expect(theirsBody).toEqual({ ...nobodyBody, detail: nobodyBody.detail.replace(missing, customer.id) });
      expect(JSON.stringify(theirsBody)).not.toContain(customer.cuit);
    }
  });

  it("never lists another merchant's customers, even filtered by their CUIT", async () => {
    const [owner, stranger] = await Promise.all([createMerchant(), createMerchant()]);
    const customer = await createCustomer(owner.api_key);
    const all = (await (await api("/v1/customers?limit=100", { headers: bearer(stranger.api_key) })).json()) as { data: Array<{ id: string }> };
    expect(all.data.map((row) => row.id)).not.toContain(customer.id);
    const filtered = await api(`/v1/customers?cuit=${customer.cuit}`, { headers: bearer(stranger.api_key) });
    expect(await filtered.json()).toEqual({ data: [], has_more: false, next_cursor: null });
  });

  it("keeps a merchant's balance to itself", async () => {
    const [first, second] = await Promise.all([createMerchant(), createMerchant()]);
    const body = (await (await api("/v1/merchant/balance", { headers: bearer(second.api_key) })).json()) as { merchant_id: string };
    expect(body.merchant_id).toBe(second.id);
    expect(body.merchant_id).not.toBe(first.id);
  });
});

describe("error bodies", () => {
  it("carry no SQL and no stack trace, even for hostile input", async () => {
    const merchant = await createMerchant();
    const key = bearer(merchant.api_key);
    const responses = await Promise.all([
      api(`/v1/customers?cuit=${encodeURIComponent("' OR 1=1 --")}`, { headers: key }),
      api(`/v1/customers/${encodeURIComponent("cus_' OR '1'='1")}`, { headers: key }),
      api("/v1/customers", json({ cuit: "20-1234'; DROP TABLE customers; --", name: "x" }, key)),
      api("/v1/customers", json({ cuit: randomCuit(), name: { $gt: "" } }, key)),
      api("/v1/customers?cursor=eyJ4IjoxfQ", { headers: key }),
    ]);
    expect(responses.map((response) => response.status)).toEqual([400, 404, 400, 400, 400]);
    for (const response of responses) await problemOf(response);
  });

  it("say nothing internal when the database fails (500)", async () => {
    const merchant = await createMerchant();
    const response = await fetchWithFailingBatches(
      "/v1/customers",
      json({ cuit: randomCuit(), name: "Doomed" }, bearer(merchant.api_key)),
      "D1_ERROR: UNIQUE constraint failed: SELECT secret FROM customers: SQLITE_CONSTRAINT",
    );
    expect(response.status).toBe(500);
    const problem = await problemOf(response);
    expect(problem.code).toBe("internal_error");
    expect(response.headers.get("request-id")).toMatch(/^req_/);
  });
});
