/**
 * `reserve_account.threshold_reached` (API §12, §14): a fixed policy's target reached, once per
 * policy version. Two writers, each in its own batch, both conditioned on the policy's
 * `threshold_reached_at` being NULL and the event being keyed by the policy id (events are
 * UNIQUE (type, object_id)): a merchant payout whose withholding reaches the target
 * (create-merchant-payout.ts), and the POST of a fixed policy whose target the reserve already
 * holds (below). D1 runs batches one at a time, so whichever commits first marks the version,
 * and the other finds it marked.
 */
import { reserveAccount } from "../ledger/accounts";
import { rfc3339Sql } from "./sql";

/** The event's object: the reserve balance account `b` (balance_accounts) as GET /v1/balance-accounts/{id} shows it now. */
export function reserveBalanceAccountJson(b: string): string {
  return `json_object('object', json_object('id', ${b}.id, 'object', 'balance_account', 'owner_id', ${b}.owner_id, 'kind', ${b}.kind, 'currency', ${b}.currency,
    'available', ${b}.available, 'reserved', ${b}.reserved, 'updated_at', ${rfc3339Sql(`${b}.updated_at`)}))`;
}

/**
 * For the batch that writes policy version `policyId`, after its row: a fixed version whose
 * amount the reserve already holds (available ≥ amount) is reached at once. Its event and its
 * mark are written with the row, so GET shows threshold_reached_at as soon as the event exists;
 * a payout under it then withholds nothing (the reserve lacks nothing of the target) and emits
 * nothing (the version is marked).
 */
export function thresholdOnPolicyStatements(d1: D1Database, merchantId: string, policyId: string, currency: string, now: number): D1PreparedStatement[] {
  const reached = `FROM reserve_policies rp JOIN balance_accounts b ON b.ledger_account_id = ?2
     WHERE rp.id = ?1 AND rp.type = 'fixed' AND rp.threshold_reached_at IS NULL AND b.available >= rp.amount`;
  const reserveLa = reserveAccount(merchantId, currency).id;
  return [
    d1
      .prepare(
        `INSERT OR IGNORE INTO events (id, type, merchant_id, object_type, object_id, data, created_at)
         SELECT 'evt_' || lower(hex(randomblob(12))), 'reserve_account.threshold_reached', rp.merchant_id, 'reserve_policy', rp.id,
           ${reserveBalanceAccountJson("b")}, ?3
         ${reached}`,
      )
      .bind(policyId, reserveLa, now),
    d1.prepare(`UPDATE reserve_policies SET threshold_reached_at = ?3 WHERE id = (SELECT rp.id ${reached})`).bind(policyId, reserveLa, now),
  ];
}
