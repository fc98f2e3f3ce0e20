/**
 * A merchant payout (API §12): the merchant's own money, from its balance account to its
 * payout_cbu, minus what its reserve policy withholds into its reserve. No customer object is
 * involved: D1 alone guards the merchant's balance, so everything is ONE batch:
 *
 *   - the payout row, whose withheld_amount SQL computes from the policy in force and the
 *     reserve's balance at write time (D1 runs batches one at a time: two concurrent payouts
 *     under a fixed policy see each other's withholding, and never both withhold past the
 *     target; the policy row read is the one in force when the batch commits)
 *   - the row's fingerprint guard (the same payout id with other data aborts it all: 409)
 *   - lt_<id>, pending: Dr merchant / Cr settlement for amount − withheld_amount (what the bank
 *     is sent), settled by the same saga as a customer payout (finish-payout.ts)
 *   - lt_withhold_<id>, posted: Dr merchant / Cr reserve for withheld_amount, and its hold row
 *     with its release date (percentage policies)
 *   - a fixed policy's reserve_account.threshold_reached, when this withholding reaches the target
 *   - a payout withheld whole (nothing left for the bank) is completed at once, without the bank.
 * The no_overdraft trigger refuses the batch whole when the merchant's available lacks
 * `amount` (both debits): 422 insufficient_funds, nothing written.
 *
 * The id derives from (merchant, Idempotency-Key, claim) as a customer payout's does: a retry
 * after a crash finds the row and replays it (and queues it if still pending).
 *
 * The key's answer always agrees with what exists (as a transfer's, src/transfers/transfer-under-key.ts):
 *   - the payout row is written only while the request's key is in flight (`claimInFlight`):
 *     once another attempt under the key stored an answer (the 422 of a retry that took the
 *     claim over while this one stalled before its batch), this batch writes no row, and every
 *     other statement of it reads the row (FROM payouts p WHERE p.id = …), so nothing moves:
 *     "superseded", and the request answers what the key stored;
 *   - the 201 is stored in the same batch, so a request that outlived the key's lock cannot
 *     later store a refusal over a payout that exists.
 */
import { assert } from "../assert";
import type { IdempotencyClaim } from "../context";
import { derivedId } from "../crypto";
import type { Env } from "../env";
import { ApiError } from "../errors";
import { faultPoint } from "../faults";
import { merchantAccount, openAccountStatement, platformAccountId, reserveAccount } from "../ledger/accounts";
import { claimInFlight, storedSqlResponseStatement } from "../middleware/idempotency";
import { reserveBalanceAccountJson } from "../reserves/threshold";
import { dispatchAfterWrite } from "../webhooks/dispatch-after-write";
import { enqueueSubmission } from "./create-payout";
import type { PayoutRow } from "./payout-row";

export interface CreateMerchantPayoutInput {
  amount: number;
  currency: string;
}

/** The data a merchant payout's id stands for: a repeat of the id with other data is a conflict. */
export function merchantPayoutFingerprint(merchantId: string, input: CreateMerchantPayoutInput): string {
  return JSON.stringify(["merchant_payout", merchantId, input.amount, input.currency]);
}

export const merchantPayoutLedgerIds = {
  net: (payoutId: string) => `lt_${payoutId}`,
  withholding: (payoutId: string) => `lt_withhold_${payoutId}`,
  release: (payoutId: string) => `lt_release_${payoutId}`,
  /** The withholding given back when the payout fails or is canceled (src/reserves/unwithhold.ts). */
  unwithholding: (payoutId: string) => `lt_unwithhold_${payoutId}`,
};

const noPayoutCbu = () =>
  new ApiError("invalid_destination", "The merchant has no payout_cbu: the operator sets it with PATCH /v1/merchants/{id}; nothing moved.", [
    { path: "payout_cbu", message: "not set" },
  ]);

/**
 * created: the payout (this batch's or an earlier attempt's under the same claim), and the
 *   201 body this batch stored under the key with it (the route answers exactly that), or
 *   null if it stored none (the middleware then stores the answer).
 * superseded: the key was no longer in flight and no payout has the id: nothing moved, nor
 *   ever will under this claim.
 */
export type MerchantPayoutOutcome = { result: "created"; payout: PayoutRow; storedBody: string | null } | { result: "superseded" };

export async function createMerchantPayout(env: Env, merchantId: string, idempotency: IdempotencyClaim, input: CreateMerchantPayoutInput): Promise<MerchantPayoutOutcome> {
  const merchant = await env.DB.prepare("SELECT payout_cbu FROM merchants WHERE id = ?").bind(merchantId).first<{ payout_cbu: string | null }>();
  if (!merchant) throw new ApiError("not_found", `No such merchant: ${merchantId}.`);
  if (merchant.payout_cbu === null) throw noPayoutCbu();

  const payoutId = await derivedId("po", `${merchantId}:${idempotency.key}:${idempotency.claim_id}`);
  const now = Date.now();
  let results: D1Result[];
  try {
    results = await env.DB.batch(merchantPayoutStatements(env.DB, merchantId, idempotency, payoutId, merchant.payout_cbu, input, now));
  } catch (error) {
    if (String(error).includes("exists_with_different_data")) {
      throw new ApiError("conflict", "This payout was already created with different data (amount or currency); nothing moved.");
    }
    if (String(error).includes("insufficient_funds")) {
      throw new ApiError("insufficient_funds", "The merchant's available balance does not cover this payout; nothing moved.");
    }
    throw error;
  }
  const payout = results[results.length - 1]?.results[0] as PayoutRow | undefined;
  if (payout === undefined) return { result: "superseded" };
  assert(payout.kind === "merchant_payout", `payout ${payoutId} is a merchant payout`);
  const stored = results[results.length - 2]?.results[0] as { response_body: string } | undefined;
  faultPoint("merchant_payout.after_batch");
  // The batch may have written payout.completed (withheld whole) or threshold_reached.
  await dispatchAfterWrite(env, [merchantId]);
  if (payout.status === "pending") await enqueueSubmission(env, payoutId);
  return { result: "created", payout, storedBody: stored?.response_body ?? null };
}

/**
 * The 201 this batch's payout answers, as SQL over its row: the payout_objects view
 * (migrations/0018), payoutView's fields in payoutView's order, as events carry it. The route
 * answers the stored text itself, so a replay is byte for byte the first answer.
 */
const payoutViewSql = "SELECT object FROM payout_objects WHERE id = ?";

/** Completes the key with the 201 of the payout this batch wrote (its created_at is the batch's `now`), or not at all. */
function storedAnswer(d1: D1Database, claim: IdempotencyClaim, payoutId: string, now: number): D1PreparedStatement {
  return storedSqlResponseStatement(
    d1,
    claim,
    { status: 201, bodySql: payoutViewSql, bodyParams: [payoutId] },
    { sql: "EXISTS (SELECT 1 FROM payouts WHERE id = ? AND kind = 'merchant_payout' AND created_at = ?)", params: [payoutId, now] },
  );
}

function merchantPayoutStatements(
  d1: D1Database,
  merchantId: string,
  claim: IdempotencyClaim,
  payoutId: string,
  destinationCbu: string,
  input: CreateMerchantPayoutInput,
  now: number,
): D1PreparedStatement[] {
  const { amount, currency } = input;
  const merchantLa = merchantAccount(merchantId, currency);
  const reserveLa = reserveAccount(merchantId, currency);
  const settlement = platformAccountId.settlement(currency);
  const ids = merchantPayoutLedgerIds;
  const inFlight = claimInFlight(claim);
  const entries = (transactionId: string, status: "pending" | "posted", amountSql: string, debit: string, credit: string, condition: string) =>
    d1
      .prepare(
        `INSERT INTO ledger_entries (id, transaction_id, ledger_account_id, direction, amount, status, may_overdraw, created_at)
         SELECT ?1 || ':' || e.n, ?1, e.account, e.direction, ${amountSql}, ?2, 0, ?3
         FROM payouts p, (SELECT 0 AS n, ?4 AS account, 'debit' AS direction UNION ALL SELECT 1, ?5, 'credit') e
         WHERE p.id = ?6 AND ${condition}
           AND EXISTS (SELECT 1 FROM ledger_transactions WHERE id = ?1 AND status = ?2)
           AND NOT EXISTS (SELECT 1 FROM ledger_entries WHERE transaction_id = ?1)
         ORDER BY e.n`,
      )
      .bind(transactionId, status, now, debit, credit, payoutId);
  const header = (transactionId: string, status: "pending" | "posted", description: string, condition: string) =>
    d1
      .prepare(
        `INSERT INTO ledger_transactions (id, status, description, ledgerable_type, ledgerable_id, effective_at, created_at, updated_at)
         SELECT ?1, ?2, ?3, 'payout', p.id, p.created_at, ?4, ?4 FROM payouts p WHERE p.id = ?5 AND ${condition}
         ON CONFLICT DO NOTHING`,
      )
      .bind(transactionId, status, description, now, payoutId);
  return [
    openAccountStatement(d1, merchantLa, now, "merchants"),
    openAccountStatement(d1, reserveLa, now, "merchants"),
    d1
      .prepare(
        // withheld: percentage → floor(amount × bps / 10000) (integers: ≤ 10^14 × 10^4 fits; D1
        // binds a JS number as REAL, hence the CAST, or the division would not round down);
        // fixed → what the reserve lacks of the target, at most the amount. No policy in this
        // currency → 0. Read at write time, inside the batch: no race with another payout.
        `INSERT INTO payouts (id, kind, merchant_id, amount, withheld_amount, reserve_policy_id, currency, destination_cbu, status, fingerprint, created_at, updated_at)
         SELECT ?1, 'merchant_payout', ?2, ?3,
           COALESCE((SELECT CASE p.type WHEN 'percentage' THEN (CAST(?3 AS INTEGER) * p.percentage_bps) / 10000
                       ELSE MIN(CAST(?3 AS INTEGER), MAX(0, p.amount - (r.posted_credits - r.posted_debits - r.pending_debits))) END
                     FROM reserve_policies p JOIN ledger_accounts r ON r.id = ?6
                     WHERE p.merchant_id = ?2 AND p.currency = ?4), 0),
           (SELECT id FROM reserve_policies WHERE merchant_id = ?2 AND currency = ?4),
           ?4, ?5, 'pending', ?7, ?8, ?8
         WHERE ${numberedFrom(9, inFlight.sql)}
         ON CONFLICT DO NOTHING`,
      )
      .bind(payoutId, merchantId, amount, currency, destinationCbu, reserveLa.id, merchantPayoutFingerprint(merchantId, input), now, ...inFlight.params),
    // Same id, other data (or another kind of payout): abort everything, move nothing. No row
    // at all (the key was no longer in flight) is no conflict: every statement below reads the
    // row, so the batch moves nothing.
    d1
      .prepare(
        `INSERT INTO write_guards (reason) SELECT 'merchant payout'
         WHERE EXISTS (SELECT 1 FROM payouts WHERE id = ?1) AND NOT EXISTS (SELECT 1 FROM payouts WHERE id = ?1 AND kind = 'merchant_payout' AND fingerprint = ?2)`,
      )
      .bind(payoutId, merchantPayoutFingerprint(merchantId, input)),
    header(ids.net(payoutId), "pending", "Merchant payout", "p.amount > p.withheld_amount AND p.status = 'pending'"),
    entries(ids.net(payoutId), "pending", "p.amount - p.withheld_amount", merchantLa.id, settlement, "p.amount > p.withheld_amount"),
    header(ids.withholding(payoutId), "posted", "Reserve withholding", "p.withheld_amount > 0"),
    entries(ids.withholding(payoutId), "posted", "p.withheld_amount", merchantLa.id, reserveLa.id, "p.withheld_amount > 0"),
    d1
      .prepare(
        // Released by the cron after holding_days (percentage); a fixed reserve is a standing buffer (NULL).
        `INSERT INTO reserve_holds (payout_id, merchant_id, policy_id, amount, currency, status, release_at, created_at, updated_at)
         SELECT p.id, p.merchant_id, p.reserve_policy_id, p.withheld_amount, p.currency, 'held',
                CASE rp.type WHEN 'percentage' THEN p.created_at + rp.holding_days * 86400000 END, ?2, ?2
         FROM payouts p JOIN reserve_policies rp ON rp.id = p.reserve_policy_id
         WHERE p.id = ?1 AND p.withheld_amount > 0 AND EXISTS (SELECT 1 FROM ledger_transactions WHERE id = ?3)
         ON CONFLICT DO NOTHING`,
      )
      .bind(payoutId, now, ids.withholding(payoutId)),
    ...thresholdStatements(d1, payoutId, reserveLa.id, now),
    // Withheld whole: nothing goes to the bank. Completed now (payout.completed by trigger);
    // no completed_date: it is on no bank statement, and reconciliation looks for none.
    d1
      .prepare("UPDATE payouts SET status = 'completed', updated_at = ? WHERE id = ? AND status = 'pending' AND withheld_amount = amount")
      .bind(now, payoutId),
    // After the status is final: the answer describes the row as this batch leaves it.
    storedAnswer(d1, claim, payoutId, now),
    d1.prepare("SELECT * FROM payouts WHERE id = ?").bind(payoutId),
  ];
}

/** `sql`'s anonymous parameters as ?first, ?first+1, …: for a condition inside a statement that numbers its own. */
function numberedFrom(first: number, sql: string): string {
  let next = first;
  return sql.replace(/\?(?!\d)/g, () => `?${next++}`);
}

/**
 * A fixed policy's target reached by this payout's withholding (the other writer of this event:
 * a policy POST whose target the reserve already holds, src/reserves/threshold.ts): its event and its mark, once
 * per policy (events are UNIQUE (type, object_id), the object id being the policy's; the mark
 * is a compare-and-set from NULL), and only by the attempt that inserted the payout (its
 * created_at is this batch's `now`): a replay's withholding is not a new one. The event carries
 * the reserve balance account as GET /v1/balance-accounts/{id} shows it now.
 */
function thresholdStatements(d1: D1Database, payoutId: string, reserveLaId: string, now: number): D1PreparedStatement[] {
  const reached = `FROM payouts po JOIN reserve_policies rp ON rp.id = po.reserve_policy_id JOIN balance_accounts b ON b.ledger_account_id = ?2
     WHERE po.id = ?1 AND po.created_at = ?3 AND po.withheld_amount > 0 AND rp.type = 'fixed' AND rp.threshold_reached_at IS NULL AND b.available >= rp.amount`;
  return [
    d1
      .prepare(
        `INSERT OR IGNORE INTO events (id, type, merchant_id, object_type, object_id, data, created_at)
         SELECT 'evt_' || lower(hex(randomblob(12))), 'reserve_account.threshold_reached', po.merchant_id, 'reserve_policy', rp.id,
           ${reserveBalanceAccountJson("b")}, ?3
         ${reached}`,
      )
      .bind(payoutId, reserveLaId, now),
    d1
      .prepare(`UPDATE reserve_policies SET threshold_reached_at = ?3 WHERE id = (SELECT rp.id ${reached})`)
      .bind(payoutId, reserveLaId, now),
  ];
}
