/**
 * Counterexamples the simulation found on the code of issue 8 (shrunk, then written out so
 * that they read as scenarios). Every run of the simulation replays them first, before the
 * random runs: a bug the simulation once found stays found, whatever the seed.
 *
 * Indices count from the newest entity (world.ts `pick`): a fresh world's customers by
 * reference are c2, c1, c0 (index 0 = c2, of m1); its payable pairs are m0→c2, m1→c2, m0→c1,
 * m0→c0 (index 1 = m1 pays out c2).
 */
import {
  CashInByCustomerReference,
  CashInByMerchantReference,
  CashInUnmatched,
  DuplicateDelivery,
  RedeliveryWithOtherData,
} from "./cashin-commands";
import type { SimCommand } from "./command";
import { AssignQuarantined, ReturnQuarantined } from "./operator-commands";
import { ConflictingCompletion, CreatePayout, RetryPayout, ReuseKeyAfterRetention, SettleAtBank, SubmitToBank } from "./payout-commands";

export const knownCounterexamples: { issueItem: string; commands: SimCommand[] }[] = [
  {
    issueItem: "1: a payout retried with another amount after a 5xx pays out more than the balance",
    commands: [
      new CashInByCustomerReference(0, 10_000, "none"),
      new CreatePayout(1, 1_000, "payout.after_customer_reserve", 0),
      new RetryPayout(0, "amount", 9_000),
    ],
  },
  {
    issueItem: "1: the same, the first attempt dying after D1 recorded it",
    commands: [new CashInByMerchantReference(0, 9, 3_200, "none"), new CreatePayout(0, 2_700, "payout.after_projection", 0), new RetryPayout(0, "amount", 1_200)],
  },
  {
    issueItem: "2: a quarantined cash-in redelivered with a merchant reference credits the merchant",
    commands: [new CashInUnmatched(1_000), new RedeliveryWithOtherData(0, "merchant", 100)],
  },
  {
    issueItem: "2: … or with a customer reference (phantom merchant credit)",
    commands: [new CashInUnmatched(1_000), new RedeliveryWithOtherData(0, "customer", 100)],
  },
  {
    issueItem: "2: the object's alarm replays a lost credit onto a quarantined payment's ledger transaction",
    commands: [new CashInByMerchantReference(0, 1, 1_700, "cashin.after_account_credit"), new RedeliveryWithOtherData(0, "quarantine", 500)],
  },
  {
    issueItem: "3: same bank_transaction_id, same customer, another amount, while the first is unprojected",
    commands: [new CashInByCustomerReference(0, 1_000, "cashin.after_account_credit"), new RedeliveryWithOtherData(0, "amount", 8_000)],
  },
  {
    issueItem: "4: a quarantined payment assigned after a failed return is never credited to the object",
    commands: [
      new CashInUnmatched(5_000),
      new ReturnQuarantined(0),
      new AssignQuarantined(0, 0, 0, false),
      new SettleAtBank(0, "failed", false),
      new AssignQuarantined(0, 0, 0, true),
    ],
  },
  {
    issueItem: "5: an Idempotency-Key reused after its retention answers the old payout",
    commands: [new CashInByCustomerReference(0, 5_000, "none"), new CreatePayout(1, 1_000, "none", 0), new ReuseKeyAfterRetention(0, "amount", 500)],
  },
  {
    issueItem: "6: a second payout.completed with another bank_transaction_id is answered 200",
    commands: [new CashInByCustomerReference(0, 5_000, "none"), new CreatePayout(1, 1_000, "none", 0), new SettleAtBank(0, "completed", false), new ConflictingCompletion(0, "again")],
  },
  {
    issueItem: "6: payout.completed carrying another payout's bank_transaction_id",
    commands: [
      new CashInByCustomerReference(0, 5_000, "none"),
      new CreatePayout(1, 1_000, "none", 0),
      new CreatePayout(1, 1_000, "none", 0),
      new SettleAtBank(0, "completed", false),
      new SubmitToBank(1, "accepted", false),
      new ConflictingCompletion(0, "stolen"),
    ],
  },
  {
    issueItem: "7: Content-Type application/json; → 500",
    commands: [new CashInByCustomerReference(0, 5_000, "none"), new CreatePayout(1, 1_000, "none", 2)],
  },
  {
    issueItem: "found by the simulation: an exact duplicate of a quarantined cash-in's event, after it was assigned, is refused (422)",
    commands: [new CashInUnmatched(100), new AssignQuarantined(0, 0, 0, false), new DuplicateDelivery(0, 0, false, false)],
  },
];
