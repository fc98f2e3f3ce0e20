/**
 * The Worker's entry: HTTP (the Hono app), the cron (scheduled jobs) and the queues (payout
 * submissions, reconciliation steps, webhook deliveries).
 * Durable Object classes are exported from here for the runtime to find.
 */
import { newApp } from "./app";
import { loadConfig, type Env } from "./env";
import type { PayoutMessage } from "./jobs/payout-queue";
import { withInstrumentedD1 } from "./metrics";
import { runScheduled } from "./jobs/scheduled";
import { handlePayoutMessages } from "./payouts/submit-payout";
import { handleReconciliationMessages, type ReconciliationMessage } from "./reconciliation/driver";
import { handleWebhookMessages } from "./webhooks/deliver";
import type { WebhookMessage } from "./webhooks/message";

export { CustomerAccount } from "./accounts/customer-account";
export { SandboxBank } from "./bank/sandbox-bank";

const app = newApp();

// Every handler sees env.DB through the D1 counters of src/metrics.ts (a few additions per query).
export default {
  fetch: (request, env, ctx) => app.fetch(request, withInstrumentedD1(env), ctx),
  async scheduled(controller, rawEnv, _ctx) {
    await runScheduled(controller, withInstrumentedD1(rawEnv));
  },
  async queue(batch, rawEnv, _ctx) {
    const env = withInstrumentedD1(rawEnv);
    const config = loadConfig(env);
    if (batch.queue.startsWith("reconciliation-steps")) {
      await handleReconciliationMessages(batch as MessageBatch<ReconciliationMessage>, env, config);
    } else if (batch.queue.startsWith("webhook-deliveries")) {
      await handleWebhookMessages(batch as MessageBatch<WebhookMessage>, env, config);
    } else {
      await handlePayoutMessages(batch as MessageBatch<PayoutMessage>, env, config);
    }
  },
} satisfies ExportedHandler<Env>;

/** The app's type, for a typed client: `hc<AppType>("https://…")` from "hono/client". */
export type AppType = typeof app;
