/** Operator tools: the invariants proof and the bank events log. */
import { createRoute, z } from "@hono/zod-openapi";
import { newRouter } from "../context";
import { eq } from "drizzle-orm";
import { database } from "../db/client";
import { bankEvents } from "../db/schema";
import { NotYetApplicableEvent } from "../bank/event-log";
import { handleBankEvent } from "../bank/handle-event";
import { ApiError } from "../errors";
import { checkInvariants } from "../ledger/invariants";
import { requireOperator } from "../middleware/auth";
import { decodeCursor, pageQuery, toPage } from "../pagination";
import { bodyProblemStatuses, jsonResponse, listSchema, paginationQuery, problemResponses, rfc3339 } from "../schemas/common";
import { invariantsSchema } from "../schemas/ledger";

const operator = { tags: ["Operator"], security: [{ operatorKey: [] }], middleware: [requireOperator] };

const invariants = createRoute({
  ...operator,
  method: "get",
  path: "/v1/admin/invariants",
  operationId: "checkInvariants",
  summary: "Prove the books: ledger balanced, balances equal entries, objects equal D1, records equal their ledger",
  description:
    "Checks the books without ever nearing D1's per-invocation limits, however large they grow. The sums across the " +
    "ledger (liabilities = settlement, merchant balances = attribution) are checked whole on every call. Everything " +
    "checked row by row — customers' objects against D1, ledger transactions, ledger accounts against their entries, " +
    "payments and payouts against their ledger transactions — is a **sweep**: each call checks the next bounded window " +
    "of rows in id order and remembers where it stopped; a pass that reaches the last row is complete and the next " +
    "call starts another from the first. A sweep's check is `ok` only when a complete pass found nothing wrong **and** " +
    "the pass in progress has found nothing so far: until the first pass completes it is not ok and its `detail` says " +
    "`coverage incomplete: N of M …`; anything found stays reported (not ok) until a later complete pass is clean. " +
    "`coverage` says how far the pass this call advanced has got (`checked` of `total`, the rows after its position " +
    "being counted up to a bound, past which `total_is_lower_bound`) and when the last complete pass started and " +
    "ended. To prove the books as they are now, call until every sweep's `last_complete_pass.started_at` is after " +
    "the moment that matters, then read `ok`.",
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

/** A stored bank event as the API answers it (the console reads it as a client). */
export type StoredBankEventView = z.infer<typeof bankEventSchema>;

const listBankEvents = createRoute({
  ...operator,
  method: "get",
  path: "/v1/admin/bank-events",
  operationId: "listBankEvents",
  summary: "List stored bank events, newest first",
  request: { query: paginationQuery.extend({ status: z.enum(["processed", "failed"]).optional() }) },
  responses: { 200: jsonResponse(listSchema(bankEventSchema, "StoredBankEventList"), "A page of events."), ...problemResponses(403) },
});

type BankEventRow = typeof bankEvents.$inferSelect;

const retryBankEvent = createRoute({
  ...operator,
  method: "post",
  path: "/v1/admin/bank-events/{id}/retry",
  operationId: "retryBankEvent",
  summary: "Apply a stored bank event again",
  description:
    "Runs a failed event through the same code as its first delivery (its signature was verified when it was stored): " +
    "e.g. a payout event that arrived before its payout, or a reversal of a cash-in recovered since. An event already " +
    "processed is left alone. Answers 200 with the event as it now is whatever the outcome: `processed` if it applied, " +
    "or still `failed` with its new `error` and `attempts` if it failed again (the retry itself worked).",
  request: { params: z.object({ id: z.string().min(1).max(100).openapi({ param: { name: "id", in: "path" } }) }) },
  responses: { 200: jsonResponse(bankEventSchema, "The event, as it stands now."), ...problemResponses(403, 404, ...bodyProblemStatuses) },
});

async function storedEvent(d1: D1Database, id: string): Promise<BankEventRow | null> {
  return (await database(d1).query.bankEvents.findFirst({ where: eq(bankEvents.id, id) })) ?? null;
}

function bankEventView(row: BankEventRow) {
  return {
    id: row.id,
    type: row.type,
    status: row.status,
    error: row.error,
    attempts: row.attempts,
    payload: row.payload,
    received_at: rfc3339(row.received_at),
    updated_at: rfc3339(row.updated_at),
  };
}

export const adminRouter = newRouter()
  .openapi(invariants, async (c) => {
    const { ok, checks } = await checkInvariants(c.env);
    return c.json({ ok, checks }, 200);
  })
  .openapi(listBankEvents, async (c) => {
    const { limit, cursor, status } = c.req.valid("query");
    // bank_events has no created_at: it pages by received_at, which the cursor carries in its place.
    const rows = await pageQuery(database(c.env.DB), bankEvents, status ? eq(bankEvents.status, status) : undefined, decodeCursor(cursor), limit, {
      createdAt: bankEvents.received_at,
      id: bankEvents.id,
    });
    const keyed = rows.map((row) => ({ ...row, created_at: row.received_at }));
    return c.json(toPage(keyed, limit, bankEventView), 200);
  })
  .openapi(retryBankEvent, async (c) => {
    const id = c.req.valid("param").id;
    const event = await storedEvent(c.env.DB, id);
    if (!event) throw new ApiError("not_found", "No such bank event.");
    if (event.status === "failed") {
      try {
        await handleBankEvent(c.env, c.get("config"), event.payload);
      } catch (failure) {
        // Still not applicable (e.g. a reversal whose cash-in D1 has not got): handleBankEvent
        // stored it failed with its new error and attempt before throwing, which is the 500 the
        // bank's webhook needs to redeliver. The operator's retry itself worked: answer the
        // event as it now is. Anything else (D1 failing) is a 500.
        if (!(failure instanceof NotYetApplicableEvent)) throw failure;
      }
    }
    return c.json(bankEventView((await storedEvent(c.env.DB, id))!), 200);
  });
