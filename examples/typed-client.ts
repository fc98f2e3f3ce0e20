/**
 * A typed client for this API with `hc` from hono/client: every path, parameter, body and answer
 * below is typed from the Worker's own routes (`AppType`, exported by src/index.ts), so a typo in
 * a path or a field is a compile error. It type-checks with the rest of the code (`npm test`).
 *
 * Run it against a local server (`npm run dev` in another terminal):
 *
 *   npm run example:client                              # http://localhost:8787
 *   API_URL=http://localhost:8788 npm run example:client
 *
 * It plays both sides on the sandbox: the operator creates a merchant; the merchant registers a
 * customer; the sandbox bank receives a transfer for that customer; the merchant reads the
 * balance and pays part of it out. ADMIN_API_KEY defaults to the local one in .dev.vars.example
 * (`npm run dev` prints the one in use).
 */
import { hc } from "hono/client";
import type { AppType } from "../src/index";

const apiUrl = process.env.API_URL ?? "http://localhost:8787";
const operatorKey = process.env.ADMIN_API_KEY ?? "sk_operator_local_development_only_0001";

const asOperator = hc<AppType>(apiUrl, { headers: { Authorization: `Bearer ${operatorKey}` } });

// 1. The operator creates a merchant; its api_key is shown only in this answer.
const merchantResponse = await asOperator.v1.merchants.$post({ json: { name: "Typed Client SRL" } });
const merchant = await expectOk(merchantResponse, "create the merchant");
console.log("merchant", merchant.id);

const api = hc<AppType>(apiUrl, { headers: { Authorization: `Bearer ${merchant.api_key}` } });

// 2. The merchant registers a customer (CUIT and CBU check digits are verified).
const created = await api.v1.customers.$post({
  json: { cuit: "20-30123456-3", name: "Juana Pérez", cbu: "0110599520000001234569" },
});
const customer = await expectOk(created, "register the customer"); // typed: { id, cuit, name, cbu, … }
console.log("customer", customer.id);

// 3. Where the customer transfers to, and the reference to write in the transfer's description.
const details = await expectOk(
  await api.v1.customers[":id"]["deposit-details"].$get({ param: { id: customer.id }, query: {} }),
  "read the deposit details",
);

// 4. The sandbox bank receives ARS 1,500.00 (amounts are integer centavos) with that reference.
const transfer = await asOperator.v1.sandbox.transfers.$post({
  json: {
    amount: 150_000,
    sender: { cuit: "20301234563", name: "Juana Pérez", cbu: "0110599520000001234569" },
    concepto: `pago ${details.reference}`,
  },
});
console.log("transfer", (await expectOk(transfer, "simulate the transfer")).transfer.bank_transaction_id);

// 5. The balance: 404 until the payment is written (a moment after the bank's 200), so ask again.
for (let attempt = 1; ; attempt++) {
  const balance = await api.v1.customers[":id"].balance.$get({ param: { id: customer.id }, query: {} });
  if (balance.ok) {
    const { available, reserved } = await balance.json(); // numbers, in minor units
    console.log("balance", { available, reserved });
    break;
  }
  if (attempt === 20) await expectOk(balance, "read the balance");
  await new Promise((resolve) => setTimeout(resolve, 250));
}

// 6. A payout to the customer's own CBU. The Idempotency-Key header is part of the route's
//    schema, so the client requires it: a retry with the same key never pays twice.
const payout = await api.v1.payouts.$post({
  header: { "idempotency-key": crypto.randomUUID() },
  json: { customer_id: customer.id, amount: 40_000, currency: "ARS" },
});
const { id, status, amount } = await expectOk(payout, "create the payout");
console.log("payout", { id, status, amount });

/** The answer's body when it is a success; otherwise stops with the problem+json the API returned. */
async function expectOk<T extends { ok: boolean; status: number; json(): Promise<unknown> }>(
  response: T,
  what: string,
): Promise<Awaited<ReturnType<Extract<T, { ok: true }>["json"]>>> {
  if (!response.ok) {
    console.error(`Could not ${what}: ${response.status}`, await response.json().catch(() => null));
    process.exit(1);
  }
  return (await response.json()) as Awaited<ReturnType<Extract<T, { ok: true }>["json"]>>;
}
