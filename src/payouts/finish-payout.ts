/**
 * Finishing a payout: completed by the bank, failed permanently, or canceled while pending.
 *
 *   1. D1, in one batch: the status moves (compare-and-set from the states it may leave),
 *      the ledger transaction is posted (completed) or archived (funds returned; a merchant
 *      payout's withholding returns too, src/reserves/unwithhold.ts), and the
 *      saga marker `customer_sync` records that the customer's object must follow
 *   2. the customer's Durable Object settles or releases the reservation (idempotent)
 *   3. the marker is cleared
 * D1 decides first because D1's status is what arbitrates between a cancel and the queue
 * taking the payout to the bank. A crash after 1 leaves the marker: the repair job (cron)
 * or the next delivery of the same event does 2 and 3.
 */
import { customerAccountStub } from "../accounts/customer-account";
import { assert } from "../assert";
import { ledgerTransactionIdOf } from "../accounts/projections";
import { businessDateOf } from "../domain/business-day";
import type { Env } from "../env";
import { faultPoint } from "../faults";
import { settleTransaction } from "../ledger/posting";
import { log } from "../log";
import { findHold, unwithholdStatements } from "../reserves/unwithhold";
import { dispatchAfterWrite } from "../webhooks/dispatch-after-write";
import { findPayout, type PayoutRow, type PayoutStatus } from "./payout-row";

export type PayoutOutcome =
  | { kind: "completed"; bank_transaction_id: string }
  | { kind: "failed"; reason: string }
  | { kind: "canceled" };

const transitions = {
  completed: { from: ["processing"], ledger: "posted", customer: "settle" },
  failed: { from: ["pending", "processing"], ledger: "archived", customer: "release" },
  canceled: { from: ["pending"], ledger: "archived", customer: "release" },
} as const satisfies Record<PayoutOutcome["kind"], { from: PayoutStatus[]; ledger: "posted" | "archived"; customer: "settle" | "release" }>;

export type FinishResult =
  | { ok: true; payout: PayoutRow; replayed: boolean }
  | { ok: false; reason: "not_found" | "invalid_state"; payout?: PayoutRow }
  /** Completed again with another bank_transaction_id, or with one that completed another payout. */
  | { ok: false; reason: "conflict"; detail: string; payout?: PayoutRow };

export async function finishPayout(env: Env, payoutId: string, outcome: PayoutOutcome): Promise<FinishResult> {
  const rule = transitions[outcome.kind];
  const now = Date.now();
  const from = rule.from.map(() => "?").join(", ");
  const failureReason = outcome.kind === "failed" ? outcome.reason.slice(0, 500) : null;
  const bankTransactionId = outcome.kind === "completed" ? outcome.bank_transaction_id : null;
  // Only merchant payouts that withheld anything have a hold; it never changes but its status.
  const hold = outcome.kind === "completed" ? null : await findHold(env.DB, payoutId);
  const results = await env.DB.batch([
    env.DB.prepare(
      // A bank_transaction_id names one movement at the bank: one that already completed
      // another payout completes nothing (a UNIQUE violation would be a 500 the bank retries).
      `UPDATE payouts SET status = ?, failure_reason = ?, bank_transaction_id = COALESCE(?, bank_transaction_id),
         completed_date = ?, customer_sync = CASE WHEN kind = 'payout' THEN ? END, updated_at = ? WHERE id = ? AND status IN (${from})
         AND NOT EXISTS (SELECT 1 FROM payouts other WHERE other.bank_transaction_id = ? AND other.id <> ?)`,
    ).bind(
      outcome.kind,
      failureReason,
      bankTransactionId,
      outcome.kind === "completed" ? businessDateOf(now) : null,
      rule.customer,
      now,
      payoutId,
      ...rule.from,
      bankTransactionId,
      payoutId,
    ),
    settleTransaction(env.DB, ledgerTransactionIdOf(payoutId), rule.ledger, now, {
      sql: "EXISTS (SELECT 1 FROM payouts WHERE id = ? AND status = ?)",
      params: [payoutId, outcome.kind],
    }),
    // A completed return has given a quarantined payment back to its sender.
    env.DB.prepare(
      `UPDATE payments SET status = 'returned', updated_at = ?
       WHERE id = (SELECT payment_id FROM payouts WHERE id = ? AND kind = 'return' AND status = 'completed') AND status = 'quarantined'`,
    ).bind(now, payoutId),
    ...(hold && outcome.kind !== "completed" ? unwithholdStatements(env.DB, hold, outcome.kind, now) : []),
  ]);
  const moved = (results[0]?.meta.changes ?? 0) > 0;
  const payout = await findPayout(env.DB, payoutId);
  if (!payout || payout.status === "rejected") return { ok: false, reason: "not_found" };
  if (!moved && bankTransactionId !== null && payout.status === "processing") {
    return { ok: false, reason: "conflict", detail: `bank_transaction_id ${bankTransactionId} already completed another payout`, payout };
  }
  if (payout.status !== outcome.kind) return { ok: false, reason: "invalid_state", payout };
  // The same outcome again must carry the same data: the first version stands. (A failure's
  // reason is the bank's free text, not data that moves money: a repeat with another text,
  // e.g. the submission's rejection and then the bank's event, is a replay.)
  if (bankTransactionId !== null && payout.bank_transaction_id !== bankTransactionId) {
    return { ok: false, reason: "conflict", detail: `already completed with bank_transaction_id ${payout.bank_transaction_id}`, payout };
  }
  faultPoint("transition.after_ledger");
  const synced = await syncCustomer(env, payout);
  // The trigger wrote the merchant's payout.completed / payout.failed with this batch; it is
  // sent once the customer's object has the outcome too, so a merchant reacting to
  // payout.failed finds the funds released (if the sync waits for the repair job, so does the
  // webhook: the cron's backstop dispatches it).
  if (moved && payout.kind !== "return" && payout.merchant_id !== null && outcome.kind !== "canceled") await dispatchAfterWrite(env, [payout.merchant_id]);
  return { ok: true, payout: synced, replayed: !moved };
}

/** Steps 2 and 3: tells the customer's object, then clears the marker. Idempotent. */
export async function syncCustomer(env: Env, payout: PayoutRow): Promise<PayoutRow> {
  if (payout.customer_sync === null) return payout;
  assert(payout.customer_id !== null, `payout ${payout.id} needs its customer's object but has no customer`);
  const account = customerAccountStub(env, payout.customer_id);
  const result = payout.customer_sync === "settle" ? await account.settle(payout.id) : await account.release(payout.id);
  if (!result.ok) {
    // D1 and the object disagree about this reservation: leave the marker for an operator
    // (the invariants endpoint shows it) rather than guess which one is right.
    log("error", "customer object refused a payout transition", { payout_id: payout.id, sync: payout.customer_sync, reason: result.reason });
    return payout;
  }
  await env.DB.prepare("UPDATE payouts SET customer_sync = NULL WHERE id = ? AND customer_sync = ?").bind(payout.id, payout.customer_sync).run();
  return { ...payout, customer_sync: null };
}
