/**
 * A transfer made by a request under its Idempotency-Key (POST /v1/transfers, top-ups): the
 * transfer's id derives from the key's claim, and the key's stored answer always agrees with
 * what exists.
 *
 * - The 201 is stored in the transfer's own batch (as a payout's, src/payouts/create-payout.ts),
 *   so a request that outlived the key's lock cannot later store a stale refusal over it: the
 *   key is completed, and the middleware writes only over an in-flight claim.
 * - The transfer is written only while the key is still in flight (`claimInFlight`): once any
 *   attempt under the key has stored an answer (a 422 insufficient_funds of a retry that took the
 *   claim over while this attempt was stalled before its batch), no batch under the key can make
 *   the transfer that answer denies. Such a batch moves nothing ("superseded"), and its request
 *   answers what the key stored.
 * Together: if the transfer exists, the key replays its 201; a refusal is stored only while no
 * transfer with that id exists, and then none can ever be written.
 */
import type { Env } from "../env";
import type { IdempotencyClaim } from "../context";
import { derivedId } from "../crypto";
import { claimInFlight, storedResponseStatement } from "../middleware/idempotency";
import { executeTransfer, type TransferOrder, type TransferOutcome } from "./execute-transfer";
import { transferView, type TransferRow } from "./transfer-row";

/** The transfer's id: from the caller, its Idempotency-Key and the key's claim, as a payout's. */
export function transferIdOf(claim: IdempotencyClaim): Promise<string> {
  return derivedId("tr", `${claim.scope}:${claim.key}:${claim.claim_id}`);
}

/** executeTransfer under `claim`: written only while the claim is in flight, completing it with its 201. */
export function executeTransferUnderKey(env: Env, claim: IdempotencyClaim, order: TransferOrder, now: number): Promise<TransferOutcome> {
  return executeTransfer(env, order, now, { answerWith: (row) => storedAnswer(env.DB, claim, row), onlyWhile: claimInFlight(claim) });
}

/**
 * The statement that completes the key with its 201 in the transfer's batch. It writes only if
 * the batch's row is this attempt's (same fingerprint, same created_at), i.e. the row the answer
 * describes.
 */
function storedAnswer(d1: D1Database, claim: IdempotencyClaim, row: TransferRow): D1PreparedStatement {
  return storedResponseStatement(d1, claim, { status: 201, body: JSON.stringify(transferView(row)) }, {
    sql: "EXISTS (SELECT 1 FROM transfers WHERE id = ? AND fingerprint = ? AND created_at = ?)",
    params: [row.id, row.fingerprint, row.created_at],
  });
}
