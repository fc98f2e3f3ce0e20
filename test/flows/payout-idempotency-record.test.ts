/**
 * A new payout's Idempotency-Key completes in the payout's own D1 batch (issue 9, the front
 * door): two D1 write transactions per payout (the claim, the batch) instead of three, with
 * every guarantee of API §1 kept: the stored answer is the very 201 the client got, a replay
 * returns it, another body is 422, and a crash anywhere leaves a key that answers honestly.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { newApp } from "../../src/app";
import { armFault, disarmFaults } from "../../src/faults";
import { repair } from "../../src/jobs/repair";
import { BASE_URL, bearer, createCustomer, createMerchant, json, randomCbu } from "../helpers";
import { drainPayoutQueue, expectInvariants, fund, fundedCustomer, getPayout, merchantBalance, postPayout, uniqueId } from "../money";

afterEach(() => disarmFaults());

interface StoredKey {
  state: string;
  response_status: number | null;
  response_body: string | null;
  locked_until: number;
}

async function storedKey(merchantId: string, key: string): Promise<StoredKey | null> {
  return env.DB.prepare("SELECT state, response_status, response_body, locked_until FROM idempotency_keys WHERE caller = ? AND key = ?")
    .bind(merchantId, key)
    .first<StoredKey>();
}

const writes = /^\s*(INSERT|UPDATE|DELETE|REPLACE)\b/i;

/**
 * Runs one request through the real app over a D1 that counts write transactions: each
 * db.batch is one, each single write statement run on its own is one.
 */
async function countingWrites(path: string, init: RequestInit): Promise<{ response: Response; write_transactions: number }> {
  let write_transactions = 0;
  const wrap = (statement: D1PreparedStatement, sql: string): D1PreparedStatement =>
    new Proxy(statement, {
      get(target, property, receiver) {
        if (property === "bind") return (...values: unknown[]) => wrap(target.bind(...values), sql);
        if (property === "run" || property === "all" || property === "first" || property === "raw") {
          return (...args: unknown[]) => {
            if (writes.test(sql)) write_transactions++;
            return (target[property] as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        if (property === "__inner") return target;
        return Reflect.get(target, property, receiver);
      },
    });
  const DB = new Proxy(env.DB, {
    get(target, property, receiver) {
      if (property === "prepare") return (sql: string) => wrap(target.prepare(sql), sql);
      if (property === "batch") {
        return (statements: D1PreparedStatement[]) => {
          write_transactions++;
          return target.batch(statements.map((statement) => (statement as unknown as { __inner: D1PreparedStatement }).__inner ?? statement));
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
  const context = createExecutionContext();
  const response = await newApp().fetch(new Request(`${BASE_URL}${path}`, init), { ...env, DB }, context);
  await waitOnExecutionContext(context);
  return { response, write_transactions };
}

describe("a new payout", () => {
  it("costs two D1 write transactions: the key's claim, and one batch holding the payout and the key's answer", async () => {
    const { merchant, customer } = await fundedCustomer(10_000);
    const key = uniqueId("idem");
    const { response, write_transactions } = await countingWrites(
      "/v1/payouts",
      json({ customer_id: customer.id, amount: 1_000 }, { ...bearer(merchant.api_key), "idempotency-key": key }),
    );
    expect(response.status).toBe(201);
    expect(write_transactions).toBe(2);
    expect(await storedKey(merchant.id, key)).toMatchObject({ state: "completed", response_status: 201 });
  });

  it("stores exactly the 201 it answered, and a replay returns those very bytes", async () => {
    const { merchant, customer } = await fundedCustomer(10_000);
    const key = uniqueId("idem");
    const body = { customer_id: customer.id, amount: 1_234, description: "exact bytes" };
    const first = await postPayout(merchant.api_key, body, key);
    expect(first.status).toBe(201);
    const text = await first.text();
    expect((await storedKey(merchant.id, key))?.response_body).toBe(text);
    const replay = await postPayout(merchant.api_key, body, key);
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.headers.get("content-type")).toBe("application/json");
    expect(await replay.text()).toBe(text);
    const other = await postPayout(merchant.api_key, { ...body, amount: 1_235 }, key);
    expect(other.status).toBe(422);
    expect(((await other.json()) as { code: string }).code).toBe("idempotency_key_reused");
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 8_766, reserved: 1_234 });
  });

  it("refused for the merchant's funds stores the 422, never a 201 (the answer rides only on a pending payout)", async () => {
    const rich = await createMerchant();
    const poor = await createMerchant();
    const customer = await createCustomer(rich.api_key, { cbu: randomCbu() });
    await createCustomer(poor.api_key, { cuit: customer.cuit, name: customer.name });
    await fund(rich, customer.id, 5_000);
    const key = uniqueId("idem");
    const refused = await postPayout(poor.api_key, { customer_id: customer.id, amount: 1_000 }, key);
    expect(refused.status).toBe(422);
    expect(await storedKey(poor.id, key)).toMatchObject({ state: "completed", response_status: 422 });
    const replay = await postPayout(poor.api_key, { customer_id: customer.id, amount: 1_000 }, key);
    expect(replay.status).toBe(422);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    await expectInvariants();
  });
});

describe("a payout whose request dies", () => {
  it("after its batch: the key already holds the 201, so the retry replays it; the repair job queues the payout", async () => {
    // Before issue 9 the retry re-ran the handler and answered the same payout afresh; now the
    // answer was stored with the payout, so the retry is a replay of it. Same payout either way.
    const { merchant, customer } = await fundedCustomer(10_000);
    const key = uniqueId("idem");
    armFault("payout.after_projection");
    expect((await postPayout(merchant.api_key, { customer_id: customer.id, amount: 2_000 }, key)).status).toBe(500);
    const stored = await storedKey(merchant.id, key);
    expect(stored).toMatchObject({ state: "completed", response_status: 201 });
    const payoutId = (JSON.parse(stored!.response_body!) as { id: string }).id;
    expect((await getPayout(merchant.api_key, payoutId)).body).toMatchObject({ status: "pending", amount: 2_000 });

    const retry = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 2_000 }, key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await retry.text()).toBe(stored!.response_body);
    const other = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 3_000 }, key);
    expect(other.status).toBe(422);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 8_000, reserved: 2_000 });

    expect((await repair(env, Date.now() + 10 * 60_000)).requeued).toBeGreaterThanOrEqual(1);
    await drainPayoutQueue([payoutId]);
    expect((await getPayout(merchant.api_key, payoutId)).body).toMatchObject({ status: "processing" });
    await expectInvariants();
  });

  it("in its batch (D1 fails it): neither the payout nor the answer is written, and the retry finishes the same payout", async () => {
    const { merchant, customer } = await fundedCustomer(10_000);
    const key = uniqueId("idem");
    const body = { customer_id: customer.id, amount: 1_500 };
    const failing = {
      ...env,
      DB: { prepare: (query: string) => env.DB.prepare(query), batch: () => Promise.reject(new Error("injected D1 outage")) } as unknown as D1Database,
    };
    const context = createExecutionContext();
    const died = await newApp().fetch(new Request(`${BASE_URL}/v1/payouts`, json(body, { ...bearer(merchant.api_key), "idempotency-key": key })), failing, context);
    await waitOnExecutionContext(context);
    expect(died.status).toBe(500);
    expect(await storedKey(merchant.id, key)).toMatchObject({ state: "in_flight", locked_until: 0, response_body: null });
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM payouts WHERE customer_id = ?").bind(customer.id).first<{ n: number }>()).toEqual({ n: 0 });

    // The retry meets the object's reservation (replayed): the middleware stores its answer.
    const retry = await postPayout(merchant.api_key, body, key);
    expect(retry.status).toBe(201);
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
    const text = await retry.text();
    expect(await storedKey(merchant.id, key)).toMatchObject({ state: "completed", response_status: 201, response_body: text });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 8_500, reserved: 1_500 });
    await expectInvariants();
  });

  it("while another request with the same key holds it: 409 in flight, nothing moves twice", async () => {
    const { merchant, customer } = await fundedCustomer(10_000);
    const key = uniqueId("idem");
    const body = { customer_id: customer.id, amount: 1_000 };
    const answers = await Promise.all([postPayout(merchant.api_key, body, key), postPayout(merchant.api_key, body, key)]);
    const statuses = answers.map((answer) => answer.status).sort();
    expect([[201, 201], [201, 409]]).toContainEqual(statuses);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 9_000, reserved: 1_000 });
    await expectInvariants();
  });
});
