/**
 * When a failed webhook delivery is tried again (API §14): exponential backoff with jitter.
 *
 * Retry n (n = 1 after the first attempt failed) waits base·2^(n−1), capped at
 * base·`webhook_retry_cap_factor`, times a jitter factor in [1, 1.25). The jitter only adds,
 * so the sum of the unjittered waits is a floor on how long a round lasts: at the production
 * base (60 s) and `webhook_attempts_max` (21) that floor is 4 471 minutes, over 3 days.
 * Jitter spreads the retries of many deliveries that failed together (a receiver that came
 * back up) instead of sending them back in one burst.
 */
import { limits } from "../limits";

/** The wait before retry `retry` (1-based), in milliseconds; `random` returns a number in [0, 1). */
export function retryDelayMs(baseMs: number, retry: number, random: () => number = Math.random): number {
  return Math.floor(unjitteredDelayMs(baseMs, retry) * (1 + 0.25 * random()));
}

/** The wait before retry `retry` without jitter: the floor the jittered wait never goes under. */
export function unjitteredDelayMs(baseMs: number, retry: number): number {
  const factor = Math.min(2 ** Math.min(Math.max(retry - 1, 0), 30), limits.webhook_retry_cap_factor);
  return baseMs * factor;
}

/**
 * When the next attempt is due after `roundAttempts` attempts of this round have failed, or
 * null if the round is exhausted (the delivery is then failed).
 */
export function nextAttemptAt(baseMs: number, roundAttempts: number, now: number, random: () => number = Math.random): number | null {
  if (roundAttempts >= limits.webhook_attempts_max) return null;
  return now + retryDelayMs(baseMs, roundAttempts, random);
}

/** The least time a round takes from its first attempt to its last (every wait at its floor). */
export function roundFloorMs(baseMs: number): number {
  let total = 0;
  for (let retry = 1; retry < limits.webhook_attempts_max; retry++) total += unjitteredDelayMs(baseMs, retry);
  return total;
}

/** API §14: a delivery is retried for at least this long before it is failed (outside the sandbox). */
export const minimumRetryWindowMs = 3 * 24 * 60 * 60 * 1000;

/**
 * The smallest `WEBHOOK_RETRY_BASE_MS` whose round lasts at least `minimumRetryWindowMs`:
 * derived from the schedule (attempts and cap), so it follows any change to either. The floor
 * is linear in the base (every wait is base × a factor), hence the division; the loop only
 * guards against a floor that rounding would leave a millisecond short.
 */
export function minimumProductionRetryBaseMs(): number {
  let base = Math.ceil(minimumRetryWindowMs / roundFloorMs(1));
  while (roundFloorMs(base) < minimumRetryWindowMs) base++;
  return base;
}
