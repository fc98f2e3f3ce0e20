/**
 * The model's money movements, named after what the service does (API §5, §7): each moves
 * exactly the amount given, on exactly the view named (a customer's object, a merchant's D1
 * balance, suspense). Commands compose them; nothing else writes a balance of the model.
 */
import { paidThrough, type Route, type SimTransfer, type World } from "./world";

export function creditObject(world: World, customer: number, amount: number): void {
  world.customers[customer]!.object.available += amount;
}

/**
 * A bank reversal, or the revert of a credit whose bank transfer D1 recorded for someone else
 * (a redelivery that won while the first delivery sat in the object only): may go below zero,
 * and is then owed. The second case is docs/MONEY.md's, not API §7's (which names reversals
 * only): if the contract comes to refuse such a redelivery, it goes (cashin-commands.ts).
 */
export function debitObject(world: World, customer: number, amount: number): void {
  const target = world.customers[customer]!;
  target.object.available -= amount;
  target.owes = true;
}

export function reserveObject(world: World, customer: number, amount: number): void {
  const target = world.customers[customer]!.object;
  target.available -= amount;
  target.reserved += amount;
}

export function releaseObject(world: World, customer: number, amount: number): void {
  const target = world.customers[customer]!.object;
  target.available += amount;
  target.reserved -= amount;
}

export function settleObject(world: World, customer: number, amount: number): void {
  world.customers[customer]!.object.reserved -= amount;
}

export function creditMerchant(world: World, merchant: number, amount: number): void {
  world.merchants[merchant]!.d1.available += amount;
}

export function debitMerchant(world: World, merchant: number, amount: number): void {
  const target = world.merchants[merchant]!;
  target.d1.available -= amount;
  target.owes = true;
}

export function reserveMerchant(world: World, merchant: number, amount: number): void {
  const target = world.merchants[merchant]!.d1;
  target.available -= amount;
  target.reserved += amount;
}

export function releaseMerchant(world: World, merchant: number, amount: number): void {
  const target = world.merchants[merchant]!.d1;
  target.available += amount;
  target.reserved -= amount;
}

export function settleMerchant(world: World, merchant: number, amount: number): void {
  world.merchants[merchant]!.d1.reserved -= amount;
}

/**
 * D1 records a payment routed by `route`. `objectCredited`: the customer's object already
 * credited it (a crash left D1 behind, or the object is the one that moved first).
 */
export function recordPayment(world: World, transfer: SimTransfer, route: Route, amount: number, objectCredited: boolean): void {
  switch (route.kind) {
    case "customer":
      if (!objectCredited) creditObject(world, route.customer, amount);
      creditMerchant(world, route.merchant, amount);
      paidThrough(world, route.merchant, route.customer);
      break;
    case "merchant":
      creditMerchant(world, route.merchant, amount);
      break;
    case "quarantine":
      world.suspense.posted += amount;
      world.suspense.available += amount;
      break;
  }
  transfer.stage = "recorded";
  transfer.status = route.kind === "quarantine" ? "quarantined" : "credited";
}

export function sameRoute(left: Route, right: Route): boolean {
  if (left.kind !== right.kind) return false;
  if (left.kind === "customer" && right.kind === "customer") return left.customer === right.customer && left.merchant === right.merchant;
  if (left.kind === "merchant" && right.kind === "merchant") return left.merchant === right.merchant;
  return true;
}

export function describeRoute(world: World, route: Route): string {
  switch (route.kind) {
    case "customer":
      return `${world.customers[route.customer]!.label} via ${world.merchants[route.merchant]!.label}`;
    case "merchant":
      return `${world.merchants[route.merchant]!.label} only`;
    case "quarantine":
      return "quarantine";
  }
}
