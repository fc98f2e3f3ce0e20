/**
 * Failure injection for tests: a test arms a named point, and the next time the code passes
 * that point it throws, as if the process died there. Nothing arms a point in production;
 * an unarmed check costs one Set lookup.
 */
export type FaultPoint =
  | "cashin.after_account_credit" // the customer's object committed, the group commit not yet given it
  | "cashin.before_account_credit" // routed (customer may be auto-created, a virtual account marked paid), nothing credited
  | "cashin.before_return_to_sender" // a rejected cash-in recorded quarantined, its return to the sender not yet started
  | "groupcommit.inside_batch" // a group's D1 batch fails half-way (D1 rolls it back), and the isolate dies
  | "groupcommit.after_batch" // D1 committed a group, the isolate dies before compensating or telling anyone
  | "payout.after_customer_reserve" // the customer's object reserved, the merchant's D1 reserve not yet made
  | "payout.after_projection" // D1 has the payout, the queue has not been told
  | "payout.after_rejection" // D1 rejected the payout, the customer's reservation not yet released
  | "payout.after_claim" // the queue claimed the payout for the bank, not yet submitted
  | "merchant_payout.after_batch" // D1 has the merchant payout (and its withholding), the queue has not been told
  | "transition.after_ledger" // D1 settled a payout, the customer's object not yet told
  | "alarm.before_replay" // the object's alarm started, nothing replayed
  | "reconciliation.before_commit" // a step recovered its lines, its marks and counters not yet written
  | "virtual_account.after_allocation" // a CVU number is allocated, no account row yet
  | "virtual_account.after_insert" // the account is stored `registering`, the bank not yet asked
  | "virtual_account.after_registration" // the bank registered the number, the account not yet active
  | "transfer.after_batch" // D1 committed a transfer (row, ledger, events), the caller not yet answered
  | "sweep.after_claim" // a sweep's run is claimed (pending, amount fixed), its transfer not yet made
  | "sweep.after_transfer"; // a sweep's transfer is made, its run's outcome and event not yet written

export class InjectedFault extends Error {
  constructor(readonly point: FaultPoint) {
    super(`injected fault at ${point}`);
  }
}

const armed = new Set<FaultPoint>();

export function armFault(point: FaultPoint): void {
  armed.add(point);
}

export function disarmFaults(): void {
  armed.clear();
}

/** Whether `point` was armed (disarming it): for faults that are not a throw at one line. */
export function takeFault(point: FaultPoint): boolean {
  return armed.delete(point);
}

/** Throws once if `point` is armed. */
export function faultPoint(point: FaultPoint): void {
  if (armed.delete(point)) throw new InjectedFault(point);
}
