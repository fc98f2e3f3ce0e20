/**
 * The per-isolate cache of customer↔merchant links (db/customers.ts findLinkFacts, issue 9's
 * front door): what never changes is served from memory, what changes is always read, and a
 * pair never sees another pair's entry.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { findLinkedCustomer, findLinkFacts } from "../../src/db/customers";
import { requireOwnAccount } from "../../src/payouts/destination";
import { countingD1 } from "../../src/reconciliation/counting-d1";
import { api, bearer, createCustomer, createMerchant, randomCbu } from "../helpers";
import { depositReference, fund, fundedCustomer, sendBankEvent, transferEvent } from "../money";

function counted() {
  return countingD1(env.DB, 1_000, "link cache test");
}

async function getCustomer(apiKey: string, customerId: string) {
  const response = await api(`/v1/customers/${customerId}`, { headers: bearer(apiKey) });
  return { status: response.status, body: (await response.json()) as { last_merchant_id: string | null; cbu: string | null } };
}

async function balanceStatus(apiKey: string, customerId: string): Promise<number> {
  return (await api(`/v1/customers/${customerId}/balance`, { headers: bearer(apiKey) })).status;
}

describe("a pair that has transacted", () => {
  it("is answered from memory: no D1 query for its facts, and every field equal to D1's", async () => {
    const { merchant, customer } = await fundedCustomer(1_000);
    const first = counted();
    const read = await findLinkFacts(first.d1, customer.id, merchant.id);
    expect(read).toMatchObject({ id: customer.id, cuit: customer.cuit, cbu: customer.cbu, transacted: true });
    const again = counted();
    expect(await findLinkFacts(again.d1, customer.id, merchant.id)).toEqual(read);
    expect(again.queries()).toBe(0);
    // What the full read says, field for field (the cache holds nothing D1 would not).
    const { last_merchant_id: _a, supplied_cbu: _b, ...full } = (await findLinkedCustomer(env.DB, customer.id, merchant.id))!;
    expect(read).toEqual(full);
  });

  it("still reads what changes: last_merchant_id follows the latest operation", async () => {
    const first = await createMerchant();
    const second = await createMerchant();
    const customer = await createCustomer(first.api_key, { cbu: randomCbu() });
    await createCustomer(second.api_key, { cuit: customer.cuit, name: customer.name });
    await fund(first, customer.id, 1_000);
    await fund(second, customer.id, 1_000);
    // Both pairs transacted and cached; the last operation is the second merchant's.
    expect((await getCustomer(first.api_key, customer.id)).body.last_merchant_id).toBeNull();
    expect((await getCustomer(second.api_key, customer.id)).body.last_merchant_id).toBe(second.id);
    await fund(first, customer.id, 1_000);
    expect((await getCustomer(first.api_key, customer.id)).body.last_merchant_id).toBe(first.id);
    expect((await getCustomer(second.api_key, customer.id)).body.last_merchant_id).toBeNull();
  });
});

describe("a pair that has not transacted yet", () => {
  it("is read again for its balance, so the first payment shows it at once (a cached 'not yet' is never final)", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    await depositReference(merchant.api_key, customer.id); // the link is now cached, not transacted
    expect(await balanceStatus(merchant.api_key, customer.id)).toBe(404);
    const before = counted();
    expect(await findLinkFacts(before.d1, customer.id, merchant.id)).toMatchObject({ transacted: false });
    expect(before.queries()).toBe(1);
    await fund(merchant, customer.id, 2_500);
    expect(await balanceStatus(merchant.api_key, customer.id)).toBe(200);
    expect((await getCustomer(merchant.api_key, customer.id)).body.cbu).toBe(customer.cbu);
  });

  it("serves the link alone from memory", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    await findLinkFacts(env.DB, customer.id, merchant.id, "link");
    const again = counted();
    expect(await findLinkFacts(again.d1, customer.id, merchant.id, "link")).toMatchObject({ id: customer.id, transacted: false });
    expect(again.queries()).toBe(0);
  });
});

describe("another merchant", () => {
  it("never reaches a customer through a pair cached for someone else: 404 on every route, as if it did not exist", async () => {
    const { merchant, customer } = await fundedCustomer(1_000);
    expect(await balanceStatus(merchant.api_key, customer.id)).toBe(200); // cached for (customer, merchant)
    const stranger = await createMerchant();
    for (const path of ["", "/balance", "/deposit-details", "/payments", "/payouts"]) {
      expect((await api(`/v1/customers/${customer.id}${path}`, { headers: bearer(stranger.api_key) })).status).toBe(404);
    }
    expect(await findLinkFacts(env.DB, customer.id, stranger.id, "link")).toBeNull();
  });

  it("is not cached as unlinked: once linked, it sees the customer at once", async () => {
    const { merchant, customer } = await fundedCustomer(1_000);
    const late = await createMerchant();
    expect(await findLinkFacts(env.DB, customer.id, late.id, "link")).toBeNull();
    await createCustomer(late.api_key, { cuit: customer.cuit, name: customer.name });
    expect(await findLinkFacts(env.DB, customer.id, late.id, "link")).toMatchObject({ id: customer.id });
    expect(merchant.id).not.toBe(late.id);
  });
});

describe("a proven own account (payouts' destination check)", () => {
  it("is remembered once a transfer came from it; an unproven one is asked every time", async () => {
    const { customer } = await fundedCustomer(1_000); // fund sends from the customer's CBU on file with its CUIT
    const proven = { ...env, DB: counted().d1 };
    await requireOwnAccount(proven, customer, customer.cbu!);
    const again = counted();
    await requireOwnAccount({ ...env, DB: again.d1 }, customer, customer.cbu!);
    expect(again.queries()).toBe(0);

    // Another CBU, not the customer's: refused, and refused again after asking again.
    const other = randomCbu();
    const unproven = counted();
    await expect(requireOwnAccount({ ...env, DB: unproven.d1 }, customer, other)).rejects.toMatchObject({ code: "invalid_destination" });
    await expect(requireOwnAccount({ ...env, DB: unproven.d1 }, customer, other)).rejects.toMatchObject({ code: "invalid_destination" });
    expect(unproven.queries()).toBe(2);
    // Then a transfer comes from it with the customer's CUIT: accepted at once.
    expect((await sendBankEvent(transferEvent({ amount: 10, sender: { cuit: customer.cuit, name: customer.name, cbu: other } }))).status).toBe(200);
    await requireOwnAccount(env, customer, other);
  });
});
