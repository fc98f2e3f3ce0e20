/**
 * Drives reconciliation runs: one step per invocation, chained through the reconciliation
 * queue; the cron starts the previous business day's run and resumes any run whose chain broke.
 */
import { previousBusinessDate } from "../domain/business-day";
import type { Config, Env } from "../env";
import { reconciliationLimits } from "../limits";
import { log } from "../log";
import { startRun, type RunRow } from "./runs";
import { reconciliationStep } from "./step";

export interface ReconciliationMessage {
  run_id: string;
}

async function enqueueStep(env: Env, runId: string): Promise<void> {
  try {
    await env.RECONCILIATION_QUEUE.send({ run_id: runId });
  } catch (error) {
    // The cron resumes a run whose chain broke: nothing is lost, only delayed.
    log("warn", "reconciliation step not queued; the cron will resume the run", { run_id: runId, error: String(error) });
  }
}

export async function beginReconciliation(env: Env, date: string, trigger: RunRow["trigger"]): Promise<RunRow> {
  const run = await startRun(env, date, trigger);
  if (run.status === "running") await enqueueStep(env, run.id);
  return run;
}

/** One queue message: one step, then the next message if the run is not done. */
export async function handleReconciliationMessages(batch: MessageBatch<ReconciliationMessage>, env: Env, config: Config): Promise<void> {
  for (const message of batch.messages) {
    try {
      const outcome = await reconciliationStep(env, config, message.body.run_id);
      if (outcome.status === "running") await enqueueStep(env, message.body.run_id);
      message.ack();
    } catch (error) {
      log("error", "reconciliation step failed; retrying", { run_id: message.body.run_id, attempts: message.attempts, error: String(error) });
      message.retry({ delaySeconds: Math.min(300, 2 ** Math.min(message.attempts, 8)) });
    }
  }
}

/** The cron's part: yesterday's run (once per day), and a nudge for every stalled run. */
export async function scheduleReconciliation(env: Env, now: number, startDaily: boolean): Promise<void> {
  if (startDaily) await beginReconciliation(env, previousBusinessDate(now), "cron");
  const { results } = await env.DB.prepare("SELECT id FROM reconciliation_runs WHERE status = 'running' AND updated_at < ? LIMIT 50")
    .bind(now - reconciliationLimits.stale_run_ms)
    .all<{ id: string }>();
  for (const { id } of results) await enqueueStep(env, id);
}
