/** Reconciliation (API §9), operator only. Runs are started here or by the cron. */
import { createRoute } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { newRouter } from "../context";
import { database } from "../db/client";
import { reconciliationDiscrepancies, reconciliationRuns } from "../db/schema";
import { ApiError } from "../errors";
import { requireOperator } from "../middleware/auth";
import { decodeCursor, pageQuery, toPage } from "../pagination";
import { beginReconciliation } from "../reconciliation/driver";
import { discrepancyView, findRun, runReport, runSummary } from "../reconciliation/runs";
import { bodyProblemStatuses, jsonBody, jsonResponse, listSchema, paginationQuery, problemResponses } from "../schemas/common";
import {
  discrepancyParams,
  discrepancySchema,
  resolveRequest,
  runIdParams,
  runListQuery,
  runReportSchema,
  runSummarySchema,
  startedSchema,
  startReconciliationRequest,
} from "../schemas/reconciliations";

const operator = { tags: ["Reconciliation"], security: [{ operatorKey: [] }], middleware: [requireOperator] };

const start = createRoute({
  ...operator,
  method: "post",
  path: "/v1/admin/reconciliations",
  operationId: "startReconciliation",
  summary: "Reconcile a business day against the bank's statement",
  description: "Runs in the background, a page at a time; poll GET /v1/admin/reconciliations/{id}. Running a date again changes no balance.",
  request: { body: jsonBody(startReconciliationRequest) },
  responses: { 202: jsonResponse(startedSchema, "Started."), ...problemResponses(403, ...bodyProblemStatuses) },
});

const get = createRoute({
  ...operator,
  method: "get",
  path: "/v1/admin/reconciliations/{id}",
  operationId: "getReconciliation",
  summary: "A reconciliation run: status, totals and discrepancies",
  request: { params: runIdParams },
  responses: { 200: jsonResponse(runReportSchema, "The run."), ...problemResponses(403, 404) },
});

const list = createRoute({
  ...operator,
  method: "get",
  path: "/v1/admin/reconciliations",
  operationId: "listReconciliations",
  summary: "List reconciliation runs, newest first",
  request: { query: runListQuery },
  responses: { 200: jsonResponse(listSchema(runSummarySchema, "ReconciliationList"), "A page of runs."), ...problemResponses(403) },
});

const discrepancies = createRoute({
  ...operator,
  method: "get",
  path: "/v1/admin/reconciliations/{id}/discrepancies",
  operationId: "listReconciliationDiscrepancies",
  summary: "Page through a run's discrepancies, newest first",
  request: { params: runIdParams, query: paginationQuery },
  responses: { 200: jsonResponse(listSchema(discrepancySchema, "DiscrepancyList"), "A page of discrepancies."), ...problemResponses(403, 404) },
});

const resolve = createRoute({
  ...operator,
  method: "post",
  path: "/v1/admin/reconciliations/{id}/discrepancies/{discrepancy_id}/resolve",
  operationId: "resolveReconciliationDiscrepancy",
  summary: "Close an open discrepancy with a note",
  description: "Records what the operator found and did (see docs/RUNBOOK.md). Only an open discrepancy can be resolved; resolving it again with the same note is a no-op.",
  request: { params: discrepancyParams, body: jsonBody(resolveRequest) },
  responses: { 200: jsonResponse(discrepancySchema, "The discrepancy, resolved."), ...problemResponses(403, 404, 422, ...bodyProblemStatuses) },
});

export const reconciliationsRouter = newRouter()
  .openapi(start, async (c) => {
    const run = await beginReconciliation(c.env, c.req.valid("json").date, "operator");
    return c.json({ id: run.id, date: run.date, status: "running" as const }, 202);
  })
  .openapi(get, async (c) => {
    const run = await findRun(c.env.DB, c.req.valid("param").id);
    if (!run) throw new ApiError("not_found", "No such reconciliation run.");
    return c.json(await runReport(c.env.DB, run), 200);
  })
  .openapi(list, async (c) => {
    const { limit, cursor, date } = c.req.valid("query");
    const rows = await pageQuery(database(c.env.DB), reconciliationRuns, date ? eq(reconciliationRuns.date, date) : undefined, decodeCursor(cursor), limit);
    return c.json(toPage(rows, limit, runSummary), 200);
  })
  .openapi(discrepancies, async (c) => {
    const run = await findRun(c.env.DB, c.req.valid("param").id);
    if (!run) throw new ApiError("not_found", "No such reconciliation run.");
    const { limit, cursor } = c.req.valid("query");
    const rows = await pageQuery(database(c.env.DB), reconciliationDiscrepancies, eq(reconciliationDiscrepancies.run_id, run.id), decodeCursor(cursor), limit);
    return c.json(toPage(rows, limit, discrepancyView), 200);
  })
  .openapi(resolve, async (c) => {
    const { id, discrepancy_id } = c.req.valid("param");
    const { note } = c.req.valid("json");
    const db = database(c.env.DB);
    const thisOne = and(eq(reconciliationDiscrepancies.id, discrepancy_id), eq(reconciliationDiscrepancies.run_id, id));
    const [row] = await db
      .update(reconciliationDiscrepancies)
      .set({ resolution: "resolved", note, resolved_at: Date.now() })
      .where(and(thisOne, eq(reconciliationDiscrepancies.resolution, "open")))
      .returning();
    if (row) return c.json(discrepancyView(row), 200);
    const existing = await db.query.reconciliationDiscrepancies.findFirst({ where: thisOne });
    if (!existing) throw new ApiError("not_found", "No such discrepancy in this run.");
    if (existing.resolution === "resolved" && existing.note === note) return c.json(discrepancyView(existing), 200);
    throw new ApiError("invalid_state", `This discrepancy is ${existing.resolution}: only an open one can be resolved.`);
  });
