/**
 * The Worker's entry: HTTP (the Hono app), the cron (scheduled jobs) and the payout queue.
 * Durable Object classes are exported from here for the runtime to find.
 */
import { newApp } from "./app";
import { loadConfig, type Env } from "./env";
import type { PayoutMessage } from "./jobs/payout-queue";
import { runScheduled } from "./jobs/scheduled";
import { handlePayoutMessages } from "./payouts/submit-payout";
import { handleReconciliationMessages, type ReconciliationMessage } from "./reconciliation/driver";

export { CustomerAccount } from "./accounts/customer-account";
export { SandboxBank } from "./bank/sandbox-bank";

const app = newApp();

export default {
  fetch: app.fetch,
  async scheduled(controller, env, _ctx) {
    await runScheduled(controller, env);
  },
  async queue(batch, env, _ctx) {
    const config = loadConfig(env);
    if (batch.queue.startsWith("reconciliation-steps")) {
      await handleReconciliationMessages(batch as MessageBatch<ReconciliationMessage>, env, config);
    } else {
      await handlePayoutMessages(batch as MessageBatch<PayoutMessage>, env, config);
    }
  },
} satisfies ExportedHandler<Env>;

/** The app's type, for a typed client: `hc<AppType>("https://…")` from "hono/client". */
export type AppType = typeof app;
