/**
 * Pending repairs: what a crash legitimately leaves unfinished, and how the model finishes it.
 *
 *   credit   the customer's object credited a cash-in, D1 has no payment (the merchant's D1
 *            balance lags). The object's alarm projects it, or reverts it when D1 recorded
 *            another version of the same bank transfer first (`lost`).
 *   reserve  the object reserved a payout, D1 has nothing. The alarm projects it: D1 takes it
 *            if the merchant's available covers it, else records it rejected and the object
 *            releases.
 *   release  D1 rejected a payout, the object still holds the reservation: the alarm releases.
 *   sync     D1 settled, released or canceled a payout, the object was not told: the repair
 *            job (or a repeated cancel) tells it.
 *
 * The object's alarm fires on its own a grace period after the write. So that the model
 * knows when each repair happens, the harness runs the alarm itself (an explicit step, in the
 * trace) once a pending repair is half a grace period old, before the runtime would.
 */
import { env } from "cloudflare:workers";
import { customerAccountStub } from "../../src/accounts/customer-account";
import { repair } from "../../src/jobs/repair";
import { accountLimits } from "../../src/limits";
import { runAccountAlarm } from "../money";
import { mismatch } from "./checks";
import { creditMerchant, debitObject, releaseObject, reserveMerchant, settleObject } from "./effects";
import { note, paidThrough, type PendingRepair, type World } from "./world";

export function customerOf(world: World, item: PendingRepair): number {
  if (item.kind === "credit") return item.customer;
  return world.payouts[item.payout]!.customer!;
}

/**
 * The customer's available balance as D1's copy holds it: the object's, less the credits D1
 * does not have yet, plus the reservations D1 has not made (or rejected, or already released).
 * D1 refuses a payout this does not cover (migrations/0009), whatever the object allows.
 */
export function customerD1Available(world: World, customer: number): number {
  let available = world.customers[customer]!.object.available;
  for (const item of world.pending) {
    if (customerOf(world, item) !== customer) continue;
    if (item.kind === "credit") available -= item.amount;
    else if (item.kind === "reserve" || item.kind === "release") available += world.payouts[item.payout]!.amount;
    else if (item.op === "release") available += world.payouts[item.payout]!.amount;
  }
  return available;
}

function describe(world: World, item: PendingRepair): string {
  if (item.kind === "credit") return `${item.lost ? "revert the lost credit" : "project the credit"} of ${world.transfers[item.transfer]!.label}`;
  const payout = world.payouts[item.payout]!;
  if (item.kind === "sync") return `tell the object of ${payout.label}'s ${item.op}`;
  return `${item.kind} ${payout.label}`;
}

/** What the service does to finish `item`, applied to the model. */
export function resolve(world: World, item: PendingRepair): string {
  world.pending.splice(world.pending.indexOf(item), 1);
  switch (item.kind) {
    case "credit": {
      const transfer = world.transfers[item.transfer]!;
      if (item.lost) {
        debitObject(world, item.customer, item.amount);
        return `reverted ${transfer.label}'s duplicate credit on ${world.customers[item.customer]!.label}`;
      }
      creditMerchant(world, item.merchant, item.amount);
      paidThrough(world, item.merchant, item.customer);
      transfer.stage = "recorded";
      return `projected ${transfer.label}`;
    }
    case "reserve": {
      const payout = world.payouts[item.payout]!;
      // This reservation is out of `pending` now: D1 holds the object's balance plus it.
      const customerCovers = customerD1Available(world, payout.customer!) + payout.amount >= payout.amount;
      if (world.merchants[payout.merchant!]!.d1.available >= payout.amount && customerCovers) {
        reserveMerchant(world, payout.merchant!, payout.amount);
        payout.stage = "pending";
        return `projected ${payout.label}: pending`;
      }
      releaseObject(world, payout.customer!, payout.amount);
      payout.stage = "rejected";
      return `projected ${payout.label}: rejected for the merchant's balance, released`;
    }
    case "release": {
      const payout = world.payouts[item.payout]!;
      releaseObject(world, payout.customer!, payout.amount);
      return `released ${payout.label}`;
    }
    case "sync": {
      const payout = world.payouts[item.payout]!;
      if (item.op === "settle") settleObject(world, payout.customer!, payout.amount);
      else releaseObject(world, payout.customer!, payout.amount);
      return `told the object of ${payout.label}'s ${item.op}`;
    }
  }
}

export function pendingOf(world: World, kind: PendingRepair["kind"], predicate: (item: PendingRepair) => boolean): PendingRepair | undefined {
  return world.pending.find((item) => item.kind === kind && predicate(item));
}

/** Runs the customer's object's alarm (its outbox replay) and finishes the model's repairs of it, in outbox order. */
export async function runAlarm(world: World, customer: number, why: string): Promise<void> {
  const target = world.customers[customer]!;
  await runAccountAlarm(target.id!);
  const due = world.pending.filter((item) => item.kind !== "sync" && customerOf(world, item) === customer);
  const done = due.map((item) => resolve(world, item));
  note(world, `${why}: alarm of ${target.label}${done.length > 0 ? `: ${done.join("; ")}` : ": nothing to replay"}`);
}

/** Before each step: an alarm the runtime would soon fire on its own is run now, by the harness. */
export async function runDueAlarms(world: World): Promise<void> {
  const dueBefore = Date.now() - accountLimits.projection_grace_ms / 2;
  const customers = new Set(world.pending.filter((item) => item.kind !== "sync" && item.since <= dueBefore).map((item) => customerOf(world, item)));
  for (const customer of customers) await runAlarm(world, customer, "harness (a pending repair is half a grace period old)");
}

/** The repair job, run as the cron would a while later. */
export async function runRepair(world: World, why: string): Promise<void> {
  const report = await repair(env, Date.now() + 10 * 60_000);
  const synced = world.pending.filter((item) => item.kind === "sync").map((item) => resolve(world, item));
  note(world, `${why}: repair job (synced ${report.synced}, requeued ${report.requeued})${synced.length > 0 ? `: ${synced.join("; ")}` : ""}`);
  await observeRepairsDoneElsewhere(world, "the repair job");
}

/**
 * Before comparing balances: a pending repair a grace period old may have been done by the
 * object's own alarm meanwhile (a step that took long). Only such repairs are looked up.
 */
export async function observeLateAlarms(world: World): Promise<void> {
  const dueBefore = Date.now() - accountLimits.projection_grace_ms;
  if (world.pending.some((item) => item.kind !== "sync" && item.since <= dueBefore)) {
    await observeRepairsDoneElsewhere(world, "the object's own alarm", (item) => item.kind !== "sync" && item.since <= dueBefore);
  }
}

/**
 * A repair the service may legitimately have done by itself (the repair job waking objects
 * with unconfirmed projections, as issue 8 asks; an alarm firing on its own): looked up in
 * D1 and in the object, then applied to the model like any other. An outcome the model does
 * not allow is a mismatch.
 */
export async function observeRepairsDoneElsewhere(world: World, by: string, which: (item: PendingRepair) => boolean = () => true): Promise<void> {
  for (const item of [...world.pending]) {
    if (item.kind === "sync" || !which(item)) continue;
    const customer = world.customers[customerOf(world, item)]!;
    const account = customerAccountStub(env, customer.id!);
    if (item.kind === "credit") {
      const transfer = world.transfers[item.transfer]!;
      if (item.lost) {
        const operation = await account.reservation(transfer.paymentId);
        if (operation?.state === "reverted") note(world, `${by}: ${resolve(world, item)}`);
        continue;
      }
      const payment = await env.DB.prepare("SELECT amount, customer_id FROM payments WHERE id = ?")
        .bind(transfer.paymentId)
        .first<{ amount: number; customer_id: string | null }>();
      if (!payment) continue;
      if (payment.amount !== item.amount || payment.customer_id !== customer.id) {
        mismatch(world, `${by} recorded ${transfer.label} in D1 as ${JSON.stringify(payment)}, but the object credited ${item.amount} to ${customer.label}`);
      }
      note(world, `${by}: ${resolve(world, item)}`);
      continue;
    }
    const payout = world.payouts[item.payout]!;
    if (item.kind === "release") {
      if ((await account.reservation(payout.id!))?.state === "released") note(world, `${by}: ${resolve(world, item)}`);
      continue;
    }
    const row = await env.DB.prepare("SELECT status FROM payouts WHERE id = ?").bind(payout.id).first<{ status: string }>();
    if (!row) continue;
    // Still pending here: D1's copy of the customer holds the object's balance plus this reservation.
    const mirror = customerD1Available(world, payout.customer!);
    const expected = world.merchants[payout.merchant!]!.d1.available >= payout.amount && mirror >= payout.amount ? "pending" : "rejected";
    if ((row.status === "rejected") !== (expected === "rejected")) {
      mismatch(world, `${by} projected ${payout.label} as ${row.status}; the merchant's available ${world.merchants[payout.merchant!]!.d1.available} and the customer's D1 copy ${mirror} say ${expected}`);
    }
    if (row.status === "rejected" && (await account.reservation(payout.id!))?.state !== "released") {
      // D1 rejected it, the object not yet released: what a crash after the rejection leaves.
      world.pending.splice(world.pending.indexOf(item), 1, { kind: "release", payout: item.payout, since: item.since });
      payout.stage = "rejected";
      note(world, `${by}: ${describe(world, item)}: D1 rejected it, the object still reserves`);
      continue;
    }
    note(world, `${by}: ${resolve(world, item)}`);
  }
}

/** The end of a run: every repair finished (alarms, then the repair job), so the model is exact. */
export async function finishRepairs(world: World): Promise<void> {
  const customers = new Set(world.pending.filter((item) => item.kind !== "sync").map((item) => customerOf(world, item)));
  for (const customer of customers) await runAlarm(world, customer, "end of run");
  if (world.pending.length > 0) await runRepair(world, "end of run");
  if (world.pending.length > 0) mismatch(world, "repairs still pending after the alarms and the repair job ran");
}
