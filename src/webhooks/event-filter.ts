/**
 * A merchant's event-type filter (`webhook_events`, Stripe's `enabled_events`): which event
 * types get a delivery row. Every event is still stored and listable (GET /v1/events); the
 * filter only decides delivery, in the trigger that writes the delivery row with the event
 * (migrations/0023), so it applies to events that happen after it changes. `["*"]`, the
 * default, enables every type. A redeliver (POST /v1/events/{id}/redeliver) is an explicit
 * request and ignores the filter (src/events/redeliver.ts).
 */
import { z } from "@hono/zod-openapi";
import { eventTypes, type EventType } from "../events/event-types";

/** Every type a merchant can receive: all of API §14 but `payment.quarantined`, the platform's own (never a merchant's). */
export const subscribableEventTypes = eventTypes.filter((type): type is Exclude<EventType, "payment.quarantined"> => type !== "payment.quarantined");

export const allEventTypes = "*";

export type WebhookEvents = string[];

export const defaultWebhookEvents: WebhookEvents = [allEventTypes];

export const webhookEventsRules =
  'Which event types are delivered to `webhook_url`: `["*"]` (the default) for every type, or a list of types ' +
  `(${subscribableEventTypes.map((type) => `\`${type}\``).join(", ")}). Every event is still stored and listed by ` +
  "GET /v1/events whatever the filter; only its delivery depends on it, decided when the event happens (a change applies " +
  "to later events; deliveries already scheduled go on). An empty list, an unknown type, a type listed twice, or `*` " +
  "beside types is refused (400 naming `webhook_events`). `payment.quarantined` is the platform's and never reaches a " +
  "merchant, so it is not a type to choose. POST /v1/events/{id}/redeliver sends any of the merchant's events, enabled or not.";

const known = new Set<string>(subscribableEventTypes);

/**
 * The field as a body carries it. Every problem is reported at `webhook_events` itself (the
 * message says which entry), so a client sees the field it wrote.
 */
export const webhookEventsField = z
  .array(z.string().max(100, "must be an event type").openapi({ enum: [allEventTypes, ...subscribableEventTypes] }))
  .max(subscribableEventTypes.length, `must list at most ${subscribableEventTypes.length} types (each at most once)`)
  .superRefine((types, context) => {
    const problem = webhookEventsProblem(types);
    if (problem !== null) context.addIssue({ code: "custom", message: problem });
  })
  .openapi({
    description: webhookEventsRules,
    example: ["payment.credited", "payout.completed", "payout.failed"],
  });

/** Why this list is not a valid filter, or null. */
export function webhookEventsProblem(types: readonly string[]): string | null {
  if (types.length === 0) return 'must not be empty: ["*"] enables every type';
  const seen = new Set<string>();
  for (const type of types) {
    if (type !== allEventTypes && !known.has(type)) return `unknown event type ${JSON.stringify(type)}: "*" or one of ${subscribableEventTypes.join(", ")}`;
    if (seen.has(type)) return `${JSON.stringify(type)} is listed twice`;
    seen.add(type);
  }
  if (seen.has(allEventTypes) && types.length > 1) return '"*" enables every type: it cannot be combined with types';
  return null;
}

/**
 * The stored column (JSON text, migrations/0023) as the merchant object shows it. Rows come
 * both from drizzle and from raw SQL (the merchant list), so this takes the text as stored.
 */
export function storedWebhookEvents(stored: string | null | undefined): WebhookEvents {
  if (stored === null || stored === undefined) return defaultWebhookEvents;
  const parsed: unknown = JSON.parse(stored);
  return Array.isArray(parsed) ? parsed.map(String) : defaultWebhookEvents;
}
