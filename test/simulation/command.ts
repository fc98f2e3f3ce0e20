/**
 * The shape of every simulated step. A command carries only indices and small numbers (so
 * that fast-check can shrink it); it resolves them against the world when it runs (so that a
 * shrunk sequence still makes sense). Each step: the harness runs alarms that are due, the
 * command acts over HTTP and checks the answer against the model (updating it), armed faults
 * are cleared, then every balance is compared and, every few steps, the invariants.
 */
import type fc from "fast-check";
import { disarmFaults } from "../../src/faults";
import { checkBalances, checkInvariants } from "./checks";
import { observeLateAlarms, runDueAlarms } from "./pending";
import { note, type World } from "./world";

/** Invariants every this many steps (when no repair is pending), and always at the end. */
const INVARIANTS_EVERY = 6;

export abstract class SimCommand implements fc.AsyncCommand<World, World, false> {
  /** Whether the world has what this command needs (a payout to retry, a quarantined payment…). */
  check(_world: Readonly<World>): boolean {
    return true;
  }

  async run(world: World): Promise<void> {
    world.step += 1;
    await runDueAlarms(world);
    try {
      await this.act(world);
    } finally {
      disarmFaults(); // a fault the path did not reach must not fire in a later step
    }
    await observeLateAlarms(world);
    await checkBalances(world);
    if (world.step % INVARIANTS_EVERY === 0) await checkInvariants(world);
  }

  protected abstract act(world: World): Promise<void>;

  abstract toString(): string;

  protected note(world: World, line: string): void {
    note(world, `${this.toString()}: ${line}`);
  }
}

/** A problem+json body's `code`, or null. */
export async function problemCode(response: Response): Promise<string | null> {
  const text = await response.text();
  try {
    return ((JSON.parse(text) as { code?: string }).code ?? null) as string | null;
  } catch {
    return null;
  }
}
