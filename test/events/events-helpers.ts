/** Helpers for the events tests: reading events straight from D1 and through the API. */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { EventRow } from "../../src/events/event-row";
import { api, bearer, operatorHeaders } from "../helpers";

export interface EventBody {
  id: string;
  object: "event";
  type: string;
  created_at: string;
  data: { object: Record<string, unknown> };
  delivery: { status: string; attempts: number; last_attempt_at: string | null; last_status_code: number | null; next_attempt_at: string | null } | null;
}

/** Every event about this object, oldest first, straight from D1. */
export async function eventsAbout(objectId: string): Promise<EventRow[]> {
  const { results } = await env.DB.prepare("SELECT * FROM events WHERE object_id = ? ORDER BY created_at, id").bind(objectId).all<EventRow>();
  return results;
}

/** The one event of this type about this object (fails unless there is exactly one). */
export async function theEvent(objectId: string, type: string): Promise<EventRow> {
  const matching = (await eventsAbout(objectId)).filter((event) => event.type === type);
  expect(matching, `events ${type} about ${objectId}`).toHaveLength(1);
  return matching[0]!;
}

/** Gives the merchant an endpoint, as PATCH /v1/merchant will (written directly: that route is not this suite's subject). */
export async function setWebhookUrl(merchantId: string, url: string | null = "https://hooks.example.com/events"): Promise<void> {
  await env.DB.prepare("UPDATE merchants SET webhook_url = ? WHERE id = ?").bind(url, merchantId).run();
}

export function keyHeaders(apiKey: string | null): Record<string, string> {
  return apiKey === null ? operatorHeaders() : bearer(apiKey);
}

/** GET /v1/events/{id} as a merchant (its API key) or the operator (null). */
export async function getEvent(apiKey: string | null, eventId: string): Promise<{ status: number; body: EventBody }> {
  const response = await api(`/v1/events/${eventId}`, { headers: keyHeaders(apiKey) });
  return { status: response.status, body: (await response.json()) as EventBody };
}

export async function redeliver(apiKey: string | null, eventId: string): Promise<{ status: number; body: EventBody & { code?: string; detail?: string } }> {
  const response = await api(`/v1/events/${eventId}/redeliver`, { method: "POST", headers: keyHeaders(apiKey) });
  return { status: response.status, body: (await response.json()) as EventBody & { code?: string; detail?: string } };
}

/** Every page of GET /v1/events?query, following next_cursor. */
export async function listAll(apiKey: string | null, query = "", maxPages = 100): Promise<{ ids: string[]; pages: number; events: EventBody[] }> {
  const events: EventBody[] = [];
  let cursor: string | null = null;
  for (let page = 1; page <= maxPages; page++) {
    const separator = query ? "&" : "";
    const response = await api(`/v1/events?${query}${cursor ? `${separator}cursor=${cursor}` : ""}`, { headers: keyHeaders(apiKey) });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { data: EventBody[]; has_more: boolean; next_cursor: string | null };
    events.push(...body.data);
    if (!body.has_more) return { ids: events.map((event) => event.id), pages: page, events };
    cursor = body.next_cursor;
  }
  throw new Error(`more than ${maxPages} pages`);
}

export async function deliveryRow(eventId: string) {
  return env.DB.prepare("SELECT * FROM webhook_deliveries WHERE event_id = ?").bind(eventId).first<{
    status: string;
    attempts: number;
    round_attempts: number;
    next_attempt_at: number | null;
    dispatched_at: number | null;
    merchant_id: string;
  }>();
}
