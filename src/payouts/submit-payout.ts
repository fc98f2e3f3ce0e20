/**
 * Submitting payouts to the bank, from the payout queue. A pending payout is claimed for the
 * bank (pending → processing, a compare-and-set that a concurrent cancel cannot also win),
 * then submitted; the bank dedupes by payout id, so submitting again after a crash pays once.
 * Transient failures are retried by the queue with backoff; a permanent rejection fails the
 * payout and returns its funds.
 */
import { bankAdapter, TransientBankError } from "../bank/adapter";
import type { Config, Env } from "../env";
import { faultPoint } from "../faults";
import type { PayoutMessage } from "../jobs/payout-queue";
import { log } from "../log";
import { finishPayout } from "./finish-payout";
import { findPayout, type PayoutRow } from "./payout-row";

export type SubmitOutcome = "submitted" | "failed" | "skipped";

export async function submitPayout(env: Env, config: Config, payoutId: string): Promise<SubmitOutcome> {
  // The common case in one statement: claim a pending payout and read it back.
  const claimed = await env.DB.prepare(
    "UPDATE payouts SET status = 'processing', submit_attempts = submit_attempts + 1, updated_at = ? WHERE id = ? AND status = 'pending' RETURNING *",
  )
    .bind(Date.now(), payoutId)
    .first<PayoutRow>();
  const payout = claimed ?? (await findPayout(env.DB, payoutId)); // already claimed (a retry), or lost to a cancel
  if (!payout || payout.status !== "processing") return "skipped";
  if (!claimed && payout.submitted_at !== null) return "skipped"; // the bank already has it; its outcome arrives as an event
  faultPoint("payout.after_claim");
  const result = await bankAdapter(env, config).submitPayout({
    payout_id: payout.id,
    // A merchant payout's withholding went to its reserve: the bank pays the rest.
    amount: payout.amount - payout.withheld_amount,
    currency: payout.currency,
    destination_cbu: payout.destination_cbu,
    description: payout.description,
  });
  if (result.status === "rejected") {
    await finishPayout(env, payoutId, { kind: "failed", reason: result.reason });
    return "failed";
  }
  await env.DB.prepare("UPDATE payouts SET submitted_at = ?, updated_at = ? WHERE id = ?").bind(Date.now(), Date.now(), payoutId).run();
  return "submitted";
}

/** Backoff for the queue: 2, 4, 8 … seconds, at most 10 minutes. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(600, 2 ** Math.min(attempts, 10));
}

export async function handlePayoutMessages(batch: MessageBatch<PayoutMessage>, env: Env, config: Config): Promise<void> {
  for (const message of batch.messages) {
    try {
      await submitPayout(env, config, message.body.payout_id);
      message.ack();
    } catch (error) {
      const level = error instanceof TransientBankError ? "warn" : "error";
      log(level, "payout submission failed; retrying", { payout_id: message.body.payout_id, attempts: message.attempts, error: String(error) });
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    }
  }
}
