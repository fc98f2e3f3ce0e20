/**
 * How long and from where the simulation runs. `npm test` uses the defaults (a fixed seed, a
 * budget of about a minute on a 2-core machine); `npm run simulate -- --seed N --runs M`
 * (scripts/simulate.mjs) passes other values through the environment, which
 * vitest.config.ts hands to the Worker as SIM_* bindings.
 */
import { env } from "cloudflare:workers";

export interface SimulationSettings {
  seed: number;
  runs: number;
  /** Commands per run, at most (fast-check shrinks failing runs below it). */
  steps: number;
  /** Replays one counterexample: fast-check's `path` and the commands' `replayPath`. */
  path: string | undefined;
  replayPath: string | undefined;
  /** After this, fast-check starts no new run (a shrink in progress stops at its best so far). */
  timeLimitMs: number;
  /** Print every run's trace, passing or not (the Worker's own logs are printed too). */
  trace: boolean;
}

export const defaultSettings: SimulationSettings = {
  seed: 20_251_127,
  runs: 16,
  steps: 30,
  path: undefined,
  replayPath: undefined,
  timeLimitMs: 100_000,
  trace: false,
};

function integer(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new Error(`${name} must be an integer, got ${JSON.stringify(value)}`);
  return parsed;
}

function text(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

export function simulationSettings(): SimulationSettings {
  return {
    seed: integer("SIM_SEED", env.SIM_SEED, defaultSettings.seed),
    runs: integer("SIM_RUNS", env.SIM_RUNS, defaultSettings.runs),
    steps: integer("SIM_STEPS", env.SIM_STEPS, defaultSettings.steps),
    path: text(env.SIM_PATH),
    replayPath: text(env.SIM_REPLAY_PATH),
    timeLimitMs: integer("SIM_TIME_LIMIT_S", env.SIM_TIME_LIMIT_S, defaultSettings.timeLimitMs / 1000) * 1000,
    trace: env.SIM_TRACE === "1",
  };
}
