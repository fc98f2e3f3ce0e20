/** Events (API §14) as the API and webhooks show them (stored rows: `events` in src/db/schema.ts). */
import { rfc3339 } from "../schemas/common";

import type { EventRow } from "../db/schema";

export { eventTypes, type EventType } from "./event-types";
export type { EventRow };

/** The event as GET /v1/events/{id} shows it (without `delivery`) and as a webhook's body carries it. */
export function eventView(row: EventRow) {
  return {
    id: row.id,
    object: "event" as const,
    type: row.type,
    created_at: rfc3339(row.created_at),
    data: JSON.parse(row.data) as { object: Record<string, unknown> },
  };
}

export type EventView = ReturnType<typeof eventView>;
