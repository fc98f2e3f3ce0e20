/**
 * POST /v1/virtual-accounts (API §11): what it answers, what it refuses (each field, hostile
 * values), who may see what, and deposit details naming the CVU.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { isValidCbu } from "../../src/domain/cbu";
import { isInCvuRange } from "../../src/domain/cvu";
import { api, bearer, createCustomer, createMerchant, expectNoInternals, json, randomCuit } from "../helpers";
import { uniqueId } from "../money";
import {
  closeVirtualAccount,
  createVirtualAccount,
  getVirtualAccount,
  inDays,
  ledgerAccount,
  listVirtualAccounts,
  patchVirtualAccount,
  registeredAtBank,
  storedAccountsOf,
} from "./va-helpers";

const psp = env.CVU_PSP_CODE!;

describe("creating a virtual account", () => {
  it("per_transaction: 201 with the §11 object, a valid CVU of our range registered at the bank, amount_policy hold by default", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const expiresAt = inDays(3);
    const created = await createVirtualAccount(merchant.api_key, { customer_id: customer.id, kind: "per_transaction", expected_amount: 150_000, expires_at: expiresAt, description: "Order 1042" });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^va_/),
      object: "virtual_account",
      account_number: expect.stringMatching(/^[0-9]{22}$/),
      kind: "per_transaction",
      status: "active",
      customer_id: customer.id,
      merchant_id: merchant.id,
      currency: "ARS",
      expected_amount: 150_000,
      expires_at: new Date(expiresAt).toISOString(),
      amount_policy: "hold",
      ledger_account_id: null,
      description: "Order 1042",
      created_at: expect.any(String),
      paid_at: null,
      closed_at: null,
    });
    expect(isValidCbu(created.body.account_number)).toBe(true);
    expect(isInCvuRange(created.body.account_number, psp)).toBe(true);
    expect(await registeredAtBank(created.body.account_number)).toBe(true);
    expect((await getVirtualAccount(merchant.api_key, created.body.id)).body).toEqual(created.body);
  });

  it("per_customer: one per (customer, merchant); a repeat answers 200 with it unchanged, another merchant gets its own", async () => {
    const merchant = await createMerchant();
    const other = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    await createCustomer(other.api_key, { cuit: customer.cuit });
    const first = await createVirtualAccount(merchant.api_key, { customer_id: customer.id, kind: "per_customer", description: "wallet" });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ kind: "per_customer", status: "active", expected_amount: null, expires_at: null, amount_policy: null });
    const repeat = await createVirtualAccount(merchant.api_key, { customer_id: customer.id, kind: "per_customer", description: "something else" });
    expect(repeat.status).toBe(200);
    expect(repeat.body).toEqual(first.body);
    const theirs = await createVirtualAccount(other.api_key, { customer_id: customer.id, kind: "per_customer" });
    expect(theirs.status).toBe(201);
    expect(theirs.body.account_number).not.toBe(first.body.account_number);
    // Closed stays the pair's: a repeat answers the closed one, no second number is issued.
    await closeVirtualAccount(merchant.api_key, first.body.id);
    const afterClose = await createVirtualAccount(merchant.api_key, { customer_id: customer.id, kind: "per_customer" });
    expect(afterClose).toMatchObject({ status: 200, body: { id: first.body.id, status: "closed" } });
    expect(await storedAccountsOf(merchant.id)).toHaveLength(1);
  });

  it("replays a keyed creation with its first answer, and refuses the same key with another body", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const key = uniqueId("va");
    const body = { customer_id: customer.id, kind: "per_transaction", expected_amount: 500 };
    const first = await createVirtualAccount(merchant.api_key, body, key);
    const replay = await createVirtualAccount(merchant.api_key, body, key);
    expect(replay).toEqual({ status: 201, body: first.body, replayed: true });
    const other = await createVirtualAccount(merchant.api_key, { ...body, expected_amount: 501 }, key);
    expect(other.status).toBe(422);
    expect(other.body.code).toBe("idempotency_key_reused");
    expect(await storedAccountsOf(merchant.id)).toHaveLength(1);
  });
});

describe("refused before anything is written", () => {
  async function refusal(body: Record<string, unknown>, field: string, status = 400, code = "invalid_request") {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const answer = await createVirtualAccount(merchant.api_key, { customer_id: customer.id, ...body });
    expect(answer.status, JSON.stringify(answer.body)).toBe(status);
    expect(answer.body.code).toBe(code);
    if (status === 400) expect(answer.body.errors?.map((error) => error.path)).toContain(field);
    expectNoInternals(JSON.stringify(answer.body));
    expect(await storedAccountsOf(merchant.id)).toEqual([]);
  }

  it.each([
    ["kind missing", {}, "kind"],
    ["kind unknown", { kind: "per_merchant" }, "kind"],
    ["expected_amount on per_customer", { kind: "per_customer", expected_amount: 100 }, "expected_amount"],
    ["expires_at on per_customer", { kind: "per_customer", expires_at: inDays(1) }, "expires_at"],
    ["amount_policy on per_customer", { kind: "per_customer", amount_policy: "accept" }, "amount_policy"],
    ["expected_amount zero", { kind: "per_transaction", expected_amount: 0 }, "expected_amount"],
    ["expected_amount negative", { kind: "per_transaction", expected_amount: -5 }, "expected_amount"],
    ["expected_amount a float", { kind: "per_transaction", expected_amount: 10.5 }, "expected_amount"],
    ["expected_amount a string", { kind: "per_transaction", expected_amount: "100" }, "expected_amount"],
    ["expected_amount above 10^14", { kind: "per_transaction", expected_amount: 100_000_000_000_001 }, "expected_amount"],
    ["expires_at not a date", { kind: "per_transaction", expires_at: "tomorrow" }, "expires_at"],
    ["expires_at without offset", { kind: "per_transaction", expires_at: "2030-01-01T00:00:00" }, "expires_at"],
    ["expires_at in the past", { kind: "per_transaction", expires_at: inDays(-1) }, "expires_at"],
    ["expires_at beyond 90 days", { kind: "per_transaction", expires_at: inDays(90.01) }, "expires_at"],
    ["amount_policy unknown", { kind: "per_transaction", amount_policy: "refund" }, "amount_policy"],
    ["description too long", { kind: "per_transaction", description: "x".repeat(141) }, "description"],
    ["description not a string", { kind: "per_transaction", description: { $gt: "" } }, "description"],
    ["an unknown field", { kind: "per_transaction", account_number: "0000042000000000000178" }, "account_number"],
    ["a malformed ledger_account_id", { kind: "per_transaction", ledger_account_id: "x" }, "ledger_account_id"],
    ["a ledger_account_id that does not exist", { kind: "per_transaction", ledger_account_id: "la_nope0000000000000000" }, "ledger_account_id"],
    ["a currency not enabled", { kind: "per_transaction", currency: "USD" }, "currency", 400, "unsupported_currency"],
    ["a currency that is not ISO 4217", { kind: "per_transaction", currency: "pesos" }, "currency"],
  ])("%s", async (_name, body, field, status?: number, code?: string) => {
    await refusal(body, field, status, code);
  });

  it("a customer the caller cannot see is 404, exactly like one that does not exist (CUITs are public)", async () => {
    const merchant = await createMerchant();
    const stranger = await createMerchant();
    const customer = await createCustomer(merchant.api_key, { cuit: randomCuit() });
    for (const customerId of [customer.id, "cus_doesnotexist000000000"]) {
      const answer = await createVirtualAccount(stranger.api_key, { customer_id: customerId, kind: "per_customer" });
      expect(answer.status).toBe(404);
      expect(answer.body.code).toBe("not_found");
    }
    expect(await storedAccountsOf(stranger.id)).toEqual([]);
  });

  it("another merchant's ledger account, or one in another currency, is 400 naming ledger_account_id", async () => {
    const merchant = await createMerchant();
    const other = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    for (const ledgerAccountId of [await ledgerAccount(other.id), await ledgerAccount(merchant.id, "USD")]) {
      const answer = await createVirtualAccount(merchant.api_key, { customer_id: customer.id, kind: "per_transaction", ledger_account_id: ledgerAccountId });
      expect(answer.status).toBe(400);
      expect(answer.body.errors?.map((error) => error.path)).toContain("ledger_account_id");
    }
    const mine = await ledgerAccount(merchant.id);
    const linked = await createVirtualAccount(merchant.api_key, { customer_id: customer.id, kind: "per_transaction", ledger_account_id: mine });
    expect(linked).toMatchObject({ status: 201, body: { ledger_account_id: mine } });
  });

  it("an operator key or no key cannot create", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    expect((await api("/v1/virtual-accounts", json({ customer_id: customer.id, kind: "per_customer" }))).status).toBe(401);
    const operator = await api("/v1/virtual-accounts", json({ customer_id: customer.id, kind: "per_customer" }, bearer(env.ADMIN_API_KEY!)));
    expect(operator.status).toBe(403);
  });
});

describe("isolation", () => {
  it("another merchant's account is 404 on GET, PATCH and close, absent from its list, and untouched", async () => {
    const owner = await createMerchant();
    const stranger = await createMerchant();
    const customer = await createCustomer(owner.api_key);
    const account = (await createVirtualAccount(owner.api_key, { customer_id: customer.id, kind: "per_customer" })).body;
    expect((await getVirtualAccount(stranger.api_key, account.id)).status).toBe(404);
    expect((await patchVirtualAccount(stranger.api_key, account.id, { ledger_account_id: await ledgerAccount(stranger.id) })).status).toBe(404);
    expect((await closeVirtualAccount(stranger.api_key, account.id)).status).toBe(404);
    expect(await listVirtualAccounts(stranger.api_key)).toEqual([]);
    expect((await getVirtualAccount(owner.api_key, account.id)).body).toEqual(account);
  });
});

describe("deposit details", () => {
  it("name the caller's active per_customer CVU (no reference needed); another merchant, or after close, the reference", async () => {
    const merchant = await createMerchant();
    const other = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    await createCustomer(other.api_key, { cuit: customer.cuit });
    const details = async (apiKey: string) => {
      const response = await api(`/v1/customers/${customer.id}/deposit-details`, { headers: bearer(apiKey) });
      expect(response.status).toBe(200);
      return (await response.json()) as { virtual_account: { id: string; account_number: string } | null; instructions: string; reference: string };
    };
    expect((await details(merchant.api_key)).virtual_account).toBeNull();
    // A per_transaction account is for one payment: never the customer's standing instructions.
    await createVirtualAccount(merchant.api_key, { customer_id: customer.id, kind: "per_transaction" });
    expect((await details(merchant.api_key)).virtual_account).toBeNull();

    const account = (await createVirtualAccount(merchant.api_key, { customer_id: customer.id, kind: "per_customer" })).body;
    const withAccount = await details(merchant.api_key);
    expect(withAccount.virtual_account).toEqual({ id: account.id, account_number: account.account_number });
    expect(withAccount.instructions).toContain(`CVU ${account.account_number}`);
    expect(withAccount.instructions).not.toContain(withAccount.reference);
    expect((await details(other.api_key)).virtual_account).toBeNull();

    await closeVirtualAccount(merchant.api_key, account.id);
    const afterClose = await details(merchant.api_key);
    expect(afterClose.virtual_account).toBeNull();
    expect(afterClose.instructions).toContain(afterClose.reference);
  });
});
