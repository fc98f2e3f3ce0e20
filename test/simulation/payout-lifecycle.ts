/**
 * What the model does when a payout (or a quarantined payment's return) completes or fails
 * at the bank, shared by the commands that can cause it (settle, submission, cancel).
 */
import { releaseMerchant, releaseObject, settleMerchant, settleObject } from "./effects";
import type { SimPayout, World } from "./world";

/**
 * `objectTold`: the customer's object was told in the same request (false when a crash after
 * D1 left it for the repair job: a pending sync).
 */
export function completePayout(world: World, payout: SimPayout, objectTold: boolean): void {
  payout.stage = "completed";
  if (payout.kind === "return") {
    world.suspense.posted -= payout.amount;
    world.transfers[payout.transfer!]!.status = "returned";
    return;
  }
  settleMerchant(world, payout.merchant!, payout.amount);
  if (objectTold) settleObject(world, payout.customer!, payout.amount);
  else world.pending.push({ kind: "sync", payout: world.payouts.indexOf(payout), op: "settle" });
}

/** Failed permanently, or canceled: the funds come back. */
export function releasePayout(world: World, payout: SimPayout, stage: "failed" | "canceled", objectTold: boolean): void {
  payout.stage = stage;
  if (payout.kind === "return") {
    world.suspense.available += payout.amount;
    world.transfers[payout.transfer!]!.liveReturn = null;
    return;
  }
  releaseMerchant(world, payout.merchant!, payout.amount);
  if (objectTold) releaseObject(world, payout.customer!, payout.amount);
  else world.pending.push({ kind: "sync", payout: world.payouts.indexOf(payout), op: "release" });
}

/** D1 holds a live row for it (so the bank, cancels and the queue can see it). */
export function hasLiveRow(payout: SimPayout): boolean {
  return !["refused", "unprojected", "rejected"].includes(payout.stage);
}
