/**
 * Comparing the service with the model: after every step every balance (each customer's,
 * each merchant's, suspense's movement), every few steps and at the end the invariants.
 * A difference throws a SimulationMismatch whose message carries the whole run's trace, so
 * that fast-check's report of the shrunk counterexample says what happened, step by step.
 */
import { drainGroupCommit, expectInvariants } from "../money";
import { customerBalance, merchantBalance, type Money, note, suspenseBalances, type World } from "./world";

export class SimulationMismatch extends Error {
  override readonly name = "SimulationMismatch";
}

export function describeModel(world: World): string {
  const money = (value: Money) => `${value.available}/${value.reserved}`;
  const lines = [
    `model (available/reserved): ${world.merchants.map((merchant) => `${merchant.label} ${money(merchant.d1)}`).join(", ")}; ` +
      world.customers.filter((customer) => customer.id !== null).map((customer) => `${customer.label} ${money(customer.object)}`).join(", ") +
      `; suspense moved posted ${world.suspense.posted}, available ${world.suspense.available}`,
  ];
  if (world.pending.length > 0) lines.push(`pending repairs: ${world.pending.map((item) => JSON.stringify(item)).join("; ")}`);
  return lines.join("\n");
}

/** Throws with the run's trace: what was done, what the service answered, what the model holds. */
export function mismatch(world: World, what: string): never {
  throw new SimulationMismatch(
    [`step #${world.step}: ${what}`, describeModel(world), `trace of run ${world.run}:`, ...world.trace.map((line) => `  ${line}`)].join("\n"),
  );
}

export function expectEqual<T>(world: World, what: string, actual: T, expected: T): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) mismatch(world, `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

export function expectOneOf<T>(world: World, what: string, actual: T, allowed: readonly T[]): void {
  if (!allowed.some((candidate) => JSON.stringify(candidate) === JSON.stringify(actual))) {
    mismatch(world, `${what}: expected ${allowed.map((value) => JSON.stringify(value)).join(" or ")}, got ${JSON.stringify(actual)}`);
  }
}

/** Every balance the model knows, read over HTTP, compared exactly. */
export async function checkBalances(world: World): Promise<void> {
  // D1 trails an acknowledged cash-in by one group commit: compare once it has landed.
  await drainGroupCommit();
  const known = world.customers.filter((customer) => customer.id !== null);
  const [customers, merchants, suspense] = await Promise.all([
    Promise.all(known.map((customer) => customerBalance(world, customer))),
    Promise.all(world.merchants.map(merchantBalance)),
    suspenseBalances(),
  ]);
  const problems: string[] = [];
  const compare = (label: string, actual: Money, expected: Money, owes: boolean) => {
    if (actual.available < 0 && !owes) problems.push(`${label} available went below zero (${actual.available}) though no reversal touched it`);
    if (actual.reserved < 0) problems.push(`${label} reserved went below zero (${actual.reserved})`);
    if (actual.available !== expected.available || actual.reserved !== expected.reserved) {
      problems.push(`${label}: service ${actual.available}/${actual.reserved}, model ${expected.available}/${expected.reserved}`);
    }
  };
  known.forEach((customer, index) => compare(`customer ${customer.label} (object)`, customers[index]!, customer.object, customer.owes));
  world.merchants.forEach((merchant, index) => compare(`merchant ${merchant.label} (D1)`, merchants[index]!, merchant.d1, merchant.owes));
  const moved = { posted: suspense.posted - world.suspenseBase.posted, available: suspense.available - world.suspenseBase.available };
  if (moved.posted !== world.suspense.posted || moved.available !== world.suspense.available) {
    problems.push(`suspense moved: service posted ${moved.posted}/available ${moved.available}, model ${world.suspense.posted}/${world.suspense.available}`);
  }
  if (problems.length > 0) mismatch(world, `balances differ from the model:\n  ${problems.join("\n  ")}`);
}

/**
 * The service's own invariants. Only with no pending repair: a crash legitimately leaves an
 * object ahead of D1 until its alarm runs, and the invariants compare the two.
 */
export async function checkInvariants(world: World): Promise<void> {
  if (!world.invariantsUsable || world.pending.length > 0) return;
  try {
    await expectInvariants();
  } catch (error) {
    mismatch(world, `the invariants failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  note(world, "invariants ok");
}
