/** What the cron triggers run. Each job is independent: one failing does not stop the others. */
import { database } from "../db/client";
import { loadConfig, type Env } from "../env";
import { log } from "../log";
import { pruneIdempotencyKeys } from "../middleware/idempotency";
import { scheduleReconciliation } from "../reconciliation/driver";
import { webhookBackstop } from "../webhooks/backstop";
import { repair } from "./repair";
import { sealLegacyWebhookSecrets } from "./seal-webhook-secrets";
import { emitExpiredEvents } from "../virtual-accounts/expire";
import { finishRegistrations } from "../virtual-accounts/provision";
import { runSweeps } from "../sweeps/run-sweeps";
import { releaseDueReserveHolds } from "../reserves/release-holds";

/** The daily trigger (wrangler.toml): 03:15 UTC is 00:15 in Buenos Aires, just after the day closes. */
export const dailyCron = "15 3 * * *";

export async function runScheduled(controller: Pick<ScheduledController, "cron" | "scheduledTime">, env: Env): Promise<void> {
  const daily = controller.cron === dailyCron;
  const jobs: [string, () => Promise<unknown>][] = [
    ["reconciliation", () => scheduleReconciliation(env, controller.scheduledTime, daily)],
    ["repair", () => repair(env, controller.scheduledTime)],
    ["prune_idempotency_keys", () => pruneIdempotencyKeys(database(env.DB), controller.scheduledTime)],
    ["seal_legacy_webhook_secrets", () => sealLegacyWebhookSecrets(env, loadConfig(env))],
    // Virtual accounts (API §11): registrations a request left half-made; expiry announcements.
    ["finish_virtual_account_registrations", () => finishRegistrations(env, loadConfig(env), controller.scheduledTime)],
    ["virtual_account_expired_events", () => emitExpiredEvents(env, controller.scheduledTime)],
    // Sweeps (API §12): every trigger, so that each runs within 5 minutes of its Buenos Aires time.
    ["sweeps", () => runSweeps(env, controller.scheduledTime)],
    // Reserve withholdings whose holding period is over go back to their balance accounts (API §12).
    ["release_reserve_holds", () => releaseDueReserveHolds(env, controller.scheduledTime)],
    // Every trigger: webhooks a writer did not dispatch, messages lost, backlogs over their bound.
    ["webhook_backstop", () => webhookBackstop(env, Date.now())],
  ];
  for (const [name, job] of jobs) {
    try {
      await job();
    } catch (error) {
      log("error", "scheduled job failed", { job: name, cron: controller.cron, error: String(error) });
    }
  }
}
