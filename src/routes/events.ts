/**
 * Events (API §14). A merchant lists and reads only its own (anything else is 404, as if
 * absent); the operator sees all, the platform's (merchant_id NULL) included.
 */
import { createRoute } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { newRouter } from "../context";
import { database } from "../db/client";
import { events } from "../db/schema";
import { ApiError } from "../errors";
import { documentedEventView, eventWithDelivery, findDelivery, findVisibleEvent } from "../events/event-reads";
import { redeliverEvent } from "../events/redeliver";
import { decodeCursor, pageQuery, toPage } from "../pagination";
import { bodyProblemStatuses, jsonResponse, listSchema, problemResponse, problemResponses } from "../schemas/common";
import { eventIdParams, eventListQuery, eventSchema, eventWithDeliverySchema } from "../schemas/events";

const either = { tags: ["Events"], security: [{ merchantKey: [] as string[] }, { operatorKey: [] as string[] }] as Record<string, string[]>[] };

const snapshots =
  "An event is written in the same atomic write as the effect it describes, so it exists only once `GET` of its object shows that effect; " +
  "`data.object` is the object as it was then (a snapshot). Each type happens to an object at most once, but for `balance_account.balance.updated` " +
  "(once per change of the balance) and `transfer.completed` (once per owner of the transfer's accounts). " +
  "A merchant sees only its own events (another's, or the platform's, is 404 as if absent); the operator sees all, the platform's included.";

const list = createRoute({
  ...either,
  method: "get",
  path: "/v1/events",
  operationId: "listEvents",
  summary: "List events, newest first",
  description: snapshots,
  request: { query: eventListQuery },
  responses: { 200: jsonResponse(listSchema(eventSchema, "EventList"), "A page of events."), ...problemResponses() },
});

const get = createRoute({
  ...either,
  method: "get",
  path: "/v1/events/{id}",
  operationId: "getEvent",
  summary: "Get an event and its delivery",
  description:
    snapshots +
    "\n\n`delivery` is the event's delivery to the merchant's webhook_url: `attempts` counts every attempt (redeliveries included), `next_attempt_at` is set only while " +
    "pending. `delivery` is null when the event goes to nobody: the platform's events, and a merchant's event that happened while it had no webhook_url " +
    "(until it is redelivered).",
  request: { params: eventIdParams },
  responses: { 200: jsonResponse(eventWithDeliverySchema, "The event and its delivery."), ...problemResponses(404) },
});

const redeliver = createRoute({
  ...either,
  method: "post",
  path: "/v1/events/{id}/redeliver",
  operationId: "redeliverEvent",
  summary: "Deliver an event again",
  description:
    "Queues the event's delivery again, to the merchant's webhook_url as it is now, signed with its current secret. " +
    "If the delivery is pending and already in the queue, nothing changes. Otherwise (delivered, failed, pending but waiting for one of the merchant's " +
    "delivery slots, or never delivered because the merchant had no webhook_url then) it becomes pending with a fresh retry schedule whose first " +
    "attempt is due now; `attempts` keeps counting. It is then queued like any due delivery, within the merchant's bounded number of deliveries in " +
    "flight. Redelivering twice at once queues it once. Receivers dedupe by event id: delivery is at least once. The merchant's " +
    "`webhook_events` filter does not apply: an event of a type it has not enabled (so never delivered) is delivered on this explicit request.",
  request: { params: eventIdParams },
  responses: {
    202: jsonResponse(eventWithDeliverySchema, "The event and its delivery, pending."),
    ...problemResponses(404, ...bodyProblemStatuses),
    422: problemResponse("invalid_state: a platform event (delivered to no merchant), or the merchant has no webhook_url."),
  },
});

export const eventsRouter = newRouter()
  .openapi(list, async (c) => {
    const { limit, cursor, type, merchant_id } = c.req.valid("query");
    const caller = c.get("caller");
    // A merchant's own events only; its merchant_id filter (another merchant's id) then finds none.
    const filter = and(
      caller.kind === "merchant" ? eq(events.merchant_id, caller.merchantId) : undefined,
      merchant_id !== undefined ? eq(events.merchant_id, merchant_id) : undefined,
      type !== undefined ? eq(events.type, type) : undefined,
    );
    const rows = await pageQuery(database(c.env.DB), events, filter, decodeCursor(cursor), limit);
    return c.json(toPage(rows, limit, documentedEventView), 200);
  })
  .openapi(get, async (c) => {
    const event = await findVisibleEvent(c.env.DB, c.get("caller"), c.req.valid("param").id);
    if (!event) throw new ApiError("not_found", "No such event.");
    return c.json(eventWithDelivery(event, await findDelivery(c.env.DB, event.id)), 200);
  })
  .openapi(redeliver, async (c) => {
    const event = await findVisibleEvent(c.env.DB, c.get("caller"), c.req.valid("param").id);
    if (!event) throw new ApiError("not_found", "No such event.");
    await redeliverEvent(c.env, event);
    return c.json(eventWithDelivery(event, await findDelivery(c.env.DB, event.id)), 202);
  });
