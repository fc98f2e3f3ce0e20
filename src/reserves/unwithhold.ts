/**
 * A merchant payout that fails permanently or is canceled gives its withholding back (API §12:
 * "the same lifecycle as section 7"): lt_unwithhold_<payout> posts Dr reserve / Cr merchant for
 * the hold's amount and the hold moves held → voided by compare-and-set. These statements join
 * the batch that archives lt_<payout> (finish-payout.ts), after its status update, so they move
 * money only once the payout is failed or canceled, and exactly once: the header is written only
 * while the hold is held (a deterministic id, ON CONFLICT DO NOTHING), the void only once the
 * header exists. A hold the cron already released moves nothing more (its money went back by
 * lt_release_<payout>).
 *
 * A reserve that can no longer cover the hold (the API never moves money out of a reserve; reserve_balances_equal_holds would be red) must not
 * make the whole batch fail (the no_overdraft trigger would refuse it, and the payout could
 * never be canceled or failed): the return is then not posted, and the hold is made due now
 * instead, so the release cron returns it (lt_release_<payout>) once the reserve can cover it.
 */
import { merchantAccount, reserveAccount } from "../ledger/accounts";
import { postTransaction } from "../ledger/posting";
import { merchantPayoutLedgerIds } from "../payouts/create-merchant-payout";

export interface HoldToReturn {
  payout_id: string;
  merchant_id: string;
  amount: number;
  currency: string;
}

/** The payout's hold, if any (its merchant, amount and currency never change). */
export function findHold(d1: D1Database, payoutId: string): Promise<HoldToReturn | null> {
  return d1.prepare("SELECT payout_id, merchant_id, amount, currency FROM reserve_holds WHERE payout_id = ?").bind(payoutId).first<HoldToReturn>();
}

export function unwithholdStatements(d1: D1Database, hold: HoldToReturn, payoutStatus: "failed" | "canceled", now: number): D1PreparedStatement[] {
  const reserve = reserveAccount(hold.merchant_id, hold.currency).id;
  const id = merchantPayoutLedgerIds.unwithholding(hold.payout_id);
  const returnable = {
    sql: `EXISTS (SELECT 1 FROM payouts WHERE id = ? AND status = ?)
      AND EXISTS (SELECT 1 FROM reserve_holds WHERE payout_id = ? AND status = 'held')
      AND (SELECT posted_credits - posted_debits - pending_debits FROM ledger_accounts WHERE id = ?) >= ?`,
    params: [hold.payout_id, payoutStatus, hold.payout_id, reserve, hold.amount],
  };
  return [
    ...postTransaction(
      d1,
      {
        id,
        status: "posted",
        description: "Reserve withholding returned",
        ledgerable_type: "payout",
        ledgerable_id: hold.payout_id,
        effective_at: now,
        entries: [
          { account_id: reserve, direction: "debit", amount: hold.amount },
          { account_id: merchantAccount(hold.merchant_id, hold.currency).id, direction: "credit", amount: hold.amount },
        ],
      },
      now,
      returnable,
    ),
    d1
      .prepare(
        `UPDATE reserve_holds SET status = 'voided', voided_at = ?, updated_at = ?
         WHERE payout_id = ? AND status = 'held' AND EXISTS (SELECT 1 FROM ledger_transactions WHERE id = ?)`,
      )
      .bind(now, now, hold.payout_id, id),
    // Not returned (the reserve lacks it): due now, for the release cron.
    d1
      .prepare(
        `UPDATE reserve_holds SET release_at = ?, updated_at = ?
         WHERE payout_id = ? AND status = 'held' AND (release_at IS NULL OR release_at > ?)
           AND EXISTS (SELECT 1 FROM payouts WHERE id = ? AND status = ?)`,
      )
      .bind(now, now, hold.payout_id, now, hold.payout_id, payoutStatus),
  ];
}
