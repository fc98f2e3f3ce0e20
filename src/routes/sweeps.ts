/**
 * Sweeps (API §12): create, read, list and delete the daily rules on a balance account. The
 * cron runs them (src/sweeps/run-sweeps.ts). A merchant works on sweeps of its own balance
 * accounts (any other account is 404, as if absent); the operator on any. A reserve is never a
 * source (its money is released by its policy, never swept), whoever asks.
 */
import { createRoute } from "@hono/zod-openapi";
import { and, desc, eq, inArray, sql } from "drizzle-orm";
import { newRouter, type Caller } from "../context";
import { derivedId, newId } from "../crypto";
import { database, type Db } from "../db/client";
import { sweepRuns, sweeps, type BalanceAccountRow, type SweepRow, type SweepRunRow } from "../db/schema";
import { ApiError } from "../errors";
import { readBalanceAccount } from "../ledger/balances";
import { afterCursor, decodeCursor, toPage } from "../pagination";
import { bodyProblemStatuses, jsonBody, jsonResponse, listSchema, problemResponses } from "../schemas/common";
import { createSweepRequest, sweepAccountParams, sweepLimitsText, sweepListQuery, sweepParams, sweepSchema } from "../schemas/sweeps";
import { sweepLimits } from "../sweeps/limits";
import { minutesOfScheduleTime } from "../sweeps/schedule";
import { sweepView } from "../sweeps/view";

const either = { tags: ["Sweeps"], security: [{ merchantKey: [] as string[] }, { operatorKey: [] as string[] }] as Record<string, string[]>[] };

const visibility =
  "A merchant may use only its own balance accounts (any other is 404, as if absent), the operator any. " +
  "A reserve account is never a sweep's source (400 naming `id`).";

const create = createRoute({
  ...either,
  method: "post",
  path: "/v1/balance-accounts/{id}/sweeps",
  operationId: "createSweep",
  summary: "Create a sweep on a balance account",
  description:
    `${visibility} The target must be another existing balance account of the same currency (400 naming \`target_balance_account\`). ${sweepLimitsText} ` +
    "The first run is the first occurrence of `schedule.time` after creation. Idempotency-Key as every POST: a retry after a 5xx with the same key makes no second sweep.",
  request: { params: sweepAccountParams, body: jsonBody(createSweepRequest) },
  responses: { 201: jsonResponse(sweepSchema, "The sweep, active."), ...problemResponses(403, 404, 409, 422, ...bodyProblemStatuses) },
});

const get = createRoute({
  ...either,
  method: "get",
  path: "/v1/balance-accounts/{id}/sweeps/{sweep_id}",
  operationId: "getSweep",
  summary: "Get a sweep",
  description: `${visibility.split(" A reserve")[0]} A deleted sweep is still shown (\`status: deleted\`).`,
  request: { params: sweepParams },
  responses: { 200: jsonResponse(sweepSchema, "The sweep and its latest run."), ...problemResponses(404) },
});

const list = createRoute({
  ...either,
  method: "get",
  path: "/v1/balance-accounts/{id}/sweeps",
  operationId: "listSweeps",
  summary: "List a balance account's sweeps, newest first",
  description: `${visibility.split(" A reserve")[0]} Active sweeps unless \`status=deleted\`.`,
  request: { params: sweepAccountParams, query: sweepListQuery },
  responses: { 200: jsonResponse(listSchema(sweepSchema, "SweepList"), "A page of sweeps."), ...problemResponses(404) },
});

const remove = createRoute({
  ...either,
  method: "delete",
  path: "/v1/balance-accounts/{id}/sweeps/{sweep_id}",
  operationId: "deleteSweep",
  summary: "Delete a sweep: it never runs again",
  description:
    "Stops future runs and answers the sweep with `status: deleted`; it stays readable (GET, `?status=deleted`), because its runs, transfers and events name it. " +
    "Deleting a deleted sweep answers it again (idempotent). A run a tick had already claimed before the delete finishes (its transfer and event).",
  request: { params: sweepParams },
  responses: { 200: jsonResponse(sweepSchema, "The sweep, deleted."), ...problemResponses(404) },
});

/** The balance account `{id}`, if the caller may see it; 404 otherwise (as if absent). */
async function visibleAccount(d1: D1Database, caller: Caller, id: string): Promise<BalanceAccountRow> {
  const account = await readBalanceAccount(d1, id);
  if (!account || (caller.kind === "merchant" && account.owner_id !== caller.merchantId)) {
    throw new ApiError("not_found", `No such balance account: ${id}.`);
  }
  return account;
}

async function findSweep(db: Db, accountId: string, sweepId: string): Promise<SweepRow> {
  const row = await db.select().from(sweeps).where(and(eq(sweeps.id, sweepId), eq(sweeps.balance_account_id, accountId))).get();
  if (!row) throw new ApiError("not_found", `No such sweep: ${sweepId}.`);
  return row;
}

/** Each sweep's latest run (by business day). */
async function latestRuns(db: Db, sweepIds: string[]): Promise<Map<string, SweepRunRow>> {
  if (sweepIds.length === 0) return new Map();
  const rows = await db
    .select()
    .from(sweepRuns)
    .where(and(inArray(sweepRuns.sweep_id, sweepIds), sql`${sweepRuns.business_day} = (SELECT MAX(r.business_day) FROM sweep_runs r WHERE r.sweep_id = ${sweepRuns.sweep_id})`));
  return new Map(rows.map((run) => [run.sweep_id, run]));
}

async function render(db: Db, sweep: SweepRow) {
  return sweepView(sweep, (await latestRuns(db, [sweep.id])).get(sweep.id) ?? null);
}

function fieldError(path: string, message: string): ApiError {
  return new ApiError("invalid_request", `${path}: ${message}`, [{ path, message }]);
}

export const sweepsRouter = newRouter()
  .openapi(create, async (c) => {
    const body = c.req.valid("json");
    const db = database(c.env.DB);
    const source = await visibleAccount(c.env.DB, c.get("caller"), c.req.valid("param").id);
    if (source.kind === "reserve") throw fieldError("id", "a reserve account cannot be a sweep's source");
    if (body.target_balance_account === source.id) throw fieldError("target_balance_account", "must not be the sweep's own balance account");
    const target = await readBalanceAccount(c.env.DB, body.target_balance_account);
    if (!target) throw fieldError("target_balance_account", "no such balance account");
    if (target.currency !== source.currency) throw fieldError("target_balance_account", `must be in ${source.currency}, like the source`);

    // The key's claim makes the id: a retry after a 5xx finds the sweep its first attempt made.
    const claim = c.get("idempotency");
    const id = claim ? await derivedId("sw", `sweep:${claim.scope}:${claim.key}:${claim.claim_id}`) : newId("sw");
    const now = Date.now();
    // One statement: the bound holds under concurrent creations. Raw: a conditional INSERT …
    // SELECT … WHERE (count) < bound, which drizzle cannot express.
    await c.env.DB.prepare(
      `INSERT INTO sweeps (id, balance_account_id, target_balance_account, owner_id, currency, sweep_type, schedule_type, schedule_time, schedule_minutes, trigger_type, trigger_amount, status, created_at, updated_at)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, 'daily', ?7, ?8, 'balance_exceeds', ?9, 'active', ?10, ?10
       WHERE (SELECT COUNT(*) FROM sweeps WHERE balance_account_id = ?2 AND status = 'active') < ?11
       ON CONFLICT DO NOTHING`,
    )
      .bind(id, source.id, target.id, source.owner_id, source.currency, body.sweep_type, body.schedule.time, minutesOfScheduleTime(body.schedule.time), body.trigger_amount, now, sweepLimits.active_per_balance_account_max)
      .run();
    const sweep = await db.select().from(sweeps).where(eq(sweeps.id, id)).get();
    if (!sweep) throw new ApiError("invalid_state", `The balance account already has ${sweepLimits.active_per_balance_account_max} active sweeps; delete one first.`);
    return c.json(await render(db, sweep), 201);
  })
  .openapi(get, async (c) => {
    const { id, sweep_id } = c.req.valid("param");
    const db = database(c.env.DB);
    const account = await visibleAccount(c.env.DB, c.get("caller"), id);
    return c.json(await render(db, await findSweep(db, account.id, sweep_id)), 200);
  })
  .openapi(list, async (c) => {
    const { limit, cursor, status } = c.req.valid("query");
    const db = database(c.env.DB);
    const account = await visibleAccount(c.env.DB, c.get("caller"), c.req.valid("param").id);
    const rows = await db
      .select()
      .from(sweeps)
      .where(and(eq(sweeps.balance_account_id, account.id), eq(sweeps.status, status), afterCursor(sweeps.created_at, sweeps.id, decodeCursor(cursor))))
      .orderBy(desc(sweeps.created_at), desc(sweeps.id))
      .limit(limit + 1);
    const runs = await latestRuns(db, rows.slice(0, limit).map((row) => row.id));
    return c.json(toPage(rows, limit, (row) => sweepView(row, runs.get(row.id) ?? null)), 200);
  })
  .openapi(remove, async (c) => {
    const { id, sweep_id } = c.req.valid("param");
    const db = database(c.env.DB);
    const account = await visibleAccount(c.env.DB, c.get("caller"), id);
    const sweep = await findSweep(db, account.id, sweep_id);
    if (sweep.status === "active") {
      const now = Date.now();
      await db.update(sweeps).set({ status: "deleted", deleted_at: now, updated_at: now }).where(and(eq(sweeps.id, sweep.id), eq(sweeps.status, "active")));
    }
    return c.json(await render(db, await findSweep(db, account.id, sweep.id)), 200);
  });

