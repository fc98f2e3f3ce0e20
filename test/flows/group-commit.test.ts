/**
 * The group commit (src/accounts/group-commit.ts): a cash-in answers once its customer's
 * object has it, and D1 receives many cash-ins per batch. These tests drive the pipeline
 * itself: D1 trailing the 200, groups of many, a group dying half-way or right after its
 * batch, two versions of one bank transaction in one group, and the bounded buffer.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { customerAccountStub } from "../../src/accounts/customer-account";
import { groupCommit } from "../../src/accounts/group-commit";
import type { PaymentProjection } from "../../src/accounts/group-commit-statements";
import { paymentIdOf } from "../../src/cashins/receive-transfer";
import { armFault, disarmFaults } from "../../src/faults";
import { accountLimits } from "../../src/limits";
import { counters } from "../../src/metrics";
import { api, createCustomer, createMerchant, json, operatorHeaders, type TestMerchant } from "../helpers";
import {
  depositReference,
  drainGroupCommit,
  expectInvariants,
  merchantBalance,
  fundedCustomer,
  objectBalance,
  ownSender,
  postPayout,
  runAccountAlarm,
  sendBankEvent,
  transferEvent,
  uniqueId,
} from "../money";

async function paymentCount(ids: string[]): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM payments WHERE id IN (SELECT value FROM json_each(?))").bind(JSON.stringify(ids)).first<{ n: number }>();
  return row!.n;
}

async function customersOf(merchant: TestMerchant, count: number) {
  const customers = [];
  for (let index = 0; index < count; index++) {
    const customer = await createCustomer(merchant.api_key);
    customers.push({ ...customer, reference: await depositReference(merchant.api_key, customer.id) });
  }
  return customers;
}

describe("group commit", () => {
  it("writes many concurrent cash-ins in few batches, moving each merchant's balance row once per batch", async () => {
    const hot = await createMerchant();
    const other = await createMerchant();
    const customers = [...(await customersOf(hot, 6)).map((customer) => ({ ...customer, merchant: hot })), ...(await customersOf(other, 2)).map((customer) => ({ ...customer, merchant: other }))];
    const before = { ...counters };
    const events = Array.from({ length: 40 }, (_, index) => {
      const customer = customers[index % customers.length]!;
      return { customer, event: transferEvent({ amount: 1_000 + index, concepto: customer.reference }) };
    });
    const responses = await Promise.all(events.map(({ event }) => sendBankEvent(event, { drain: false })));
    expect(responses.map((response) => response.status)).toEqual(Array(40).fill(200));
    await drainGroupCommit();

    const ids = await Promise.all(events.map(({ event }) => paymentIdOf(event.data.bank_transaction_id)));
    expect(await paymentCount(ids)).toBe(40);
    const groups = counters.group_commits - before.group_commits;
    expect(counters.group_commit_operations - before.group_commit_operations).toBe(40);
    expect(groups).toBeGreaterThanOrEqual(1);
    // Each group updates each of its merchants' rows once: never once per cash-in.
    const merchantRows = counters.merchant_row_writes - before.merchant_row_writes;
    expect(merchantRows).toBeLessThanOrEqual(groups * 2);
    expect(merchantRows).toBeGreaterThanOrEqual(2);

    const sumFor = (merchant: TestMerchant) => events.filter(({ customer }) => customer.merchant === merchant).reduce((total, { event }) => total + event.data.amount, 0);
    expect((await merchantBalance(hot.api_key)).available).toBe(sumFor(hot));
    expect((await merchantBalance(other.api_key)).available).toBe(sumFor(other));
    for (const customer of customers) {
      const expected = events.filter((item) => item.customer === customer).reduce((total, { event }) => total + event.data.amount, 0);
      expect((await objectBalance(customer.id)).available).toBe(expected);
    }
    await expectInvariants();
  });

  it("answers before D1: a group that dies half-way writes nothing, and each customer's alarm writes its cash-in once", async () => {
    const merchant = await createMerchant();
    const customers = await customersOf(merchant, 3);
    const events = customers.map((customer, index) => transferEvent({ amount: 5_000 + index, concepto: customer.reference }));
    const ids = await Promise.all(events.map((event) => paymentIdOf(event.data.bank_transaction_id)));
    armFault("groupcommit.inside_batch");
    try {
      const responses = [];
      for (const event of events) responses.push(await sendBankEvent(event, { drain: false }));
      // Every cash-in was acknowledged: the 200 waits for the customer's object, not for D1.
      expect(responses.map((response) => response.status)).toEqual([200, 200, 200]);
      await drainGroupCommit();
    } finally {
      disarmFaults();
    }
    // The group died inside its batch: D1 rolled all of it back (its first group at least).
    expect(await paymentCount(ids)).toBeLessThan(3);
    for (const [index, customer] of customers.entries()) expect((await objectBalance(customer.id)).available).toBe(5_000 + index);

    for (const customer of customers) await runAccountAlarm(customer.id);
    expect(await paymentCount(ids)).toBe(3);
    expect((await merchantBalance(merchant.api_key)).available).toBe(15_003);
    // A redelivery now replays: nothing moves twice.
    for (const event of events) expect((await sendBankEvent(event)).status).toBe(200);
    expect((await merchantBalance(merchant.api_key)).available).toBe(15_003);
    await expectInvariants();
  });

  it("after the batch, before the objects heard of it: the alarm finds it confirmed and writes nothing twice", async () => {
    const merchant = await createMerchant();
    const [customer] = await customersOf(merchant, 1);
    const event = transferEvent({ amount: 7_777, concepto: customer!.reference });
    armFault("groupcommit.after_batch");
    try {
      expect((await sendBankEvent(event)).status).toBe(200);
    } finally {
      disarmFaults();
    }
    expect(await paymentCount([await paymentIdOf(event.data.bank_transaction_id)])).toBe(1);
    expect(await customerAccountStub(env, customer!.id).unprojected()).toBe(1);
    await runAccountAlarm(customer!.id);
    expect(await customerAccountStub(env, customer!.id).unprojected()).toBe(0);
    expect((await merchantBalance(merchant.api_key)).available).toBe(7_777);
    await expectInvariants();
  });

  it("two versions of one bank transaction in one group, credited to two customers: the first stands, the second is undone and its event stored failed", async () => {
    const merchant = await createMerchant();
    const [first, second] = await customersOf(merchant, 2);
    const bank_transaction_id = uniqueId("bt");
    // Both objects credited (as two isolates racing inside one commit window would do).
    const projections = await Promise.all(
      [first!, second!].map(async (customer, index) => {
        const event = transferEvent({ amount: 9_000, concepto: customer.reference, bank_transaction_id });
        const payment_id = await paymentIdOf(bank_transaction_id);
        const projection: PaymentProjection = {
          kind: "payment.recorded",
          op_id: payment_id,
          event: { id: event.id, type: event.type, payload: JSON.stringify(event), received_at: Date.now() + index },
          payment: {
            id: payment_id,
            bank_transaction_id,
            status: "credited",
            amount: 9_000,
            currency: "ARS",
            customer_id: customer.id,
            merchant_id: merchant.id,
            sender_cuit: event.data.sender.cuit ?? null,
            sender_name: event.data.sender.name ?? null,
            sender_cbu: event.data.sender.cbu ?? null,
            concepto: event.data.concepto,
            destination_account_number: null,
            matched_by: "customer_reference",
            booked_at: Date.now(),
            created_at: Date.now(),
          },
        };
        const credit = await customerAccountStub(env, customer.id).credit({ op_id: payment_id, amount: 9_000, currency: "ARS", merchant_id: merchant.id, projection });
        expect(credit.outcome).toBe("applied");
        return projection;
      }),
    );
    const kept: Promise<unknown>[] = [];
    for (const projection of projections) expect(groupCommit.offer(env, projection, (promise) => kept.push(promise))).toBe(true);
    await drainGroupCommit();

    expect(await paymentCount([projections[0]!.payment.id])).toBe(1);
    expect((await objectBalance(first!.id)).available).toBe(9_000);
    expect((await objectBalance(second!.id)).available).toBe(0);
    const failed = await env.DB.prepare("SELECT status, error FROM bank_events WHERE id = ?").bind(projections[1]!.event!.id).first<{ status: string; error: string }>();
    expect(failed).toMatchObject({ status: "failed" });
    expect(failed!.error).toContain("exists_with_different_data");
    expect((await merchantBalance(merchant.api_key)).available).toBe(9_000);
    await expectInvariants();
  });

  it("a credit the group commit will refuse cannot be paid out in the moment before it is undone", async () => {
    const { merchant, customer: bob } = await fundedCustomer(1);
    const alice = await createCustomer(merchant.api_key);
    const first = transferEvent({ amount: 3_000, concepto: await depositReference(merchant.api_key, alice.id) });
    expect((await sendBankEvent(first)).status).toBe(200); // D1 records Alice's version
    // Another version of the same transfer credited to Bob's object, as a delivery racing in
    // another isolate would, before the group commit undoes it.
    const payment_id = await paymentIdOf(first.data.bank_transaction_id);
    const phantom: PaymentProjection = {
      kind: "payment.recorded",
      op_id: payment_id,
      event: { id: uniqueId("evt"), type: "transfer.received", payload: "{}", received_at: Date.now() },
      payment: {
        id: payment_id,
        bank_transaction_id: first.data.bank_transaction_id,
        status: "credited",
        amount: 3_000,
        currency: "ARS",
        customer_id: bob.id,
        merchant_id: merchant.id,
        sender_cuit: first.data.sender.cuit ?? null,
        sender_name: null,
        sender_cbu: first.data.sender.cbu ?? null,
        concepto: await depositReference(merchant.api_key, bob.id),
        destination_account_number: null,
        matched_by: "customer_reference",
        booked_at: Date.now(),
        created_at: Date.now(),
      },
    };
    const bobs = customerAccountStub(env, bob.id);
    expect((await bobs.credit({ op_id: payment_id, amount: 3_000, currency: "ARS", merchant_id: merchant.id, projection: phantom })).outcome).toBe("applied");
    expect((await objectBalance(bob.id)).available).toBe(3_001);

    // Bob's object and the merchant's D1 balance (3,001) would both cover it; Bob's D1 account
    // (1) does not, and refuses: the payout is rejected whole and the object releases it.
    const payout = await postPayout(merchant.api_key, { customer_id: bob.id, amount: 3_000 });
    expect(payout.status).toBe(422);
    expect(await payout.json()).toMatchObject({ code: "insufficient_funds" });
    expect(await objectBalance(bob.id)).toEqual({ available: 3_001, reserved: 0 });
    expect((await merchantBalance(merchant.api_key)).available).toBe(3_001);

    expect(groupCommit.offer(env, phantom, () => undefined)).toBe(true);
    await drainGroupCommit();
    expect(await objectBalance(bob.id)).toEqual({ available: 1, reserved: 0 });
    expect((await merchantBalance(merchant.api_key)).available).toBe(3_001);
    await expectInvariants();
  });

  it("a reversal arriving while its cash-in waits for its group commit applies it first, then reverses it", async () => {
    const merchant = await createMerchant();
    const [customer] = await customersOf(merchant, 1);
    const cashIn = transferEvent({ amount: 10_000, concepto: customer!.reference });
    expect((await sendBankEvent(cashIn, { drain: false })).status).toBe(200);
    const reversal = { id: uniqueId("evt"), type: "transfer.reversed", created_at: new Date().toISOString(), data: { bank_transaction_id: cashIn.data.bank_transaction_id, reversal_id: uniqueId("rev"), reason: "fraud" } };
    expect((await sendBankEvent(reversal)).status).toBe(200);
    expect(await objectBalance(customer!.id)).toEqual({ available: 0, reserved: 0 });
    expect((await merchantBalance(merchant.api_key)).available).toBe(0);
    await expectInvariants();
  });

  it("a reversal of a cash-in D1 does not have yet is not refused for good: stored failed, answered 500, applied on redelivery", async () => {
    const merchant = await createMerchant();
    const [customer] = await customersOf(merchant, 1);
    const cashIn = transferEvent({ amount: 4_000, concepto: customer!.reference });
    const reversal = { id: uniqueId("evt"), type: "transfer.reversed", created_at: new Date().toISOString(), data: { bank_transaction_id: cashIn.data.bank_transaction_id, reversal_id: uniqueId("rev"), reason: "fraud" } };
    // The cash-in is acknowledged, but its group dies: D1 has no payment until the alarm runs.
    armFault("groupcommit.inside_batch");
    try {
      expect((await sendBankEvent(cashIn)).status).toBe(200);
    } finally {
      disarmFaults();
    }
    expect((await sendBankEvent(reversal)).status).toBe(500); // the bank redelivers
    const stored = await env.DB.prepare("SELECT status FROM bank_events WHERE id = ?").bind(reversal.id).first<{ status: string }>();
    expect(stored).toMatchObject({ status: "failed" }); // the operator sees it meanwhile
    await runAccountAlarm(customer!.id);
    expect((await sendBankEvent(reversal)).status).toBe(200);
    const applied = await env.DB.prepare("SELECT status FROM bank_events WHERE id = ?").bind(reversal.id).first<{ status: string }>();
    expect(applied).toMatchObject({ status: "processed" });
    expect(await objectBalance(customer!.id)).toEqual({ available: 0, reserved: 0 });
    expect((await merchantBalance(merchant.api_key)).available).toBe(0);
    await expectInvariants();
  });

  it("a refused credit undone by the customer's alarm (the group never wrote it) still stores its event as failed", async () => {
    const merchant = await createMerchant();
    const [alice, bob] = await customersOf(merchant, 2);
    const first = transferEvent({ amount: 2_500, concepto: alice!.reference });
    expect((await sendBankEvent(first)).status).toBe(200);
    const payment_id = await paymentIdOf(first.data.bank_transaction_id);
    const eventId = uniqueId("evt");
    const other: PaymentProjection = {
      kind: "payment.recorded",
      op_id: payment_id,
      event: { id: eventId, type: "transfer.received", payload: "{}", received_at: Date.now() },
      payment: {
        id: payment_id,
        bank_transaction_id: first.data.bank_transaction_id,
        status: "credited",
        amount: 2_500,
        currency: "ARS",
        customer_id: bob!.id,
        merchant_id: merchant.id,
        sender_cuit: first.data.sender.cuit ?? null,
        sender_name: null,
        sender_cbu: first.data.sender.cbu ?? null,
        concepto: bob!.reference,
        destination_account_number: null,
        matched_by: "customer_reference",
        booked_at: Date.now(),
        created_at: Date.now(),
      },
    };
    expect((await customerAccountStub(env, bob!.id).credit({ op_id: payment_id, amount: 2_500, currency: "ARS", merchant_id: merchant.id, projection: other })).outcome).toBe("applied");
    await runAccountAlarm(bob!.id); // as if the isolate died before the group was written
    expect(await objectBalance(bob!.id)).toEqual({ available: 0, reserved: 0 });
    const stored = await env.DB.prepare("SELECT status, error FROM bank_events WHERE id = ?").bind(eventId).first<{ status: string; error: string }>();
    expect(stored).toMatchObject({ status: "failed" });
    expect(stored!.error).toContain("exists_with_different_data");
    await expectInvariants();
  });

  it("a payout right after a cash-in this isolate has not written yet finds the money (the group is written first)", async () => {
    const { merchant, customer } = await fundedCustomer(1_000);
    const reference = await depositReference(merchant.api_key, customer.id);
    const cashIn = transferEvent({ amount: 5_000, concepto: reference, sender: await ownSender(customer.id) });
    expect((await sendBankEvent(cashIn, { drain: false })).status).toBe(200);
    const payout = await postPayout(merchant.api_key, { customer_id: customer.id, amount: 6_000 });
    expect(payout.status).toBe(201);
    expect(await objectBalance(customer.id)).toEqual({ available: 0, reserved: 6_000 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 0, reserved: 6_000 });
    await expectInvariants();
  });

  it("a delivery routed to the customer an operator already assigned the payment to is superseded, not a second credit (group and alarm)", async () => {
    const merchant = await createMerchant();
    const [alice, bob] = await customersOf(merchant, 2);
    for (const [customer, path] of [[alice!, "group"], [bob!, "alarm"]] as const) {
      const held = transferEvent({ amount: 6_000, concepto: "sin referencia" });
      expect((await sendBankEvent(held)).status).toBe(200);
      const payment_id = await paymentIdOf(held.data.bank_transaction_id);
      const assigned = await api(`/v1/admin/quarantine/${payment_id}/assign`, json({ customer_id: customer.id, merchant_id: merchant.id }, operatorHeaders()));
      expect(assigned.status).toBe(200);
      expect((await objectBalance(customer.id)).available).toBe(6_000);
      // The same transfer, the same data, now routed to that customer (as a virtual account
      // number of API §11 would): the object has never seen this op id and credits it.
      const projection: PaymentProjection = {
        kind: "payment.recorded",
        op_id: payment_id,
        event: { id: uniqueId("evt"), type: "transfer.received", payload: "{}", received_at: Date.now() },
        payment: {
          id: payment_id,
          bank_transaction_id: held.data.bank_transaction_id,
          status: "credited",
          amount: 6_000,
          currency: "ARS",
          customer_id: customer.id,
          merchant_id: merchant.id,
          sender_cuit: held.data.sender.cuit ?? null,
          sender_name: held.data.sender.name ?? null,
          sender_cbu: held.data.sender.cbu ?? null,
          concepto: held.data.concepto,
          destination_account_number: null,
          matched_by: "virtual_account",
          booked_at: Date.now(),
          created_at: Date.now(),
        },
      };
      expect((await customerAccountStub(env, customer.id).credit({ op_id: payment_id, amount: 6_000, currency: "ARS", merchant_id: merchant.id, projection })).outcome).toBe("applied");
      if (path === "group") {
        expect(groupCommit.offer(env, projection, () => undefined)).toBe(true);
        await drainGroupCommit();
      } else {
        await runAccountAlarm(customer.id);
      }
      expect(await objectBalance(customer.id)).toEqual({ available: 6_000, reserved: 0 });
    }
    expect((await merchantBalance(merchant.api_key)).available).toBe(12_000);
    await expectInvariants();
  });

  it("bounds its buffer: past group_commit_buffer_max cash-ins, it refuses more and the caller writes its own", async () => {
    // A D1 that fails every query: the groups fail (logged; the objects' alarms would replay
    // them) and leave the real database alone.
    const failing = { prepare: () => ({ bind: () => ({ all: async () => Promise.reject(new Error("D1 unavailable (test)")) }) }) } as unknown as D1Database;
    const failingEnv = { ...env, DB: failing };
    const projection = (index: number): PaymentProjection => ({
      kind: "payment.recorded",
      op_id: `pay_buffer_${index}`,
      event: null,
      payment: {
        id: `pay_buffer_${index}`,
        bank_transaction_id: `bt_buffer_${index}`,
        status: "credited",
        amount: 1,
        currency: "ARS",
        customer_id: "cus_buffer",
        merchant_id: "mer_buffer",
        sender_cuit: null,
        sender_name: null,
        sender_cbu: null,
        concepto: null,
        destination_account_number: null,
        matched_by: "customer_reference",
        booked_at: 0,
        created_at: 0,
      },
    });
    await drainGroupCommit();
    const kept: Promise<unknown>[] = [];
    let accepted = 0;
    for (let index = 0; index <= accountLimits.group_commit_buffer_max; index++) {
      if (groupCommit.offer(failingEnv, projection(index), (promise) => kept.push(promise))) accepted++;
    }
    expect(accepted).toBe(accountLimits.group_commit_buffer_max);
    expect(groupCommit.waiting()).toBe(accountLimits.group_commit_buffer_max);
    await Promise.all(kept);
    await drainGroupCommit();
    expect(groupCommit.waiting()).toBe(0);
    // Full groups were sealed as they filled: never more than the group size per batch.
    expect(kept.length).toBeGreaterThanOrEqual(accountLimits.group_commit_buffer_max / accountLimits.group_commit_operations_max);
  });
});
