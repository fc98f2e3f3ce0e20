/**
 * Payouts to the customer's own accounts only (API §7, *cuenta propia*). A destination is the
 * customer's when we have received a transfer from it whose sender CUIT is the customer's, or
 * when the bank's account-holder lookup reports the customer's CUIT as its holder. Anything
 * else is 422 invalid_destination and moves nothing; a lookup the bank cannot answer is 503
 * and moves nothing, and the retry with the same key works.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newApp } from "../../src/app";
import { bankAdapter, TransientBankError } from "../../src/bank/adapter";
import { loadConfig } from "../../src/env";
import { api, BASE_URL, bearer, createCustomer, createMerchant, json, operatorHeaders, randomCbu, randomCuit } from "../helpers";
import {
  balanceOf,
  depositReference,
  expectInvariants,
  fund,
  fundedCustomer,
  merchantBalance,
  postPayout,
  sendBankEvent,
  transferEvent,
  uniqueId,
} from "../money";

type Problem = { code: string; errors?: { path: string }[] };

/** A payout refused as not the customer's own account, with both balances untouched. */
async function expectRefused(response: Response, merchant: { api_key: string }, customerId: string, funded: number) {
  expect(response.status).toBe(422);
  const problem = (await response.json()) as Problem;
  expect(problem.code).toBe("invalid_destination");
  expect(problem.errors?.map((error) => error.path)).toEqual(["destination_cbu"]);
  expect(await balanceOf(merchant.api_key, customerId)).toMatchObject({ available: funded, reserved: 0 });
  expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: funded, reserved: 0 });
  const listed = (await (await api("/v1/payouts", { headers: bearer(merchant.api_key) })).json()) as { data: unknown[] };
  expect(listed.data).toEqual([]);
}

/** A transfer into the customer's reference for `merchant`, from `sender`, delivered straight to our webhook (the sandbox bank never sees it). */
async function transferFrom(merchant: { api_key: string }, customerId: string, amount: number, sender: { cuit: string | null; name: string; cbu: string | null }) {
  const concepto = `pago ${await depositReference(merchant.api_key, customerId)}`;
  expect((await sendBankEvent(transferEvent({ amount, concepto, sender }))).status).toBe(200);
}

function registerAccount(body: Record<string, unknown>) {
  return api("/v1/sandbox/accounts", json(body, operatorHeaders()));
}

describe("a payout's destination", () => {
  it("may not be a CBU the customer never sent from: 422 invalid_destination, and nothing moves", async () => {
    const { merchant, customer } = await fundedCustomer(10_000);
    const response = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000, destination_cbu: randomCbu() });
    await expectRefused(response, merchant, customer.id, 10_000);
    await expectInvariants();
  });

  it("is refused before the balance is looked at: an account not the customer's is refused even for more than the balance", async () => {
    const { merchant, customer } = await fundedCustomer(1_000);
    const response = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 5_000, destination_cbu: randomCbu() });
    await expectRefused(response, merchant, customer.id, 1_000);
  });

  it("may not default to the CBU on file when no transfer came from it, but may be the CBU the customer's transfer came from", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    const actual = randomCbu();
    await transferFrom(merchant, customer.id, 8_000, { cuit: customer.cuit, name: customer.name, cbu: actual });

    await expectRefused(await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 }), merchant, customer.id, 8_000);
    const paid = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000, destination_cbu: actual });
    expect(paid.status).toBe(201);
    expect(await paid.json()).toMatchObject({ status: "pending", destination_cbu: actual });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 7_000, reserved: 1_000 });
    await expectInvariants();
  });

  it("recognizes the sender however the bank wrote its CBU and CUIT (dashes or not)", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const cbu = randomCbu();
    const dashed = { cuit: `${customer.cuit.slice(0, 2)}-${customer.cuit.slice(2, 10)}-${customer.cuit.slice(10)}`, name: customer.name, cbu: `${cbu.slice(0, 8)}-${cbu.slice(8)}` };
    await transferFrom(merchant, customer.id, 3_000, dashed);
    const paid = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 3_000, destination_cbu: cbu });
    expect(paid.status).toBe(201);
  });

  it("may not be an account someone else sent from, even to this customer's reference", async () => {
    const { merchant, customer } = await fundedCustomer(4_000);
    const stranger = randomCbu();
    await transferFrom(merchant, customer.id, 1_000, { cuit: randomCuit(), name: "A Stranger", cbu: stranger }); // paid in for the customer
    const response = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 500, destination_cbu: stranger });
    await expectRefused(response, merchant, customer.id, 5_000);
  });

  it("may not be a CBU the bank registers to another CUIT", async () => {
    const { merchant, customer } = await fundedCustomer(6_000);
    const cbu = randomCbu();
    expect((await registerAccount({ cbu, holder_cuit: randomCuit(), holder_name: "Another Holder" })).status).toBe(201);
    await expectRefused(await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000, destination_cbu: cbu }), merchant, customer.id, 6_000);
  });

  it("may be a CBU the bank registers to the customer's CUIT, with no transfer from it", async () => {
    const { merchant, customer } = await fundedCustomer(6_000);
    const cbu = randomCbu();
    expect((await registerAccount({ cbu, holder_cuit: customer.cuit, holder_name: customer.name })).status).toBe(201);
    const paid = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000, destination_cbu: cbu });
    expect(paid.status).toBe(201);
    expect(await paid.json()).toMatchObject({ destination_cbu: cbu });
    await expectInvariants();
  });

  it("may be an account the sandbox bank booked a transfer from, in the customer's name, though its webhook never came", async () => {
    const { merchant, customer } = await fundedCustomer(6_000);
    const cbu = randomCbu();
    const booked = await api(
      "/v1/sandbox/transfers",
      json({ amount: 100, sender: { cuit: customer.cuit, name: customer.name, cbu }, concepto: "sin referencia", deliver: "none" }, operatorHeaders()),
    );
    expect(booked.status).toBe(201);
    expect(await env.DB.prepare("SELECT 1 FROM payments WHERE sender_cbu = ?").bind(cbu).first()).toBeNull(); // only the bank knows it
    expect((await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000, destination_cbu: cbu })).status).toBe(201);
  });
});

describe("when the bank cannot say who holds the account", () => {
  /** The app as deployed without a bank adapter: every call to the bank fails transiently. */
  async function withoutBank(path: string, init: RequestInit) {
    const context = createExecutionContext();
    const response = await newApp().fetch(new Request(`${BASE_URL}${path}`, init), { ...env, SANDBOX: "false", WEBHOOK_RETRY_BASE_MS: "60000" } as typeof env, context);
    await waitOnExecutionContext(context);
    return response;
  }

  it("answers 503 and moves nothing; the retry with the same key pays out once", async () => {
    const { merchant, customer } = await fundedCustomer(9_000);
    const cbu = randomCbu();
    const key = uniqueId("idem");
    const body = { customer_id: customer.id, amount: 2_000, destination_cbu: cbu };
    const headers = { ...bearer(merchant.api_key), "idempotency-key": key };

    const unavailable = await withoutBank("/v1/payouts", json(body, headers));
    expect(unavailable.status).toBe(503);
    expect(await unavailable.json()).toMatchObject({ code: "unavailable" });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 9_000, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 9_000, reserved: 0 });

    expect((await registerAccount({ cbu, holder_cuit: customer.cuit, holder_name: customer.name })).status).toBe(201);
    const retried = await postPayout(merchant.api_key, body, key);
    expect(retried.status).toBe(201);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 7_000, reserved: 2_000 });
    await expectInvariants();
  });

  it("is not asked when a transfer from the account already shows it is the customer's", async () => {
    const { merchant, customer } = await fundedCustomer(9_000); // funded from the CBU on file
    const response = await withoutBank("/v1/payouts", json({ customer_id: customer.id, amount: 2_000 }, { ...bearer(merchant.api_key), "idempotency-key": uniqueId("idem") }));
    expect(response.status).toBe(201);
  });

  it("the unconfigured bank's lookup fails transiently", async () => {
    await expect(bankAdapter(env, { ...loadConfig(env), sandbox: false }).accountHolder(randomCbu())).rejects.toBeInstanceOf(TransientBankError);
  });
});

describe("the sandbox bank's account-holder lookup", () => {
  const bank = () => env.SANDBOX_BANK.get(env.SANDBOX_BANK.idFromName("sandbox"));

  it("knows registered accounts, then the senders it booked (first valid CUIT), and nothing else", async () => {
    const [registered, booked, unknown] = [randomCbu(), randomCbu(), randomCbu()];
    const [holder, sender] = [randomCuit(), randomCuit()];
    expect((await registerAccount({ cbu: registered, holder_cuit: holder, holder_name: "Registered Holder" })).status).toBe(201);
    await bank().bookTransfer({ amount: 1, currency: "ARS", sender: { cuit: "not a cuit", name: "Garbled", cbu: booked }, account_number: null, concepto: null });
    await bank().bookTransfer({ amount: 1, currency: "ARS", sender: { cuit: sender, name: "Booked Sender", cbu: `${booked.slice(0, 8)}-${booked.slice(8)}` }, account_number: null, concepto: null });
    const adapter = bankAdapter(env, loadConfig(env));
    expect(await adapter.accountHolder(registered)).toEqual({ cuit: holder, name: "Registered Holder" });
    expect(await adapter.accountHolder(booked)).toEqual({ cuit: sender, name: "Booked Sender" });
    expect(await adapter.accountHolder(unknown)).toBeNull();
  });

  it("learns no holder from a payout it paid out to an account", async () => {
    const { merchant, customer } = await fundedCustomer(5_000); // funded by webhook only: the sandbox never booked it
    const payout = (await (await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 })).json()) as { id: string };
    expect((await api(`/v1/sandbox/payouts/${payout.id}/settle`, json({ outcome: "completed" }, operatorHeaders()))).status).toBe(200);
    // Its statement now has a debit to the customer's CBU, which names no holder.
    expect(await bankAdapter(env, loadConfig(env)).accountHolder(customer.cbu!)).toBeNull();
  });
});
