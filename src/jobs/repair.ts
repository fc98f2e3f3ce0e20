/**
 * The repair job (cron): drives every interrupted operation to its end. Each step is one of
 * the idempotent steps the normal path runs, so repairing something that was not broken
 * changes nothing.
 *  - payouts whose customer object was not told of their settlement (customer_sync marker)
 *  - payouts pending or processing but idle: queued again (a lost queue message)
 *  - customers whose object's alarm could not project (unprojected_customers): woken
 * Projections a customer's object made but D1 missed are repaired by that object's alarm;
 * the last kind is the backstop for when that alarm keeps failing (a long D1 outage).
 */
import { and, asc, inArray, isNotNull, isNull, lt } from "drizzle-orm";
import { database } from "../db/client";
import { payouts } from "../db/schema";
import type { Env } from "../env";
import { log } from "../log";
import { enqueueSubmission } from "../payouts/create-payout";
import { syncCustomer } from "../payouts/finish-payout";
import { repairLimits } from "./repair-limits";
import { wakeUnprojectedCustomers } from "./wake-unprojected";

export { repairLimits };

export interface RepairReport {
  synced: number;
  requeued: number;
  drained: number;
}

export async function repair(env: Env, now = Date.now()): Promise<RepairReport> {
  const db = database(env.DB);
  const unsynced = await db
    .select()
    .from(payouts)
    .where(and(isNotNull(payouts.customer_sync), lt(payouts.updated_at, now - repairLimits.stale_after_ms)))
    .orderBy(asc(payouts.updated_at))
    .limit(repairLimits.batch_rows);
  let synced = 0;
  for (const payout of unsynced) {
    if ((await syncCustomer(env, payout)).customer_sync === null) synced++;
  }

  const idle = await db
    .select({ id: payouts.id })
    .from(payouts)
    .where(and(inArray(payouts.status, ["pending", "processing"]), isNull(payouts.submitted_at), lt(payouts.updated_at, now - repairLimits.idle_payout_ms)))
    .orderBy(asc(payouts.updated_at))
    .limit(repairLimits.batch_rows);
  for (const { id } of idle) await enqueueSubmission(env, id);

  const { drained } = await wakeUnprojectedCustomers(env, now);

  if (synced > 0 || idle.length > 0) log("warn", "repair finished interrupted operations", { synced, requeued: idle.length });
  return { synced, requeued: idle.length, drained };
}
