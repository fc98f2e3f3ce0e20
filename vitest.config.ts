import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// A green run is quiet (issue 13): Vite warns once per file of a dependency whose source map
// names sources the package does not ship (the stripe package: ~200 lines). Those say nothing
// about our code; every other warning still shows. Vitest brings its own logger, so the filter
// goes on the resolved one.
const quietMissingDependencySources = {
  name: "quiet-missing-dependency-sources",
  configResolved(config: { logger: { warnOnce: (message: string, options?: unknown) => void } }) {
    const warnOnce = config.logger.warnOnce.bind(config.logger);
    config.logger.warnOnce = (message, options) => {
      if (/Sourcemap for ".*\/node_modules\/.*" points to missing source files/.test(message)) return;
      warnOnce(message, options);
    };
  },
};

// Wrangler's own notes ("Using secrets defined in .dev.vars", once per test file when a .dev.vars
// exists): a green run stays quiet. Its warnings and errors still show.
process.env.WRANGLER_LOG ??= "warn";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    plugins: [
      quietMissingDependencySources,
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          // Tests drive the payout queue's consumer themselves (test/money.ts), so that a
          // payout stays pending until a test says otherwise: in tests the producer sends to a
          // queue nothing consumes.
          queueProducers: {
            PAYOUT_QUEUE: { queueName: "payout-submissions-unconsumed-in-tests" },
            RECONCILIATION_QUEUE: { queueName: "reconciliation-steps-unconsumed-in-tests" },
            WEBHOOK_QUEUE: { queueName: "webhook-deliveries-unconsumed-in-tests" },
          },
          bindings: {
            TEST_MIGRATIONS: migrations,
            ADMIN_API_KEY: "sk_operator_test_key_0123456789abcdef",
            BANK_WEBHOOK_SECRET: "whsec_test_secret_0123456789",
            WEBHOOK_SECRET_KEY: "test_webhook_secret_key_0123456789abcdef",
            // Webhook retries in tests: 1 ms, 2 ms, 4 ms … (tests drive the queue themselves).
            WEBHOOK_RETRY_BASE_MS: "1",
            // The model-based simulation's settings (test/simulation/settings.ts), set by
            // `npm run simulate` (scripts/simulate.mjs); empty means its defaults.
            SIM_SEED: process.env.SIM_SEED ?? "",
            SIM_RUNS: process.env.SIM_RUNS ?? "",
            SIM_STEPS: process.env.SIM_STEPS ?? "",
            SIM_PATH: process.env.SIM_PATH ?? "",
            SIM_REPLAY_PATH: process.env.SIM_REPLAY_PATH ?? "",
            SIM_TIME_LIMIT_S: process.env.SIM_TIME_LIMIT_S ?? "",
            SIM_TRACE: process.env.SIM_TRACE ?? "",
          },
        },
      }),
    ],
    test: {
      setupFiles: ["./test/setup.ts"],
      include: ["test/**/*.test.ts"],
      // The Worker logs a JSON line per request: show them only for tests that fail.
      silent: "passed-only",
      testTimeout: 30_000,
      hookTimeout: 60_000,
    },
  };
});
