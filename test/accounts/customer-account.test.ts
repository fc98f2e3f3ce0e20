/**
 * The customer's Durable Object through RPC, the way the Worker calls it: idempotency by
 * op_id, the reservation state machine, no overdraft under concurrency, amounts asserted,
 * the outbox, and the alarm that replays an unconfirmed projection into D1.
 *
 * Most objects here are named at random and hold projections that are never applied (they
 * name no real merchant or customer): afterEach deletes their alarms so that none fires
 * against D1 later. The alarm test uses a real customer and a real projection.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import type { CustomerAccount } from "../../src/accounts/customer-account";
import { customerAccountStub } from "../../src/accounts/customer-account";
import type { PaymentRecord, Projection } from "../../src/accounts/projections";
import { api, bearer, createCustomer, createMerchant } from "../helpers";
import { expectInvariants, uniqueId } from "../money";

type Stub = DurableObjectStub<CustomerAccount>;
const used: Stub[] = [];

afterEach(async () => {
  for (const stub of used.splice(0)) {
    await runInDurableObject(stub, (_instance, state) => state.storage.deleteAlarm());
  }
});

function freshAccount(): Stub {
  const stub = env.CUSTOMER_ACCOUNTS.get(env.CUSTOMER_ACCOUNTS.idFromName(uniqueId("cus_test")));
  used.push(stub);
  return stub;
}

const MERCHANT = "mer_unit_test";

function paymentProjection(op_id: string, amount: number, customer_id = "cus_unit_test", merchant_id: string = MERCHANT): Extract<Projection, { kind: "payment.recorded" }> {
  const now = Date.now();
  const payment: PaymentRecord = {
    id: op_id,
    bank_transaction_id: `bt_${op_id}`,
    status: "credited",
    amount,
    currency: "ARS",
    customer_id,
    merchant_id,
    sender_cuit: null,
    sender_name: null,
    sender_cbu: null,
    concepto: null,
    destination_account_number: null,
    matched_by: "customer_reference",
    booked_at: now,
    created_at: now,
  };
  return { kind: "payment.recorded", op_id, payment, event: null };
}

function payoutProjection(op_id: string, amount: number): Projection {
  return {
    kind: "payout.created",
    op_id,
    payout: { id: op_id, merchant_id: MERCHANT, customer_id: "cus_unit_test", amount, currency: "ARS", destination_cbu: "2850590940090418135201", description: null, created_at: Date.now() },
  };
}

const credit = (stub: Stub, op_id: string, amount: number) =>
  stub.credit({ op_id, amount, currency: "ARS", merchant_id: MERCHANT, projection: paymentProjection(op_id, amount) });

const reserve = (stub: Stub, op_id: string, amount: number) =>
  stub.reserve({ op_id, amount, currency: "ARS", merchant_id: MERCHANT, projection: payoutProjection(op_id, amount) });

async function balanceOf(stub: Stub) {
  const { available, reserved } = await stub.balance("ARS");
  return { available, reserved };
}

/**
 * Calls that must reject go through runInDurableObject, straight to the instance: through the
 * stub, vitest-pool-workers reports every rejecting DO RPC as one extra unhandled rejection
 * even when the test handles it (cloudflare/workers-sdk#14736), which fails the run.
 */
function rejecting<R>(stub: Stub, call: (instance: CustomerAccount) => Promise<R>): Promise<R> {
  return runInDurableObject(stub, (instance: CustomerAccount) => call(instance));
}

async function entryCount(stub: Stub): Promise<number> {
  return (await stub.entries({ limit: 100 })).length;
}

function outboxOf(stub: Stub): Promise<string[]> {
  return runInDurableObject(stub, (_instance, state) =>
    state.storage.sql.exec("SELECT op_id FROM outbox ORDER BY seq").toArray().map((row) => row.op_id as string),
  );
}

/** Makes every outbox row look written a minute ago: the Worker that wrote it is long gone. */
function ageOutbox(stub: Stub): Promise<void> {
  return runInDurableObject(stub, (_instance, state) => {
    state.storage.sql.exec("UPDATE outbox SET created_at = created_at - 60000");
  });
}

function operationCount(stub: Stub): Promise<number> {
  return runInDurableObject(stub, (_instance, state) => state.storage.sql.exec("SELECT COUNT(*) AS n FROM operations").one().n as number);
}

describe("credit", () => {
  it("raises available, and applying the same op_id again changes nothing (replayed)", async () => {
    const stub = freshAccount();
    const op = uniqueId("pay");
    const first = await credit(stub, op, 1_500);
    expect(first.outcome).toBe("applied");
    expect(first.balance).toMatchObject({ currency: "ARS", available: 1_500, reserved: 0 });

    const second = await credit(stub, op, 1_500);
    expect(second.outcome).toBe("replayed");
    expect(second.balance).toMatchObject({ available: 1_500, reserved: 0 });

    const entries = await stub.entries({ limit: 100 });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ op_id: op, kind: "credit", currency: "ARS", available_delta: 1_500, reserved_delta: 0 });
  });

  it("refuses a repeat of the op_id with another amount: a conflict that moves nothing and answers the first version", async () => {
    const stub = freshAccount();
    const op = uniqueId("pay");
    const first = await credit(stub, op, 1_000);
    const repeat = await credit(stub, op, 9_999);
    expect(repeat).toMatchObject({ outcome: "conflict", balance: { available: 1_000 } });
    expect(repeat.projection).toEqual(first.projection); // the stored one, for the caller to apply
    expect(await entryCount(stub)).toBe(1);
    expect(await outboxOf(stub)).toEqual([op]);
  });

  it("refuses a repeat with the same amount but other data (another sender, concepto or currency)", async () => {
    const stub = freshAccount();
    const op = uniqueId("pay");
    const projection = paymentProjection(op, 1_000);
    await stub.credit({ op_id: op, amount: 1_000, currency: "ARS", merchant_id: MERCHANT, projection });
    const changes: Array<Partial<PaymentRecord>> = [{ sender_cuit: "20123456786" }, { sender_cbu: "2850590940090418135201" }, { concepto: "another" }, { destination_account_number: "0000003100000000000001" }];
    for (const change of changes) {
      const other = { ...projection, payment: { ...projection.payment, ...change } };
      expect(await stub.credit({ op_id: op, amount: 1_000, currency: "ARS", merchant_id: MERCHANT, projection: other })).toMatchObject({ outcome: "conflict" });
    }
    const usd = { ...projection, payment: { ...projection.payment, currency: "USD" } };
    expect(await stub.credit({ op_id: op, amount: 1_000, currency: "USD", merchant_id: MERCHANT, projection: usd })).toMatchObject({ outcome: "conflict" });
    // Display data that does not decide where money goes is not compared.
    const renamed = { ...projection, payment: { ...projection.payment, sender_name: "Another Name", created_at: 1 } };
    expect(await stub.credit({ op_id: op, amount: 1_000, currency: "ARS", merchant_id: MERCHANT, projection: renamed })).toMatchObject({ outcome: "replayed" });
    expect(await balanceOf(stub)).toEqual({ available: 1_000, reserved: 0 });
    expect(await stub.balance("USD")).toMatchObject({ available: 0 });
    expect(await entryCount(stub)).toBe(1);
  });

  it("keeps its operations across an eviction (idempotency is durable, not in memory)", async () => {
    const stub = freshAccount();
    const op = uniqueId("pay");
    await credit(stub, op, 700);
    await evictDurableObject(stub);
    expect(await credit(stub, op, 700)).toMatchObject({ outcome: "replayed", balance: { available: 700 } });
    expect(await entryCount(stub)).toBe(1);
  });

  it("keeps currencies apart", async () => {
    const stub = freshAccount();
    await credit(stub, uniqueId("pay"), 1_000);
    const op = uniqueId("pay");
    await stub.credit({ op_id: op, amount: 50, currency: "USD", merchant_id: MERCHANT, projection: paymentProjection(op, 50) });
    expect(await stub.balance("ARS")).toMatchObject({ available: 1_000 });
    expect(await stub.balance("USD")).toMatchObject({ available: 50 });
    expect(await stub.balance("EUR")).toMatchObject({ available: 0, reserved: 0, updated_at: 0 });
  });
});

describe("reserve", () => {
  it("refuses beyond available and records nothing; succeeds at exactly available", async () => {
    const stub = freshAccount();
    await credit(stub, uniqueId("pay"), 1_000);
    const refusedOp = uniqueId("po");

    const refused = await reserve(stub, refusedOp, 1_001);
    expect(refused).toMatchObject({ ok: false, reason: "insufficient_funds", balance: { available: 1_000, reserved: 0 } });
    expect(await balanceOf(stub)).toEqual({ available: 1_000, reserved: 0 });
    expect(await entryCount(stub)).toBe(1);
    expect(await stub.reservation(refusedOp)).toBeNull();
    expect(await outboxOf(stub)).toHaveLength(1); // only the credit's

    const exact = await reserve(stub, uniqueId("po"), 1_000);
    expect(exact).toMatchObject({ ok: true, replayed: false, state: "reserved", balance: { available: 0, reserved: 1_000 } });
    expect(await reserve(stub, uniqueId("po"), 1)).toMatchObject({ ok: false, reason: "insufficient_funds" });
  });

  it("lets a refused op_id succeed later, once funds arrived (the refusal was not remembered)", async () => {
    const stub = freshAccount();
    const op = uniqueId("po");
    expect(await reserve(stub, op, 500)).toMatchObject({ ok: false });
    await credit(stub, uniqueId("pay"), 500);
    expect(await reserve(stub, op, 500)).toMatchObject({ ok: true, replayed: false, state: "reserved" });
  });

  it("replays a repeat with the same data, refuses one with other data, and never reserves twice", async () => {
    const stub = freshAccount();
    await credit(stub, uniqueId("pay"), 1_000);
    const op = uniqueId("po");
    expect(await reserve(stub, op, 300)).toMatchObject({ ok: true, replayed: false, state: "reserved" });
    const again = await reserve(stub, op, 300);
    expect(again).toMatchObject({ ok: true, replayed: true, state: "reserved", balance: { available: 700, reserved: 300 } });
    // Another amount (or any other field of the payout) under the same id moves nothing.
    expect(await reserve(stub, op, 5_000)).toMatchObject({ ok: false, reason: "conflict", balance: { available: 700, reserved: 300 } });
    expect(await reserve(stub, op, 200)).toMatchObject({ ok: false, reason: "conflict" });
    const elsewhere = payoutProjection(op, 300);
    if (elsewhere.kind === "payout.created") elsewhere.payout.destination_cbu = "0110599520000001234569";
    expect(await stub.reserve({ op_id: op, amount: 300, currency: "ARS", merchant_id: MERCHANT, projection: elsewhere })).toMatchObject({ ok: false, reason: "conflict" });
    expect(await entryCount(stub)).toBe(2);
    expect(await stub.reservation(op)).toEqual({ state: "reserved", amount: 300 });
  });

  it("reports the reservation's current state on a repeat after it was released", async () => {
    const stub = freshAccount();
    await credit(stub, uniqueId("pay"), 1_000);
    const op = uniqueId("po");
    await reserve(stub, op, 400);
    await stub.release(op);
    expect(await reserve(stub, op, 400)).toMatchObject({ ok: true, replayed: true, state: "released", balance: { available: 1_000, reserved: 0 } });
  });

  it("lets exactly 10 of 30 concurrent reservations through a balance worth 10", async () => {
    const stub = freshAccount();
    await credit(stub, uniqueId("pay"), 10 * 250);
    const results = await Promise.all(Array.from({ length: 30 }, () => reserve(stub, uniqueId("po"), 250)));
    expect(results.filter((result) => result.ok)).toHaveLength(10);
    expect(results.filter((result) => !result.ok && result.reason === "insufficient_funds")).toHaveLength(20);
    expect(await balanceOf(stub)).toEqual({ available: 0, reserved: 2_500 });
    expect(await entryCount(stub)).toBe(11);
    expect(await outboxOf(stub)).toHaveLength(11);
    expect(await stub.verify()).toMatchObject({ ok: true, detail: [] });
  });
});

describe("settle and release", () => {
  async function reserved(amount = 600) {
    const stub = freshAccount();
    await credit(stub, uniqueId("pay"), 1_000);
    const op = uniqueId("po");
    await reserve(stub, op, amount);
    return { stub, op };
  }

  it("settle consumes the reservation; a second settle is a replay; release after settle is invalid_state", async () => {
    const { stub, op } = await reserved();
    expect(await stub.settle(op)).toMatchObject({ ok: true, replayed: false, state: "settled", balance: { available: 400, reserved: 0 } });
    expect(await stub.settle(op)).toMatchObject({ ok: true, replayed: true, state: "settled", balance: { available: 400, reserved: 0 } });
    expect(await stub.release(op)).toEqual({ ok: false, reason: "invalid_state", state: "settled" });
    expect(await balanceOf(stub)).toEqual({ available: 400, reserved: 0 });
    expect(await entryCount(stub)).toBe(3);
  });

  it("release returns the funds; a second release is a replay; settle after release is invalid_state", async () => {
    const { stub, op } = await reserved();
    expect(await stub.release(op)).toMatchObject({ ok: true, replayed: false, state: "released", balance: { available: 1_000, reserved: 0 } });
    expect(await stub.release(op)).toMatchObject({ ok: true, replayed: true, state: "released", balance: { available: 1_000, reserved: 0 } });
    expect(await stub.settle(op)).toEqual({ ok: false, reason: "invalid_state", state: "released" });
    expect(await balanceOf(stub)).toEqual({ available: 1_000, reserved: 0 });
    expect(await entryCount(stub)).toBe(3);
  });

  it("answers unknown_operation for an op it never reserved, including a credit's op", async () => {
    const stub = freshAccount();
    const creditOp = uniqueId("pay");
    await credit(stub, creditOp, 1_000);
    expect(await stub.settle(uniqueId("po"))).toEqual({ ok: false, reason: "unknown_operation" });
    expect(await stub.release(uniqueId("po"))).toEqual({ ok: false, reason: "unknown_operation" });
    expect(await stub.settle(creditOp)).toEqual({ ok: false, reason: "unknown_operation" });
    expect(await stub.release(creditOp)).toEqual({ ok: false, reason: "unknown_operation" });
    expect(await balanceOf(stub)).toEqual({ available: 1_000, reserved: 0 });
  });

  it("settles once under concurrent settle and release: exactly one wins", async () => {
    const { stub, op } = await reserved(1_000);
    const [settled, released] = await Promise.all([stub.settle(op), stub.release(op)]);
    expect([settled.ok, released.ok].filter(Boolean)).toHaveLength(1);
    const balance = await balanceOf(stub);
    expect(balance.reserved).toBe(0);
    expect([0, 1_000]).toContain(balance.available);
    expect(await stub.verify()).toMatchObject({ ok: true });
  });
});

describe("amounts", () => {
  const bad: [string, unknown][] = [
    ["zero", 0],
    ["negative", -100],
    ["fractional", 1.5],
    ["NaN", Number.NaN],
    ["Infinity", Number.POSITIVE_INFINITY],
    ["2^53", 2 ** 53],
    ["a numeric string", "100"],
  ];

  it.each(bad)("refuses a %s credit: the call rejects and nothing changes", async (_label, amount) => {
    const stub = freshAccount();
    await credit(stub, uniqueId("pay"), 1_000);
    const op = uniqueId("pay");
    await expect(rejecting(stub, (account) => account.credit({ op_id: op, amount: amount as number, currency: "ARS", merchant_id: MERCHANT, projection: paymentProjection(op, 1) }))).rejects.toThrow(
      /positive safe integer/,
    );
    expect(await balanceOf(stub)).toEqual({ available: 1_000, reserved: 0 });
    expect(await entryCount(stub)).toBe(1);
    expect(await operationCount(stub)).toBe(1);
    expect(await outboxOf(stub)).toHaveLength(1);
    // The op_id was not consumed: a valid credit under it applies.
    expect(await credit(stub, op, 10)).toMatchObject({ outcome: "applied", balance: { available: 1_010 } });
  });

  it.each(bad)("refuses a %s reservation: the call rejects and nothing changes", async (_label, amount) => {
    const stub = freshAccount();
    await credit(stub, uniqueId("pay"), 1_000);
    const op = uniqueId("po");
    await expect(rejecting(stub, (account) => account.reserve({ op_id: op, amount: amount as number, currency: "ARS", merchant_id: MERCHANT, projection: payoutProjection(op, 1) }))).rejects.toThrow(
      /positive safe integer/,
    );
    expect(await balanceOf(stub)).toEqual({ available: 1_000, reserved: 0 });
    expect(await entryCount(stub)).toBe(1);
    expect(await stub.reservation(op)).toBeNull();
    expect(await outboxOf(stub)).toHaveLength(1);
  });

  it("refuses cleanly a credit that would take the balance past 2^53 - 1, and records nothing", async () => {
    const stub = freshAccount();
    await credit(stub, uniqueId("pay"), Number.MAX_SAFE_INTEGER);
    const op = uniqueId("pay");
    expect(await credit(stub, op, 1)).toMatchObject({ outcome: "overflow", balance: { available: Number.MAX_SAFE_INTEGER } });
    expect(await balanceOf(stub)).toEqual({ available: Number.MAX_SAFE_INTEGER, reserved: 0 });
    expect(await stub.reservation(op)).toBeNull();
    expect(await entryCount(stub)).toBe(1);
    expect(await outboxOf(stub)).toHaveLength(1);
  });
});

describe("revertCredit", () => {
  it("refuses an applied credit once, removes its outbox row, and a replay of the credit replays the refusal", async () => {
    const stub = freshAccount();
    const keep = uniqueId("pay");
    const op = uniqueId("pay");
    await credit(stub, keep, 200);
    await credit(stub, op, 500);
    expect(await outboxOf(stub)).toEqual([keep, op]);

    expect(await stub.revertCredit(op)).toEqual({ reverted: true });
    expect(await balanceOf(stub)).toEqual({ available: 200, reserved: 0 });
    expect(await outboxOf(stub)).toEqual([keep]);
    expect(await stub.revertCredit(op)).toEqual({ reverted: false });
    expect(await balanceOf(stub)).toEqual({ available: 200, reserved: 0 });
    expect(await stub.entries({ limit: 100 })).toEqual(
      expect.arrayContaining([expect.objectContaining({ op_id: `${op}:revert`, kind: "revert", available_delta: -500 })]),
    );

    expect(await credit(stub, op, 500)).toMatchObject({ outcome: "refused", balance: { available: 200 } });
    expect(await credit(stub, op, 600)).toMatchObject({ outcome: "conflict", balance: { available: 200 } });
    expect(await stub.verify()).toMatchObject({ ok: true });
  });

  it("a credit reverted (not refused) applies again on the next attempt, with that attempt's data", async () => {
    const stub = freshAccount();
    const op = uniqueId("pay");
    await credit(stub, op, 500);
    expect(await stub.revertCredit(op, "reverted")).toEqual({ reverted: true });
    expect(await balanceOf(stub)).toEqual({ available: 0, reserved: 0 });
    expect(await outboxOf(stub)).toEqual([]);
    expect(await credit(stub, op, 500)).toMatchObject({ outcome: "applied", balance: { available: 500 } });
    expect(await outboxOf(stub)).toEqual([op]);
    expect(await credit(stub, op, 500)).toMatchObject({ outcome: "replayed", balance: { available: 500 } });
    expect(await stub.verify()).toMatchObject({ ok: true });
  });

  it("reverts nothing for an unknown op or a reservation", async () => {
    const stub = freshAccount();
    await credit(stub, uniqueId("pay"), 1_000);
    const po = uniqueId("po");
    await reserve(stub, po, 300);
    expect(await stub.revertCredit(uniqueId("pay"))).toEqual({ reverted: false });
    expect(await stub.revertCredit(po)).toEqual({ reverted: false });
    expect(await balanceOf(stub)).toEqual({ available: 700, reserved: 300 });
    expect(await entryCount(stub)).toBe(2);
  });

  it("may leave available negative (owed) when the credit was already reserved; the balance still equals its entries", async () => {
    const stub = freshAccount();
    const op = uniqueId("pay");
    await credit(stub, op, 500);
    await reserve(stub, uniqueId("po"), 500);
    expect(await stub.revertCredit(op)).toEqual({ reverted: true });
    expect(await balanceOf(stub)).toEqual({ available: -500, reserved: 500 });
    const verification = await stub.verify();
    expect(verification.balances[0]).toMatchObject({ available: -500, reserved: 500 });
    expect(verification.detail.filter((line) => line.includes("≠"))).toEqual([]);
  });
});

describe("verify", () => {
  it("holds after a mix of operations, and the balance equals the sum of the entries", async () => {
    const stub = freshAccount();
    const ops = { a: uniqueId("pay"), b: uniqueId("pay"), c: uniqueId("pay"), p1: uniqueId("po"), p2: uniqueId("po"), p3: uniqueId("po") };
    await credit(stub, ops.a, 10_000);
    await credit(stub, ops.b, 2_500);
    await credit(stub, ops.b, 2_500); // replay
    await reserve(stub, ops.p1, 4_000);
    await reserve(stub, ops.p2, 3_000);
    await reserve(stub, ops.p3, 6_000); // refused
    await stub.settle(ops.p1);
    await stub.release(ops.p2);
    await stub.release(ops.p2); // replay
    await credit(stub, ops.c, 1);
    await stub.revertCredit(ops.c);

    const entries = await stub.entries({ limit: 100 });
    const sum = (key: "available_delta" | "reserved_delta") => entries.reduce((total, entry) => total + entry[key], 0);
    const verification = await stub.verify();
    expect(verification).toMatchObject({ ok: true, detail: [] });
    expect(verification.balances).toHaveLength(1);
    expect(verification.balances[0]).toMatchObject({ currency: "ARS", available: sum("available_delta"), reserved: sum("reserved_delta") });
    expect(await balanceOf(stub)).toEqual({ available: 8_500, reserved: 0 });
    expect(entries).toHaveLength(8);
    // Newest first.
    expect(entries.map((entry) => entry.seq)).toEqual([...entries.map((entry) => entry.seq)].sort((x, y) => y - x));
  });

  it("detects a cached balance that disagrees with the entries", async () => {
    const stub = freshAccount();
    await credit(stub, uniqueId("pay"), 1_000);
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE balances SET available = available + 1");
    });
    const verification = await stub.verify();
    expect(verification.ok).toBe(false);
    expect(verification.detail.join(" ")).toMatch(/1001.*≠ entries 1000/);
  });
});

describe("the outbox", () => {
  it("holds one row per credit and per reservation, keeps a settled one, and drops a released one", async () => {
    const stub = freshAccount();
    const pay = uniqueId("pay");
    const kept = uniqueId("po");
    const dropped = uniqueId("po");
    await credit(stub, pay, 1_000);
    await credit(stub, pay, 1_000); // replay: no second row
    await reserve(stub, kept, 300);
    await reserve(stub, kept, 300); // replay: no second row
    await reserve(stub, dropped, 200);
    expect(await outboxOf(stub)).toEqual([pay, kept, dropped]);
    expect((await stub.verify()).outbox).toBe(3);

    await stub.settle(kept);
    await stub.release(dropped);
    expect(await outboxOf(stub)).toEqual([pay, kept]);
    expect((await stub.verify()).outbox).toBe(2);
  });

  it("stores the projection it was given, verbatim", async () => {
    const stub = freshAccount();
    const op = uniqueId("pay");
    const projection = paymentProjection(op, 123);
    await stub.credit({ op_id: op, amount: 123, currency: "ARS", merchant_id: MERCHANT, projection });
    const stored = await runInDurableObject(stub, (_instance, state) => state.storage.sql.exec("SELECT projection FROM outbox WHERE op_id = ?", op).one().projection as string);
    expect(JSON.parse(stored)).toEqual(projection);
  });

  it("schedules an alarm when it writes", async () => {
    const stub = freshAccount();
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toBeNull();
    await credit(stub, uniqueId("pay"), 10);
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toEqual(expect.any(Number));
  });
});

describe("the alarm", () => {
  it("replays a projection D1 never received, then empties the outbox", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const stub = customerAccountStub(env, customer.id);
    const paymentId = uniqueId("pay");
    const projection = paymentProjection(paymentId, 4_200, customer.id, merchant.id);

    // The object commits, and the Worker dies before projecting to D1.
    expect(await stub.credit({ op_id: paymentId, amount: 4_200, currency: "ARS", merchant_id: merchant.id, projection })).toMatchObject({ outcome: "applied" });
    expect(await outboxOf(stub)).toEqual([paymentId]);
    expect((await api(`/v1/payments/${paymentId}`, { headers: bearer(merchant.api_key) })).status).toBe(404);

    await ageOutbox(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);

    expect(await outboxOf(stub)).toEqual([]);
    const payment = await api(`/v1/payments/${paymentId}`, { headers: bearer(merchant.api_key) });
    expect(payment.status).toBe(200);
    expect(await payment.json()).toMatchObject({ id: paymentId, status: "credited", amount: 4_200, customer_id: customer.id, merchant_id: merchant.id });
    const merchantBalance = await api("/v1/merchant/balance", { headers: bearer(merchant.api_key) });
    expect(await merchantBalance.json()).toMatchObject({ available: 4_200 });
    const confirmed = await env.DB.prepare("SELECT id FROM applied_projections WHERE id = ?").bind(`${paymentId}/${customer.id}`).first();
    expect(confirmed).not.toBeNull();
    expect(await runDurableObjectAlarm(stub)).toBe(false); // nothing left, nothing rescheduled
    await expectInvariants();
  });

  it("only reads when D1 already confirmed the projection, and still empties the outbox", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const stub = customerAccountStub(env, customer.id);
    const paymentId = uniqueId("pay");
    const projection = paymentProjection(paymentId, 900, customer.id, merchant.id);
    await stub.credit({ op_id: paymentId, amount: 900, currency: "ARS", merchant_id: merchant.id, projection });
    // The Worker projected it itself, as it normally does.
    const { applyProjection } = await import("../../src/accounts/projections");
    expect(await applyProjection(env.DB, projection)).toBe("applied");
    const settlementBefore = await env.DB.prepare("SELECT posted_debits FROM ledger_accounts WHERE id = 'la_settlement_ars'").first<{ posted_debits: number }>();

    await ageOutbox(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await outboxOf(stub)).toEqual([]);
    const settlementAfter = await env.DB.prepare("SELECT posted_debits FROM ledger_accounts WHERE id = 'la_settlement_ars'").first<{ posted_debits: number }>();
    expect(settlementAfter).toEqual(settlementBefore);
    await expectInvariants();
  });
});
