/**
 * The log of bank events we accepted (signature verified). Every event ends here, processed
 * or failed, with its raw body, so an operator can see and retry what could not be applied.
 */
import { eq } from "drizzle-orm";
import { database } from "../db/client";
import { bankEvents } from "../db/schema";

export interface ReceivedEvent {
  id: string;
  type: string;
  payload: string;
  received_at: number;
}

/** An event that was signed but cannot be applied: stored failed and answered 422. */
export class UnprocessableEvent extends Error {}

/**
 * An event that cannot be applied *yet*: stored failed for the operator, and answered 500 so
 * that the bank redelivers it (a later delivery that applies marks it processed).
 */
export class NotYetApplicableEvent extends Error {}

/**
 * Records `event` as processed, in the batch that applies it. With `onlyIf`, only when that
 * condition holds once the batch's earlier statements ran (an event whose effect did not
 * happen is not processed: it is stored failed by its caller).
 */
export function eventProcessedStatement(d1: D1Database, event: ReceivedEvent, now: number, onlyIf?: { sql: string; params: unknown[] }): D1PreparedStatement {
  return d1
    .prepare(
      `INSERT INTO bank_events (id, type, status, payload, received_at, updated_at) SELECT ?, ?, 'processed', ?, ?, ? WHERE ${onlyIf?.sql ?? "1"}
       ON CONFLICT (id) DO UPDATE SET status = 'processed', error = NULL, attempts = attempts + 1, updated_at = excluded.updated_at`,
    )
    .bind(event.id, event.type, event.payload, event.received_at, now, ...(onlyIf?.params ?? []));
}

export async function recordEventProcessed(d1: D1Database, event: ReceivedEvent, now = Date.now()): Promise<void> {
  await eventProcessedStatement(d1, event, now).run();
}

/**
 * A processed event is never demoted: a late failing redelivery leaves it processed. A failed
 * one keeps the latest body, so its payload and its error always describe the same delivery.
 */
export async function recordEventFailed(d1: D1Database, event: ReceivedEvent, error: string, now = Date.now()): Promise<void> {
  await d1
    .prepare(
      `INSERT INTO bank_events (id, type, status, payload, error, received_at, updated_at) VALUES (?, ?, 'failed', ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET error = excluded.error, payload = excluded.payload, type = excluded.type,
         attempts = attempts + 1, updated_at = excluded.updated_at
       WHERE bank_events.status <> 'processed'`,
    )
    .bind(event.id, event.type, event.payload, error.slice(0, 1000), event.received_at, now)
    .run();
}

export async function eventStatus(d1: D1Database, eventId: string): Promise<"processed" | "failed" | null> {
  const row = await database(d1).select({ status: bankEvents.status }).from(bankEvents).where(eq(bankEvents.id, eventId)).get();
  return row?.status ?? null;
}
