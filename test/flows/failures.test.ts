/**
 * A crash between any two steps of the cash-in and payout sagas: each test arms a fault
 * (src/faults.ts), lets the request die there, then lets the normal repair path run (the
 * bank's redelivery, the client's retry, the object's alarm, the repair cron) and proves the
 * balances are right, nothing happened twice, and the invariants hold.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { customerAccountStub } from "../../src/accounts/customer-account";
import { armFault, disarmFaults } from "../../src/faults";
import { repair } from "../../src/jobs/repair";
import { api, bearer, createCustomer, createMerchant, randomCbu, randomCuit } from "../helpers";
import {
  balanceOf,
  depositReference,
  drainPayoutQueue,
  expectInvariants,
  fundedCustomer,
  getPayout,
  merchantBalance,
  objectBalance,
  ownSender,
  postPayout,
  runAccountAlarm,
  sendBankEvent,
  transferEvent,
  uniqueId,
} from "../money";

afterEach(() => disarmFaults());

const later = (minutes: number) => Date.now() + minutes * 60_000;

async function paymentCount(apiKey: string): Promise<number> {
  const response = await api("/v1/payments?limit=100", { headers: bearer(apiKey) });
  return ((await response.json()) as { data: unknown[] }).data.length;
}

describe("cash-in interrupted", () => {
  async function referencedTransfer(amount: number) {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const event = transferEvent({ amount, concepto: await depositReference(merchant.api_key, customer.id) });
    return { merchant, customer, event };
  }

  it("after the customer's object committed, before D1: the bank's redelivery finishes it, once", async () => {
    const { merchant, customer, event } = await referencedTransfer(12_000);
    armFault("cashin.after_account_credit");
    expect((await sendBankEvent(event)).status).toBe(500);
    expect(await objectBalance(customer.id)).toMatchObject({ available: 12_000 }); // durable in the object
    // No payment in D1 yet, so none with this merchant: it may not see the balance (API §4).
    expect((await api(`/v1/customers/${customer.id}/balance`, { headers: bearer(merchant.api_key) })).status).toBe(404);
    expect(await paymentCount(merchant.api_key)).toBe(0);
    expect((await sendBankEvent(event)).status).toBe(200);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 12_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 12_000 });
    expect(await paymentCount(merchant.api_key)).toBe(1);
    await expectInvariants();
  });

  it("after the customer's object committed, with no redelivery: the object's alarm projects it", async () => {
    const { merchant, customer, event } = await referencedTransfer(8_000);
    armFault("cashin.after_account_credit");
    expect((await sendBankEvent(event)).status).toBe(500);
    expect(await runAccountAlarm(customer.id)).toBe(true);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 8_000 });
    expect(await paymentCount(merchant.api_key)).toBe(1);
    const stored = await api("/v1/admin/bank-events?status=processed&limit=100", { headers: bearer(env.ADMIN_API_KEY!) });
    const events = (await stored.json()) as { data: { id: string }[] };
    expect(events.data.map((row) => row.id)).toContain(event.id); // the raw event came with the projection
    expect((await sendBankEvent(event)).status).toBe(200); // a late redelivery changes nothing
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 8_000 });
    await expectInvariants();
  });

  it("after the alarm itself failed: the next alarm run finishes", async () => {
    const { merchant, customer, event } = await referencedTransfer(3_000);
    armFault("cashin.after_account_credit");
    await sendBankEvent(event);
    armFault("alarm.before_replay");
    // Run inside the object, so the injected throw reaches this test without crossing an RPC
    // boundary (workerd would print it as an uncaught exception of the object in a green run).
    const alarmRun = runInDurableObject(customerAccountStub(env, customer.id), (instance) => instance.flushProjections());
    await expect(alarmRun).rejects.toThrow(/injected fault at alarm.before_replay/);
    expect(await paymentCount(merchant.api_key)).toBe(0);
    // The runtime retries a failed alarm; here the next write reschedules it and the test runs it.
    const again = await sendBankEvent({ ...event, id: uniqueId("evt") });
    expect(again.status).toBe(200);
    await runAccountAlarm(customer.id);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 3_000 });
    await expectInvariants();
  });

  it("after routing auto-created the sender, before any credit: redelivery credits once, to one customer", async () => {
    const merchant = await createMerchant();
    const event = transferEvent({ amount: 6_000, concepto: merchant.reference, sender: { cuit: randomCuit(), name: "Crash Sender", cbu: randomCbu() } });
    armFault("cashin.before_account_credit");
    expect((await sendBankEvent(event)).status).toBe(500);
    expect((await sendBankEvent(event)).status).toBe(200);
    const page = (await (await api("/v1/payments", { headers: bearer(merchant.api_key) })).json()) as { data: { customer_id: string }[] };
    expect(page.data).toHaveLength(1);
    expect(await balanceOf(merchant.api_key, page.data[0]!.customer_id)).toMatchObject({ available: 6_000 });
    await expectInvariants();
  });

  it("when a repeat of one bank transaction routes to someone else while the first is unprojected: the duplicate is reverted", async () => {
    const merchant = await createMerchant();
    const alice = await createCustomer(merchant.api_key);
    const bob = await createCustomer(merchant.api_key);
    const toAlice = transferEvent({ amount: 5_000, concepto: await depositReference(merchant.api_key, alice.id) });
    const toBob = { ...toAlice, id: uniqueId("evt"), data: { ...toAlice.data, concepto: await depositReference(merchant.api_key, bob.id) } };
    armFault("cashin.after_account_credit");
    expect((await sendBankEvent(toAlice)).status).toBe(500); // Alice's object credited, D1 not
    expect((await sendBankEvent(toBob)).status).toBe(200); // Bob's recorded first in D1
    await runAccountAlarm(alice.id); // Alice's projection conflicts: her credit is reverted
    expect(await objectBalance(alice.id)).toMatchObject({ available: 0 }); // no payment of Alice's: only her object can tell
    expect(await balanceOf(merchant.api_key, bob.id)).toMatchObject({ available: 5_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 5_000 });
    await expectInvariants();
  });
});

describe("payout creation interrupted", () => {
  it("after the customer's reserve, before the merchant's: the client's retry finishes one payout", async () => {
    const { merchant, customer } = await fundedCustomer(50_000);
    const key = uniqueId("idem");
    const body = { customer_id: customer.id, amount: 20_000 };
    armFault("payout.after_customer_reserve");
    expect((await postPayout(merchant.api_key, body, key)).status).toBe(500);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 30_000, reserved: 20_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 50_000, reserved: 0 });
    const retry = await postPayout(merchant.api_key, body, key);
    expect(retry.status).toBe(201);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 30_000, reserved: 20_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 30_000, reserved: 20_000 });
    await expectInvariants();
  });

  it("after the customer's reserve, with no retry: the alarm records it and the repair job queues it", async () => {
    const { merchant, customer } = await fundedCustomer(50_000);
    armFault("payout.after_customer_reserve");
    expect((await postPayout(merchant.api_key, { customer_id: customer.id, amount: 20_000 })).status).toBe(500);
    await runAccountAlarm(customer.id);
    const list = (await (await api("/v1/payouts", { headers: bearer(merchant.api_key) })).json()) as { data: { id: string; status: string }[] };
    expect(list.data).toHaveLength(1);
    expect(list.data[0]).toMatchObject({ status: "pending" });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 30_000, reserved: 20_000 });
    expect((await repair(env, later(10))).requeued).toBeGreaterThanOrEqual(1);
    await drainPayoutQueue([list.data[0]!.id]);
    expect((await getPayout(merchant.api_key, list.data[0]!.id)).body).toMatchObject({ status: "processing" });
    await expectInvariants();
  });

  it("after D1 rejected it for the merchant, before the customer's release: the alarm releases", async () => {
    const rich = await createMerchant();
    const poor = await createMerchant();
    const customer = await createCustomer(rich.api_key, { cbu: randomCbu() });
    await createCustomer(poor.api_key, { cuit: customer.cuit, name: customer.name });
    const reference = await depositReference(rich.api_key, customer.id);
    // From the customer's own account, so that the poor merchant's payout may go back to it (API §7).
    expect((await sendBankEvent(transferEvent({ amount: 40_000, concepto: reference, sender: await ownSender(customer.id) }))).status).toBe(200);
    armFault("payout.after_rejection");
    expect((await postPayout(poor.api_key, { customer_id: customer.id, amount: 10_000 })).status).toBe(500);
    expect(await balanceOf(rich.api_key, customer.id)).toMatchObject({ available: 30_000, reserved: 10_000 });
    await runAccountAlarm(customer.id);
    expect(await balanceOf(rich.api_key, customer.id)).toMatchObject({ available: 40_000, reserved: 0 });
    await expectInvariants();
  });

  it("after D1 recorded it, before the queue heard of it: the retry answers the same payout; repair queues it", async () => {
    const { merchant, customer } = await fundedCustomer(50_000);
    const key = uniqueId("idem");
    armFault("payout.after_projection");
    expect((await postPayout(merchant.api_key, { customer_id: customer.id, amount: 5_000 }, key)).status).toBe(500);
    const retry = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 5_000 }, key);
    expect(retry.status).toBe(201);
    const payout = (await retry.json()) as { id: string };
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 45_000, reserved: 5_000 });
    expect((await repair(env, later(10))).requeued).toBeGreaterThanOrEqual(1);
    await drainPayoutQueue([payout.id]);
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "processing" });
    await expectInvariants();
  });
});

describe("payout settlement interrupted", () => {
  async function processingPayout() {
    const { merchant, customer } = await fundedCustomer(50_000);
    const response = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 20_000 });
    const payout = (await response.json()) as { id: string };
    return { merchant, customer, payout };
  }

  it("a cancel that died after D1 returned the funds: the repair job tells the customer's object", async () => {
    const { merchant, customer, payout } = await processingPayout();
    armFault("transition.after_ledger");
    const canceled = await api(`/v1/payouts/${payout.id}/cancel`, { method: "POST", headers: bearer(merchant.api_key) });
    expect(canceled.status).toBe(500);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 50_000, reserved: 0 });
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 30_000, reserved: 20_000 });
    expect((await repair(env, later(2))).synced).toBe(1);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 50_000, reserved: 0 });
    expect((await repair(env, later(2))).synced).toBe(0); // nothing left, nothing done twice
    await expectInvariants();
  });

  it("a payout.completed that died after D1: the bank's redelivery settles the object once", async () => {
    const { merchant, customer, payout } = await processingPayout();
    await drainPayoutQueue([payout.id]);
    const event = { id: uniqueId("evt"), type: "payout.completed", created_at: new Date().toISOString(), data: { payout_id: payout.id, bank_transaction_id: uniqueId("bt") } };
    armFault("transition.after_ledger");
    expect((await sendBankEvent(event)).status).toBe(500);
    expect((await sendBankEvent(event)).status).toBe(200);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 30_000, reserved: 0 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 30_000, reserved: 0 });
    await expectInvariants();
  });

  it("a submission that died after the claim: the queue's retry submits it once", async () => {
    const { merchant, payout } = await processingPayout();
    armFault("payout.after_claim");
    const first = await drainPayoutQueue([payout.id]);
    expect(first.retryMessages).toHaveLength(1);
    const second = await drainPayoutQueue([payout.id], 2);
    expect(second.explicitAcks).toHaveLength(1);
    expect((await getPayout(merchant.api_key, payout.id)).body).toMatchObject({ status: "processing" });
    const bank = env.SANDBOX_BANK.get(env.SANDBOX_BANK.idFromName("sandbox"));
    expect((await bank.settlePayout(payout.id, "completed", true)).ok).toBe(true);
    expect((await bank.settlePayout(payout.id, "completed", true)).ok).toBe(false); // the bank paid it once
  });
});

describe("a D1 outage longer than the runtime's alarm retries", () => {
  it("the object's alarm never gives up: it re-arms, records the customer, and the repair cron finishes the projection", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const event = transferEvent({ amount: 7_500, concepto: await depositReference(merchant.api_key, customer.id) });
    armFault("cashin.after_account_credit");
    expect((await sendBankEvent(event)).status).toBe(500); // the object credited, D1 nothing
    const stub = customerAccountStub(env, customer.id);

    armFault("alarm.before_replay"); // the alarm's run fails, as it would while D1 is down
    expect(await runDurableObjectAlarm(stub)).toBe(true); // ran, and did not throw
    expect(await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm())).toEqual(expect.any(Number)); // re-armed
    const recorded = await env.DB.prepare("SELECT customer_id, last_error FROM unprojected_customers WHERE customer_id = ?").bind(customer.id).first();
    expect(recorded).toMatchObject({ customer_id: customer.id, last_error: expect.stringMatching(/alarm.before_replay/) });
    expect(await paymentCount(merchant.api_key)).toBe(0);

    // The cron wakes the object, which projects; the record is then forgotten.
    expect((await repair(env, later(10))).drained).toBeGreaterThanOrEqual(1);
    expect(await paymentCount(merchant.api_key)).toBe(1);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 7_500 });
    expect(await env.DB.prepare("SELECT 1 FROM unprojected_customers WHERE customer_id = ?").bind(customer.id).first()).toBeNull();
    await expectInvariants();
  });
});
