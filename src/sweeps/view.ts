/** Sweeps and their runs as the API shows them (API §12). */
import type { SweepRow, SweepRunRow } from "../db/schema";
import { rfc3339 } from "../schemas/common";
import { compactDay, sweepTimeZone } from "./schedule";

/** Everything a sweep's runs are named after: the sweep id's suffix and the day. */
function sweepSuffix(sweepId: string): string {
  return sweepId.slice(sweepId.indexOf("_") + 1);
}

/** The run of `sweepId` on `business_day`: one per day, so the id is derived, never drawn. */
export function sweepRunId(sweepId: string, business_day: string): string {
  return `swr_${sweepSuffix(sweepId)}_${compactDay(business_day)}`;
}

/**
 * The transfer a run makes. Deterministic: a run repeated after a crash asks for the same
 * transfer again, which replays instead of moving the money twice.
 */
export function sweepTransferId(sweepId: string, business_day: string): string {
  return `tr_sweep_${sweepSuffix(sweepId)}_${compactDay(business_day)}`;
}

export function sweepRunView(run: SweepRunRow) {
  return {
    id: run.id,
    business_day: run.business_day,
    status: run.status,
    amount: run.amount,
    available_amount: run.available_amount,
    transfer_id: run.transfer_id,
    failure_reason: run.failure_reason,
    created_at: rfc3339(run.created_at),
    finished_at: run.finished_at === null ? null : rfc3339(run.finished_at),
  };
}

export function sweepView(sweep: SweepRow, lastRun: SweepRunRow | null) {
  return {
    id: sweep.id,
    object: "sweep" as const,
    balance_account_id: sweep.balance_account_id,
    target_balance_account: sweep.target_balance_account,
    currency: sweep.currency,
    schedule: { type: sweep.schedule_type, time: sweep.schedule_time, time_zone: sweepTimeZone },
    sweep_type: sweep.sweep_type,
    trigger: sweep.trigger_type,
    trigger_amount: sweep.trigger_amount,
    status: sweep.status,
    last_run: lastRun === null ? null : sweepRunView(lastRun),
    created_at: rfc3339(sweep.created_at),
    updated_at: rfc3339(sweep.updated_at),
    deleted_at: sweep.deleted_at === null ? null : rfc3339(sweep.deleted_at),
  };
}

export type SweepView = ReturnType<typeof sweepView>;
