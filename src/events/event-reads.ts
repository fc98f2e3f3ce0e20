/** Reading events and their deliveries for the events API, scoped to who asks. */
import { and, eq } from "drizzle-orm";
import type { Caller } from "../context";
import { database } from "../db/client";
import { events, webhookDeliveries, type WebhookDeliveryRow } from "../db/schema";
import { rfc3339 } from "../schemas/common";
import type { EventObject } from "../schemas/events";
import { eventView, type EventRow } from "./event-row";

export type DeliveryRow = Pick<WebhookDeliveryRow, "status" | "attempts" | "next_attempt_at" | "last_attempt_at" | "last_status_code">;

/** The event if the caller may see it: a merchant its own, the operator any. Anything else reads as absent. */
export async function findVisibleEvent(d1: D1Database, caller: Caller, eventId: string): Promise<EventRow | null> {
  const visible = caller.kind === "operator" ? eq(events.id, eventId) : and(eq(events.id, eventId), eq(events.merchant_id, caller.merchantId));
  return (await database(d1).select().from(events).where(visible).get()) ?? null;
}

export async function findDelivery(d1: D1Database, eventId: string): Promise<DeliveryRow | null> {
  const { status, attempts, next_attempt_at, last_attempt_at, last_status_code } = webhookDeliveries;
  const row = await database(d1).select({ status, attempts, next_attempt_at, last_attempt_at, last_status_code }).from(webhookDeliveries).where(eq(webhookDeliveries.event_id, eventId)).get();
  return row ?? null;
}

/**
 * eventView typed as the OpenAPI document describes it: `data.object` is rendered by the SQL
 * views of migrations/0010, which test/events/emission.test.ts keeps equal to paymentView and
 * payoutView (what GET shows).
 */
export function documentedEventView(row: EventRow) {
  const view = eventView(row);
  return { ...view, data: view.data as { object: EventObject } };
}

export function deliveryView(row: DeliveryRow) {
  return {
    status: row.status,
    attempts: row.attempts,
    last_attempt_at: row.last_attempt_at === null ? null : rfc3339(row.last_attempt_at),
    last_status_code: row.last_status_code,
    // Only a pending delivery has a next attempt; a finished one may keep a stale value.
    next_attempt_at: row.status === "pending" && row.next_attempt_at !== null ? rfc3339(row.next_attempt_at) : null,
  };
}

/** GET /v1/events/{id}'s body: the event and its delivery (null: delivered to nobody). */
export function eventWithDelivery(event: EventRow, delivery: DeliveryRow | null) {
  return { ...documentedEventView(event), delivery: delivery ? deliveryView(delivery) : null };
}
