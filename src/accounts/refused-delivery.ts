/**
 * What a cash-in's bank event becomes when D1 will not record the credit its customer's object
 * made: a conflict or an overflow is stored failed for the operator; a superseded delivery (the
 * same data, routed elsewhere first) is a replay, processed. Idempotent: a processed event is
 * never demoted, and recording twice only counts an attempt.
 */
import { recordEventFailed, recordEventProcessed } from "../bank/event-log";
import type { Projection, ProjectionOutcome } from "./projections";

export async function recordRefusedDelivery(d1: D1Database, projection: Extract<Projection, { kind: "payment.recorded" }>, outcome: ProjectionOutcome): Promise<void> {
  const { event, payment } = projection;
  if (!event) return;
  if (outcome === "superseded") {
    await recordEventProcessed(d1, event);
    return;
  }
  const why =
    outcome === "conflict"
      ? "is already recorded with different data (exists_with_different_data)"
      : `would take a balance past ${Number.MAX_SAFE_INTEGER}`;
  await recordEventFailed(d1, event, `bank_transaction_id ${payment.bank_transaction_id} ${why}; the credit its customer's object made was undone`);
}
