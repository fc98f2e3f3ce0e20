/**
 * How fast-check draws a step: which command, how often, with what small numbers. Indices
 * are taken modulo what exists when the step runs, so a shrunk sequence stays meaningful.
 * Amounts are small multiples of 100 so that balances run out and refusals happen.
 */
import fc from "fast-check";
import {
  CashInByCustomerReference,
  CashInByMerchantReference,
  type CashInCrash,
  CashInUnmatched,
  DuplicateDelivery,
  RedeliveryWithOtherData,
  SandboxTransfer,
} from "./cashin-commands";
import type { SimCommand } from "./command";
import { ConcurrentPayouts } from "./concurrent-payouts";
import { AssignQuarantined, CheckInvariants, ReconcileToday, ReturnQuarantined, RunCustomerAlarm, RunRepairJob } from "./operator-commands";
import {
  CancelPayout,
  ConflictingCompletion,
  contentTypes,
  CreatePayout,
  type PayoutCrash,
  ReuseKeyAfterRetention,
  RetryPayout,
  SettleAtBank,
  SubmitToBank,
} from "./payout-commands";
import { ReverseTransfer } from "./reversal-command";

/** Which entity, counting from the newest: mostly the newest (chains of steps on one payment), any sometimes. */
const index = fc.oneof({ arbitrary: fc.constant(0), weight: 2 }, { arbitrary: fc.nat({ max: 23 }), weight: 3 });
const amount = fc.integer({ min: 1, max: 40 }).map((hundreds) => hundreds * 100);
const delta = fc.integer({ min: 1, max: 20 }).map((hundreds) => hundreds * 100);
/** Mostly true to life: a crash in one step of ~ten. */
const rarely = fc.oneof({ arbitrary: fc.constant(false), weight: 8 }, { arbitrary: fc.constant(true), weight: 1 });

const cashInCrash: fc.Arbitrary<CashInCrash> = fc.oneof(
  { arbitrary: fc.constant("none" as const), weight: 6 },
  { arbitrary: fc.constant("cashin.before_account_credit" as const), weight: 1 },
  { arbitrary: fc.constant("cashin.after_account_credit" as const), weight: 2 },
  { arbitrary: fc.constant("groupcommit.inside_batch" as const), weight: 1 },
  // D1 has the group; the isolate died before anyone was told: nothing differs but the outbox.
  { arbitrary: fc.constant("groupcommit.after_batch" as const), weight: 1 },
);

const payoutCrash: fc.Arbitrary<PayoutCrash> = fc.oneof(
  { arbitrary: fc.constant("none" as const), weight: 6 },
  { arbitrary: fc.constant("payout.after_customer_reserve" as const), weight: 2 },
  { arbitrary: fc.constant("payout.after_projection" as const), weight: 1 },
  { arbitrary: fc.constant("payout.after_rejection" as const), weight: 1 },
);

const contentType = fc.oneof({ arbitrary: fc.constant(0), weight: 6 }, { arbitrary: fc.integer({ min: 1, max: contentTypes.length - 1 }), weight: 1 });

const weighted = (weight: number, arbitrary: fc.Arbitrary<SimCommand>) => ({ arbitrary, weight });

export const commandArbitrary: fc.Arbitrary<SimCommand> = fc.oneof(
  weighted(6, fc.tuple(index, amount, cashInCrash).map(([customer, value, crash]) => new CashInByCustomerReference(customer, value, crash))),
  weighted(3, fc.tuple(index, index, amount, cashInCrash).map(([merchant, sender, value, crash]) => new CashInByMerchantReference(merchant, sender, value, crash))),
  weighted(2, amount.map((value) => new CashInUnmatched(value))),
  weighted(1, fc.tuple(index, amount, fc.constantFrom("twice" as const, "none" as const)).map(([customer, value, deliver]) => new SandboxTransfer(customer, value, deliver))),
  weighted(2, fc.tuple(index, index, fc.boolean(), rarely).map(([transfer, version, sameId, together]) => new DuplicateDelivery(transfer, version, sameId, together))),
  weighted(
    3,
    fc
      .tuple(index, fc.constantFrom("amount" as const, "customer" as const, "quarantine" as const, "merchant" as const), delta)
      .map(([transfer, change, by]) => new RedeliveryWithOtherData(transfer, change, by)),
  ),
  weighted(6, fc.tuple(index, amount, payoutCrash, contentType).map(([pair, value, crash, type]) => new CreatePayout(pair, value, crash, type))),
  weighted(
    1,
    fc
      .tuple(fc.array(index, { minLength: 2, maxLength: 3 }), fc.array(amount, { minLength: 1, maxLength: 3 }))
      .map(([pairs, values]) => new ConcurrentPayouts(pairs, values)),
  ),
  weighted(
    3,
    fc
      .tuple(index, fc.constantFrom("same" as const, "same" as const, "amount" as const, "customer" as const), delta)
      .map(([payout, change, by]) => new RetryPayout(payout, change, by)),
  ),
  weighted(1, fc.tuple(index, fc.constantFrom("amount" as const, "customer" as const), delta).map(([payout, change, by]) => new ReuseKeyAfterRetention(payout, change, by))),
  weighted(2, fc.tuple(index, rarely).map(([payout, crash]) => new CancelPayout(payout, crash))),
  weighted(
    3,
    fc
      .tuple(index, fc.constantFrom("accepted" as const, "accepted" as const, "transient" as const, "permanent" as const), rarely)
      .map(([payout, answer, crash]) => new SubmitToBank(payout, answer, crash)),
  ),
  weighted(
    3,
    fc
      .tuple(index, fc.constantFrom("completed" as const, "completed" as const, "failed" as const, "transient" as const), rarely)
      .map(([payout, outcome, crash]) => new SettleAtBank(payout, outcome, crash)),
  ),
  weighted(1, fc.tuple(index, fc.constantFrom("again" as const, "stolen" as const)).map(([payout, variant]) => new ConflictingCompletion(payout, variant))),
  weighted(2, fc.tuple(index, fc.boolean()).map(([transfer, repeat]) => new ReverseTransfer(transfer, repeat))),
  weighted(3, fc.tuple(index, index, index, fc.boolean()).map(([transfer, customer, merchant, again]) => new AssignQuarantined(transfer, customer, merchant, again))),
  weighted(3, index.map((transfer) => new ReturnQuarantined(transfer))),
  weighted(1, rarely.map((crash) => new ReconcileToday(crash))),
  weighted(2, fc.tuple(index, rarely).map(([customer, crash]) => new RunCustomerAlarm(customer, crash))),
  weighted(1, fc.constant(new RunRepairJob())),
  weighted(1, fc.constant(new CheckInvariants())),
);
