/**
 * `GET /v1/merchants`: the operator's list of merchants (the console's merchants view needs it).
 * Its own file so that merchants.ts, where merchant settings grow, stays about one merchant.
 */
import { createRoute } from "@hono/zod-openapi";
import { newRouter } from "../context";
import { database } from "../db/client";
import { merchants } from "../db/schema";
import { requireOperator } from "../middleware/auth";
import { decodeCursor, pageQuery, toPage } from "../pagination";
import { jsonResponse, listSchema, paginationQuery, problemResponses } from "../schemas/common";
import { merchantSchema } from "../schemas/merchants";
import { merchantView } from "./merchants";

const listMerchants = createRoute({
  method: "get",
  path: "/v1/merchants",
  operationId: "listMerchants",
  tags: ["Merchants"],
  security: [{ operatorKey: [] }],
  middleware: [requireOperator],
  summary: "List merchants, newest first",
  description: "Operator only. Each merchant as GET /v1/merchants/{id} shows it: never a key or a secret.",
  request: { query: paginationQuery },
  responses: { 200: jsonResponse(listSchema(merchantSchema, "MerchantList"), "A page of merchants."), ...problemResponses(403) },
});

export const merchantListRouter = newRouter().openapi(listMerchants, async (c) => {
  const { limit, cursor } = c.req.valid("query");
  const rows = await pageQuery(database(c.env.DB), merchants, undefined, decodeCursor(cursor), limit);
  return c.json(toPage(rows, limit, (row) => merchantView(row, c.get("config").currencies[0]!)), 200);
});
