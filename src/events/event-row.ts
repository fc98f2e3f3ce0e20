/** Events (API §14) as stored (migrations/0010) and as the API and webhooks show them. */
import { rfc3339 } from "../schemas/common";

/** Every event type of API §14; those of later features are emitted once they exist. */
export const eventTypes = [
  "payment.credited",
  "payment.quarantined",
  "payment.reversed",
  "payment.returned",
  "payout.completed",
  "payout.failed",
  "virtual_account.expired",
  "transfer.completed",
  "balance_account.balance.updated",
  "balance_account.sweep.completed",
  "balance_account.sweep.failed",
  "reserve_account.threshold_reached",
] as const;

export type EventType = (typeof eventTypes)[number];

export interface EventRow {
  id: string;
  type: EventType;
  /** NULL: the platform's (the operator sees it; no merchant does; never delivered). */
  merchant_id: string | null;
  object_type: string;
  object_id: string;
  /** JSON `{"object": …}`: the object as GET showed it when the event happened. */
  data: string;
  created_at: number;
}

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
