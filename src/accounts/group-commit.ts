/**
 * Group commit: D1 off the cash-in's critical path (docs/MONEY.md, "Group commit").
 *
 * A cash-in is durable once the customer's object has committed the credit with its
 * projection in the object's outbox: that is what its `200` means. The projection then waits
 * here, in a bounded buffer of this isolate, and is written to D1 with the others that arrived
 * meanwhile: one D1 batch of a fixed handful of statements per group of up to
 * `group_commit_operations_max` cash-ins, with each merchant's balance row updated once per
 * group however many of its customers paid. One group is written at a time per isolate; the
 * next one gathers while it is.
 *
 * Nothing is lost if the isolate dies with projections still here: each customer's object
 * replays, a grace period after the write, whatever D1 has not confirmed (its alarm), so the
 * buffer is only an accelerator. Nothing is counted twice either: a group's inserts are strict
 * and its batch all-or-nothing (group-commit-statements.ts).
 *
 * Memory is bounded: past `group_commit_buffer_max` buffered projections, a cash-in writes its
 * own projection before answering (back-pressure) instead of growing the buffer.
 */
import { InjectedFault, faultPoint, takeFault } from "../faults";
import type { Env } from "../env";
import { accountLimits } from "../limits";
import { log } from "../log";
import { countGroupCommit, countMerchantRowWrites, countProjectionLag } from "../metrics";
import { customerAccountStub } from "./customer-account";
import {
  failingStatement,
  groupCommitStatements,
  merchantRowsOf,
  recordedPayments,
  sameData,
  sameRoute,
  type PaymentProjection,
  type RecordedPayment,
} from "./group-commit-statements";
import { applyProjection, confirmationKey, fingerprintOf, type ProjectionOutcome } from "./projections";
import { dispatchAfterWrite, eventMerchantOf } from "../webhooks/dispatch-after-write";

interface Member {
  env: Env;
  projection: PaymentProjection;
  /** When it joined the group: the moment its 200 was sent (for the lag metric). */
  offeredAt: number;
}

interface Group {
  members: Member[];
  sealed: boolean;
}

/**
 * Each group is written in the context of the request that seals it (the one whose timer
 * expires, or the one that fills it) and kept alive by that request's `waitUntil`: no request
 * ever awaits a promise another request resolves (Workers forbid I/O across request contexts).
 */
class GroupCommitter {
  private open: Group | null = null;
  private buffered = 0;
  private writing = 0;
  /** Payments buffered here and not yet written (or failed): by payment id. */
  private readonly inFlight = new Map<string, PaymentProjection>();
  /** Buffered credits per customer. */
  private readonly customers = new Map<string, number>();

  /**
   * Takes a credited cash-in's projection into the gathering group. False when the buffer is
   * full (back-pressure): the caller then writes its projection itself before answering.
   */
  offer(env: Env, projection: PaymentProjection, waitUntil: (promise: Promise<unknown>) => void): boolean {
    if (this.buffered >= accountLimits.group_commit_buffer_max) return false;
    let group = this.open;
    if (group === null) {
      const opened: Group = { members: [], sealed: false };
      group = this.open = opened;
      waitUntil(new Promise((resolve) => setTimeout(resolve, accountLimits.group_commit_window_ms)).then(() => this.write(opened)));
    }
    group.members.push({ env, projection, offeredAt: Date.now() });
    this.buffered++;
    if (!this.inFlight.has(projection.payment.id)) this.inFlight.set(projection.payment.id, projection);
    const customer = projection.payment.customer_id!;
    this.customers.set(customer, (this.customers.get(customer) ?? 0) + 1);
    if (group.members.length >= accountLimits.group_commit_operations_max) waitUntil(this.write(group));
    return true;
  }

  /** Whether this isolate holds a credit of this customer that D1 may not have yet. */
  holdsCreditFor(customerId: string): boolean {
    return this.customers.has(customerId);
  }

  /** The projection of a payment this isolate holds and D1 may not have yet. */
  inFlightPayment(paymentId: string): PaymentProjection | undefined {
    return this.inFlight.get(paymentId);
  }

  /**
   * Writes the gathering group now, in the caller's context, and returns once no group is
   * being written (tests, the benchmark). Polls for groups other requests are writing.
   */
  async drain(): Promise<void> {
    if (this.open) await this.write(this.open);
    while (this.writing > 0) await new Promise((resolve) => setTimeout(resolve, 2));
  }

  /** Cash-ins buffered and not yet written. */
  waiting(): number {
    return this.buffered;
  }

  private async write(group: Group): Promise<void> {
    if (group.sealed) return;
    group.sealed = true;
    if (this.open === group) this.open = null;
    this.writing++;
    let deadline: ReturnType<typeof setTimeout> | undefined;
    try {
      // The runtime cancels a waitUntil after 30 s: give the group up before that, so that
      // this bookkeeping always runs (a hanging D1 must not leak the buffer's capacity). What
      // it held is replayed by its customers' alarms; D1 records nothing twice either way.
      await Promise.race([
        commit(group.members),
        new Promise<void>((resolve) => {
          deadline = setTimeout(() => {
            log("error", "group commit gave up waiting for D1; the customers' objects will replay it", { operations: group.members.length });
            resolve();
          }, accountLimits.group_commit_write_deadline_ms);
        }),
      ]);
    } finally {
      if (deadline !== undefined) clearTimeout(deadline);
      this.writing--;
      this.buffered -= group.members.length;
      // Only this group's entries: a later group may hold another version of the same payment.
      for (const member of group.members) {
        if (this.inFlight.get(member.projection.payment.id) === member.projection) this.inFlight.delete(member.projection.payment.id);
        const customer = member.projection.payment.customer_id!;
        const left = (this.customers.get(customer) ?? 1) - 1;
        if (left > 0) this.customers.set(customer, left);
        else this.customers.delete(customer);
      }
    }
  }
}

async function commit(members: Member[]): Promise<void> {
  let outcomes: (ProjectionOutcome | null)[];
  try {
    outcomes = await commitGroup(members[0]!.env, members.map((member) => member.projection));
  } catch (error) {
    // The isolate "died" (an injected fault) or D1 failed: nobody is compensated here; each
    // customer's alarm replays its projection, and compensates what D1 refuses then.
    if (!(error instanceof InjectedFault)) log("error", "group commit failed; the customers' objects will replay it", { operations: members.length, error: String(error) });
    return;
  }
  const committedAt = Date.now();
  members.forEach((member, index) => {
    if (outcomes[index] === "applied") countProjectionLag(committedAt - member.offeredAt);
  });
  // One dispatch per group (not per cash-in), for the merchants whose payments it recorded.
  const merchants = members.map((member, index) => eventMerchantOf(member.projection, outcomes[index]!));
  await Promise.all([...members.map((member, index) => settle(member, outcomes[index]!)), dispatchAfterWrite(members[0]!.env, merchants)]);
}

/**
 * Undoes in the customer's object what D1 would not record; the object stores a refused
 * cash-in's event as failed for the operator (its sender was answered 200 before D1 decided).
 */
async function settle(member: Member, outcome: ProjectionOutcome | null): Promise<void> {
  if (outcome === "applied" || outcome === null) return;
  const { projection, env } = member;
  try {
    // The object undoes the credit and records the delivery's event (refused-delivery.ts).
    await customerAccountStub(env, projection.payment.customer_id!).compensate(projection, outcome);
    log("warn", "group commit refused a cash-in; its credit was undone", { payment_id: projection.payment.id, outcome });
  } catch (error) {
    // The object's alarm compensates it on its next replay (the projection is unconfirmed).
    log("error", "compensating a refused cash-in failed; the object's alarm will", { payment_id: projection.payment.id, error: String(error) });
  }
}

/**
 * Writes one group and says what became of each projection, in order. A group whose batch
 * fails for one of its members (a balance past 2^53 - 1, or a race with an alarm's replay
 * that a second read does not explain) is applied one projection at a time instead, so that
 * one refused cash-in never holds up the others.
 */
async function commitGroup(env: Env, projections: PaymentProjection[]): Promise<(ProjectionOutcome | null)[]> {
  const d1 = env.DB;
  for (let attempt = 0; attempt < 2; attempt++) {
    const now = Date.now();
    const recorded = await recordedPayments(d1, [...new Set(projections.map((projection) => projection.payment.id))]);
    const { fresh, alreadyRecorded, outcomes } = classify(projections, recorded);
    if (fresh.length + alreadyRecorded.length === 0) return outcomes;
    const statements = groupCommitStatements(d1, fresh, alreadyRecorded, now);
    const dieInside = takeFault("groupcommit.inside_batch");
    if (dieInside) statements.splice(Math.floor(statements.length / 2), 0, failingStatement(d1));
    try {
      await d1.batch(statements);
    } catch (error) {
      if (dieInside) throw new InjectedFault("groupcommit.inside_batch");
      if (String(error).includes("UNIQUE constraint failed") && attempt === 0) continue; // raced a replay: read again
      log("warn", "group commit batch refused; applying its cash-ins one by one", { operations: projections.length, error: String(error) });
      return applyOneByOne(d1, projections);
    }
    countGroupCommit(projections.length);
    countMerchantRowWrites(merchantRowsOf(fresh));
    faultPoint("groupcommit.after_batch");
    return outcomes;
  }
  return applyOneByOne(d1, projections);
}

/** Each member in its own batch. One that fails outright (`null`) is left to its customer's alarm; the others go on. */
async function applyOneByOne(d1: D1Database, projections: PaymentProjection[]): Promise<(ProjectionOutcome | null)[]> {
  const outcomes: (ProjectionOutcome | null)[] = [];
  for (const projection of projections) {
    try {
      outcomes.push(await applyProjection(d1, projection));
    } catch (error) {
      log("error", "a cash-in's projection failed; its customer's alarm will replay it", { payment_id: projection.payment.id, error: String(error) });
      outcomes.push(null);
    }
  }
  return outcomes;
}

/**
 * What each projection is, against D1's payments and the group's earlier members: new (write
 * it), already recorded with this data and route (confirm it), superseded (the same data,
 * routed to another customer first) or a conflict (other data under the same bank transaction).
 */
function classify(projections: PaymentProjection[], recorded: Map<string, RecordedPayment>) {
  const fresh: PaymentProjection[] = [];
  const alreadyRecorded: PaymentProjection[] = [];
  const outcomes: ProjectionOutcome[] = [];
  const chosen = new Map<string, PaymentProjection>();
  const confirmed = new Set<string>();
  for (const projection of projections) {
    const id = projection.payment.id;
    const inD1 = recorded.get(id);
    const first = chosen.get(id);
    let outcome: ProjectionOutcome;
    if (inD1) {
      outcome = !sameData(inD1, projection) ? "conflict" : sameRoute(inD1, projection) ? "applied" : "superseded";
      if (outcome === "applied" && !confirmed.has(confirmationKey(projection))) {
        confirmed.add(confirmationKey(projection));
        alreadyRecorded.push(projection);
      }
    } else if (first) {
      outcome = fingerprintOf(first) !== fingerprintOf(projection) ? "conflict" : sameRoute(first.payment, projection) ? "applied" : "superseded";
    } else {
      outcome = "applied";
      chosen.set(id, projection);
      fresh.push(projection);
    }
    outcomes.push(outcome);
  }
  return { fresh, alreadyRecorded, outcomes };
}

/** One per isolate: the cash-ins this isolate answered, on their way to D1. */
export const groupCommit = new GroupCommitter();
