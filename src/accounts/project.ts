/**
 * The Worker's half of an object-first operation: apply the projection the customer's object
 * stored, then undo in the object whatever D1 would not record, and dispatch the webhook of
 * the event it may have emitted. The object's alarm does the same for a request that died in
 * between.
 */
import type { Env } from "../env";
import { dispatchAfterWrite, eventMerchantOf } from "../webhooks/dispatch-after-write";
import type { CustomerAccount } from "./customer-account";
import { applyProjection, type Projection, type ProjectionOutcome } from "./projections";

export async function project(
  env: Env,
  account: DurableObjectStub<CustomerAccount>,
  projection: Projection,
  waitUntil?: (promise: Promise<unknown>) => void,
): Promise<ProjectionOutcome> {
  const outcome = await applyProjection(env.DB, projection);
  if (outcome !== "applied") await account.compensate(projection, outcome);
  await dispatchAfterWrite(env, [eventMerchantOf(projection, outcome)], waitUntil);
  return outcome;
}
