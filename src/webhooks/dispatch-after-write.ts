/**
 * The hook every money path calls after a D1 write that may have emitted merchants' events
 * (a trigger writes the event and its delivery row in the same batch: migrations/0010), so
 * that webhooks leave at once instead of at the next cron.
 *
 * It never fails the money operation: the write has landed, and a dispatch that fails (or
 * never runs: the isolate died) is done by the cron's backstop a few minutes later. With a
 * `waitUntil` it runs after the response; without one it is awaited. No merchant, no query.
 */
import type { Projection, ProjectionOutcome } from "../accounts/projections";
import type { Env } from "../env";
import { log } from "../log";
import { dispatchFor } from "./dispatch";

export async function dispatchAfterWrite(
  env: Env,
  merchantIds: Iterable<string | null | undefined>,
  waitUntil?: (promise: Promise<unknown>) => void,
): Promise<void> {
  const merchants = new Set<string>();
  for (const id of merchantIds) if (id) merchants.add(id);
  if (merchants.size === 0) return;
  const run = dispatchFor(env, merchants).then(
    () => undefined,
    (error: unknown) => log("error", "webhook dispatch after a write failed; the cron dispatches instead", { merchants: merchants.size, error: String(error) }),
  );
  if (waitUntil) waitUntil(run);
  else await run;
}

/** The merchant whose event an applied projection may have emitted (migrations/0010's triggers), if any. */
export function eventMerchantOf(projection: Projection, outcome: ProjectionOutcome | null): string | null {
  if (outcome !== "applied") return null;
  switch (projection.kind) {
    case "payment.recorded":
      return projection.payment.status === "credited" ? projection.payment.merchant_id : null;
    case "payment.assigned":
    case "payment.reversed":
      return projection.merchant_id;
    case "payout.created":
      return null; // a payout's events are its completion and failure (finish-payout.ts)
  }
}
