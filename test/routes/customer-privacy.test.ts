/**
 * Privacy of a customer known only by CUIT (API §4). CUITs are public: a merchant that
 * registers one it did not create is linked to that customer, but until the customer has a
 * payment or payout with it, it sees no CBU it did not supply itself and no balance, and it
 * never sees which other merchant the customer uses. Registering never changes the name or
 * CBU on file. Every route that shows a customer to a merchant follows the same rules.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { linkCustomer } from "../../src/db/customers";
import { api, bearer, createCustomer, createMerchant, dashedCuit, json, randomCbu, type TestCustomer, type TestMerchant } from "../helpers";
import { fund, fundedCustomer, postPayout } from "../money";

async function register(merchant: TestMerchant, body: Record<string, unknown>) {
  const response = await api("/v1/customers", json(body, bearer(merchant.api_key)));
  return { status: response.status, body: (await response.json()) as TestCustomer };
}

async function seen(merchant: TestMerchant, customerId: string): Promise<TestCustomer> {
  const response = await api(`/v1/customers/${customerId}`, { headers: bearer(merchant.api_key) });
  expect(response.status).toBe(200);
  return (await response.json()) as TestCustomer;
}

async function listed(merchant: TestMerchant, cuit: string): Promise<TestCustomer[]> {
  const response = await api(`/v1/customers?cuit=${cuit}`, { headers: bearer(merchant.api_key) });
  expect(response.status).toBe(200);
  return ((await response.json()) as { data: TestCustomer[] }).data;
}

function balance(merchant: TestMerchant, customerId: string) {
  return api(`/v1/customers/${customerId}/balance`, { headers: bearer(merchant.api_key) });
}

/** A customer with a CBU and money, paid in through `owner` (its last merchant). */
async function knownCustomer() {
  const { merchant: owner, customer } = await fundedCustomer(10_000);
  const onFile = await seen(owner, customer.id);
  expect(onFile).toMatchObject({ cbu: customer.cbu, last_merchant_id: owner.id });
  return { owner, customer: onFile };
}

describe("a merchant that registers a CUIT someone else's money is tied to", () => {
  it("sees the name on file but no CBU, no balance and no other merchant, on every route", async () => {
    const { owner, customer } = await knownCustomer();
    const snoop = await createMerchant();

    const registered = await register(snoop, { cuit: dashedCuit(customer.cuit), name: "Someone Else", cbu: randomCbu() });
    expect(registered.status).toBe(200);
    const hidden = { ...customer, cbu: null, last_merchant_id: null };
    expect(registered.body).toEqual(hidden);
    expect(await seen(snoop, customer.id)).toEqual(hidden);
    expect(await listed(snoop, customer.cuit)).toEqual([hidden]);
    const page = (await (await api("/v1/customers?limit=100", { headers: bearer(snoop.api_key) })).json()) as { data: TestCustomer[] };
    expect(page.data).toEqual([hidden]);

    // The balance answers exactly as for a customer that does not exist.
    const refused = await balance(snoop, customer.id);
    expect(refused.status).toBe(404);
    const missing = await balance(snoop, "cus_0000000000000000000000000");
    expect(missing.status).toBe(404);
    const [refusedBody, missingBody] = [(await refused.json()) as Record<string, unknown>, (await missing.json()) as Record<string, unknown>];
    expect(refusedBody.code).toBe("not_found");
    expect(Object.keys(refusedBody).sort()).toEqual(Object.keys(missingBody).sort());
    expect(JSON.stringify(refusedBody)).not.toContain(customer.cbu!);

    // Deposit details give the platform's account and the caller's own reference, nothing of the customer's.
    const details = (await (await api(`/v1/customers/${customer.id}/deposit-details`, { headers: bearer(snoop.api_key) })).json()) as Record<string, unknown>;
    expect(details.cbu).toBe(env.SETTLEMENT_CBU);
    expect(JSON.stringify(details)).not.toContain(customer.cbu!);
    expect(JSON.stringify(details)).not.toContain(owner.id);
  });

  it("never changes the name or CBU on file, for anyone", async () => {
    const { owner, customer } = await knownCustomer();
    const snoop = await createMerchant();
    expect((await register(snoop, { cuit: customer.cuit, name: "Rewritten Name", cbu: randomCbu() })).status).toBe(200);
    expect(await seen(owner, customer.id)).toEqual(customer);
    const row = await env.DB.prepare("SELECT name, cbu FROM customers WHERE id = ?").bind(customer.id).first();
    expect(row).toEqual({ name: customer.name, cbu: customer.cbu });
  });

  it("sees the CBU it supplied itself when it is the one on file, and keeps seeing it; still no balance", async () => {
    const { customer } = await knownCustomer();
    const knows = await createMerchant();
    const registered = await register(knows, { cuit: customer.cuit, name: customer.name, cbu: customer.cbu });
    expect(registered.status).toBe(200);
    expect(registered.body).toEqual({ ...customer, last_merchant_id: null });
    // A later registration without a CBU does not make it forget.
    expect((await register(knows, { cuit: customer.cuit, name: customer.name })).body.cbu).toBe(customer.cbu);
    expect((await seen(knows, customer.id)).cbu).toBe(customer.cbu);
    expect((await listed(knows, customer.cuit))[0]!.cbu).toBe(customer.cbu);
    expect((await balance(knows, customer.id)).status).toBe(404);
  });

  it("learns nothing from guessing a CBU: a wrong one is not kept, and a right one given later counts", async () => {
    const { customer } = await knownCustomer();
    const guesser = await createMerchant();
    expect((await register(guesser, { cuit: customer.cuit, name: "Guess", cbu: randomCbu() })).body.cbu).toBeNull();
    const link = await env.DB.prepare("SELECT supplied_cbu FROM customer_links WHERE customer_id = ? AND merchant_id = ?")
      .bind(customer.id, guesser.id)
      .first<{ supplied_cbu: string | null }>();
    expect(link?.supplied_cbu).toBeNull();
    expect((await register(guesser, { cuit: customer.cuit, name: "Guess", cbu: customer.cbu })).body.cbu).toBe(customer.cbu);
  });

  it("sees the CBU, the balance and itself as last merchant once the customer has a payment with it", async () => {
    const { owner, customer } = await knownCustomer();
    const second = await createMerchant();
    await register(second, { cuit: customer.cuit, name: customer.name });
    await fund(second, customer.id, 2_000);

    expect(await seen(second, customer.id)).toEqual({ ...customer, last_merchant_id: second.id });
    const response = await balance(second, customer.id);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ customer_id: customer.id, available: 12_000, reserved: 0 }); // platform-wide
    // The first merchant no longer learns who the latest one is.
    expect(await seen(owner, customer.id)).toEqual({ ...customer, last_merchant_id: null });
  });

  it("counts a payout it created as transacting, but not one refused for its own lack of funds", async () => {
    const { customer } = await knownCustomer();
    const poor = await createMerchant();
    await register(poor, { cuit: customer.cuit, name: customer.name });
    const refused = await postPayout(poor.api_key, { customer_id: customer.id, amount: 1_000 });
    expect(refused.status).toBe(422);
    // Not "the merchant's balance": that would tell it the customer's covers 1,000.
    expect(await refused.json()).toMatchObject({ code: "insufficient_funds", detail: expect.stringMatching(/customer's or the merchant's/) });
    const rejected = await env.DB.prepare("SELECT status FROM payouts WHERE customer_id = ? AND merchant_id = ?").bind(customer.id, poor.id).first();
    expect(rejected).toEqual({ status: "rejected" }); // recorded, never shown: no transaction with the customer
    expect((await balance(poor, customer.id)).status).toBe(404);
    expect((await seen(poor, customer.id)).cbu).toBeNull();

    // Funded by another customer of its own, it pays this customer out to the customer's own CBU.
    const payer = await createMerchant();
    await fund(payer, (await createCustomer(payer.api_key, { cbu: randomCbu() })).id, 5_000);
    await register(payer, { cuit: customer.cuit, name: customer.name });
    expect((await postPayout(payer.api_key, { customer_id: customer.id, amount: 1_000 })).status).toBe(201);
    expect((await balance(payer, customer.id)).status).toBe(200);
    expect(await seen(payer, customer.id)).toMatchObject({ cbu: customer.cbu, last_merchant_id: payer.id });
  });
});

describe("the merchant that created a customer", () => {
  it("sees the CBU it gave and no balance until a payment, like anyone who registered the CUIT", async () => {
    const merchant = await createMerchant();
    const cbu = randomCbu();
    const created = await createCustomer(merchant.api_key, { cbu });
    expect(created).toMatchObject({ cbu, last_merchant_id: null });
    expect((await balance(merchant, created.id)).status).toBe(404);
    await fund(merchant, created.id, 700);
    expect(await (await balance(merchant, created.id)).json()).toMatchObject({ available: 700 });
  });

  it("keeps a CBU it gave when linking raced another registration", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    const other = await createMerchant();
    // Two links of one pair at once, one knowing the CBU: the known CBU is never lost.
    await Promise.all([linkCustomer(env.DB, customer.id, other.id), linkCustomer(env.DB, customer.id, other.id, customer.cbu)]);
    const link = await env.DB.prepare("SELECT supplied_cbu FROM customer_links WHERE customer_id = ? AND merchant_id = ?").bind(customer.id, other.id).first();
    expect(link).toEqual({ supplied_cbu: customer.cbu });
    expect((await seen(other, customer.id)).cbu).toBe(customer.cbu);
  });
});
