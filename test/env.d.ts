import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      /** The simulation's settings (test/simulation/settings.ts); "" when unset. */
      SIM_SEED: string;
      SIM_RUNS: string;
      SIM_STEPS: string;
      SIM_PATH: string;
      SIM_REPLAY_PATH: string;
      SIM_TIME_LIMIT_S: string;
      SIM_TRACE: string;
    }
  }
}
