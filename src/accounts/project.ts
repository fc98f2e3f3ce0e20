/**
 * The Worker's half of an object-first operation: apply the projection the customer's object
 * stored, then undo in the object whatever D1 would not record. The object's alarm does the
 * same for a request that died in between.
 */
import type { CustomerAccount } from "./customer-account";
import { applyProjection, type Projection, type ProjectionOutcome } from "./projections";

export async function project(d1: D1Database, account: DurableObjectStub<CustomerAccount>, projection: Projection): Promise<ProjectionOutcome> {
  const outcome = await applyProjection(d1, projection);
  if (outcome !== "applied") await account.compensate(projection, outcome);
  return outcome;
}
