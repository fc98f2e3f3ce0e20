/** Helpers for sweep tests: accounts by id, sweeps over HTTP, the cron at a chosen instant. */
import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import worker from "../../src/index";
import { balanceAccountId, merchantAccount, reserveAccount } from "../../src/ledger/accounts";
import { api, bearer, json } from "../helpers";
import { uniqueId } from "../money";

export const platformBa = "ba_platform_ars";
export const merchantBa = (merchantId: string) => balanceAccountId(merchantAccount(merchantId, "ARS").id);
export const reserveBa = (merchantId: string) => balanceAccountId(reserveAccount(merchantId, "ARS").id);

/** Buenos Aires wall-clock time as an instant: "2027-01-10T22:00" → ms. */
export const buenosAires = (local: string) => Date.parse(`${local}:00-03:00`);

export interface SweepBody {
  schedule: { type: "daily"; time: string };
  target_balance_account: string;
  sweep_type: "push" | "pull";
  trigger: "balance_exceeds";
  trigger_amount: number;
}

export function sweepBody(overrides: Partial<SweepBody> = {}): SweepBody {
  return { schedule: { type: "daily", time: "22:00" }, target_balance_account: platformBa, sweep_type: "push", trigger: "balance_exceeds", trigger_amount: 0, ...overrides };
}

export function postSweep(headers: Record<string, string>, accountId: string, body: unknown, key: string | null = uniqueId("idem")): Promise<Response> {
  return api(`/v1/balance-accounts/${accountId}/sweeps`, json(body, { ...headers, ...(key === null ? {} : { "idempotency-key": key }) }));
}

export interface SweepResponse {
  id: string;
  status: "active" | "deleted";
  balance_account_id: string;
  target_balance_account: string;
  sweep_type: string;
  trigger_amount: number;
  last_run: { id: string; business_day: string; status: string; amount: number; transfer_id: string | null; failure_reason: string | null } | null;
  [field: string]: unknown;
}

export async function createSweep(apiKey: string, accountId: string, overrides: Partial<SweepBody> = {}): Promise<SweepResponse> {
  const response = await postSweep(bearer(apiKey), accountId, sweepBody(overrides));
  expect(response.status).toBe(201);
  return (await response.json()) as SweepResponse;
}

export async function getSweep(headers: Record<string, string>, accountId: string, sweepId: string): Promise<SweepResponse> {
  const response = await api(`/v1/balance-accounts/${accountId}/sweeps/${sweepId}`, { headers });
  expect(response.status).toBe(200);
  return (await response.json()) as SweepResponse;
}

/** A cron tick (the five-minute trigger) at `scheduledTime`. */
export async function tick(scheduledTime: number): Promise<void> {
  await worker.scheduled(createScheduledController({ cron: "*/5 * * * *", scheduledTime }), env, createExecutionContext());
}

export async function available(balanceAccountId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT available FROM balance_accounts WHERE id = ?").bind(balanceAccountId).first<{ available: number }>();
  expect(row).not.toBeNull();
  return row!.available;
}

export async function runsOf(sweepId: string) {
  const { results } = await env.DB.prepare("SELECT * FROM sweep_runs WHERE sweep_id = ? ORDER BY business_day").bind(sweepId).all<{ id: string; business_day: string; status: string; amount: number; transfer_id: string | null; attempts: number }>();
  return results;
}

/** The sweep's events, as the operator sees them. */
export async function sweepEvents(sweepId: string) {
  const { results } = await env.DB.prepare("SELECT id, type, merchant_id, object_id, data FROM events WHERE type LIKE 'balance_account.sweep.%' AND json_extract(data, '$.object.id') = ? ORDER BY created_at, id")
    .bind(sweepId)
    .all<{ id: string; type: string; merchant_id: string | null; object_id: string; data: string }>();
  return results.map((row) => ({ ...row, data: JSON.parse(row.data) as { object: SweepResponse; transfer: Record<string, unknown> | null } }));
}


/**
 * Retires every other test's active sweeps (directly in D1), so that a fault armed next is hit
 * by this sweep's run: the cron runs every due sweep, in the order of their times.
 */
export async function onlySweep(sweepId: string): Promise<void> {
  await env.DB.prepare("UPDATE sweeps SET status = 'deleted' WHERE status = 'active' AND id <> ?").bind(sweepId).run();
}
