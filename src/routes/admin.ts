/** Operator tools: the invariants proof and the bank events log. */
import { createRoute, z } from "@hono/zod-openapi";
import { newRouter } from "../context";
import { checkInvariants } from "../ledger/invariants";
import { requireOperator } from "../middleware/auth";
import { decodeCursor, selectPage, toPage } from "../pagination";
import { jsonResponse, listSchema, paginationQuery, problemResponses, rfc3339 } from "../schemas/common";
import { invariantsSchema } from "../schemas/ledger";

const operator = { tags: ["Operator"], security: [{ operatorKey: [] }], middleware: [requireOperator] };

const invariants = createRoute({
  ...operator,
  method: "get",
  path: "/v1/admin/invariants",
  summary: "Prove the books: ledger balanced, balances equal entries, objects equal D1",
  responses: { 200: jsonResponse(invariantsSchema, "Each check, and whether all hold."), ...problemResponses(403) },
});

const bankEventSchema = z
  .object({
    id: z.string(),
    type: z.string(),
    status: z.enum(["processed", "failed"]),
    error: z.string().nullable(),
    attempts: z.number().int(),
    payload: z.string().openapi({ description: "The raw body as the bank signed it." }),
    received_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("StoredBankEvent");

const listBankEvents = createRoute({
  ...operator,
  method: "get",
  path: "/v1/admin/bank-events",
  summary: "List stored bank events, newest first",
  request: { query: paginationQuery.extend({ status: z.enum(["processed", "failed"]).optional() }) },
  responses: { 200: jsonResponse(listSchema(bankEventSchema, "StoredBankEventList"), "A page of events."), ...problemResponses(403) },
});

interface BankEventRow {
  id: string;
  type: string;
  status: "processed" | "failed";
  error: string | null;
  attempts: number;
  payload: string;
  received_at: number;
  updated_at: number;
}

export const adminRouter = newRouter()
  .openapi(invariants, async (c) => c.json(await checkInvariants(c.env), 200))
  .openapi(listBankEvents, async (c) => {
    const { limit, cursor, status } = c.req.valid("query");
    // bank_events orders by received_at: alias it as the page key.
    const rows = await selectPage<BankEventRow & { created_at: number }>(
      c.env.DB,
      "(SELECT *, received_at AS created_at FROM bank_events)",
      status ? "status = ?" : "1",
      status ? [status] : [],
      decodeCursor(cursor),
      limit,
    );
    return c.json(
      toPage(rows, limit, (row) => ({
        id: row.id,
        type: row.type,
        status: row.status,
        error: row.error,
        attempts: row.attempts,
        payload: row.payload,
        received_at: rfc3339(row.received_at),
        updated_at: rfc3339(row.updated_at),
      })),
      200,
    );
  });
