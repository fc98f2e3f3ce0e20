/**
 * Commission arithmetic (API §12): the fee of one credited cash-in. Integers only: the basis
 * points part is rounded down (to the centavo, the minor unit), and the fee never exceeds the
 * amount, so the customer is credited in full and the merchant's net never goes negative.
 */
import { assert } from "../assert";

export interface Pricing {
  cash_in_fee_bps: number;
  cash_in_fee_fixed: number;
}

/** min(amount, floor(amount × bps / 10000) + fixed), exact for any safe amount (bigint). */
export function cashInFee(amount: number, pricing: Pricing | null): number {
  if (pricing === null) return 0;
  assert(Number.isSafeInteger(amount) && amount > 0, `amount must be a positive safe integer, got ${amount}`);
  const proportional = (BigInt(amount) * BigInt(pricing.cash_in_fee_bps)) / 10_000n;
  const fee = proportional + BigInt(pricing.cash_in_fee_fixed);
  return fee >= BigInt(amount) ? amount : Number(fee);
}
