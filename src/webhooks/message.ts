/**
 * A message on the webhook queue: make attempt number `attempt` (1-based, over the delivery's
 * life) of delivering one event. A message whose attempt is no longer the delivery's next one
 * is stale (another message or a redelivery got there first) and is dropped.
 */
export interface WebhookMessage {
  event_id: string;
  attempt: number;
}
