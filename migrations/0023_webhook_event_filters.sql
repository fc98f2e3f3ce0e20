-- Event-type filters on the webhook endpoint (Stripe's enabled_events; docs/WEBHOOKS.md).
--
-- Since fund management, every cash-in group and every transfer also emits
-- balance_account.balance.updated, and any merchant can make another's webhooks by pushing it
-- 1-centavo transfers. `webhook_events` lists the event types a merchant wants delivered, as
-- a JSON array; '["*"]', the default (every existing merchant keeps getting everything), means
-- all. The API validates it (src/webhooks/event-filter.ts).
ALTER TABLE merchants ADD COLUMN webhook_events TEXT NOT NULL DEFAULT '["*"]'
  CHECK (json_valid(webhook_events) AND json_type(webhook_events) = 'array');

-- Every event is still stored and listable; only its delivery row depends on the filter,
-- decided as 0010's trigger decided on webhook_url: when the event happens. A redeliver
-- (src/events/redeliver.ts) writes its delivery row itself, whatever the filter.
DROP TRIGGER event_delivery_scheduled;
CREATE TRIGGER event_delivery_scheduled AFTER INSERT ON events WHEN NEW.merchant_id IS NOT NULL
BEGIN
  INSERT INTO webhook_deliveries (event_id, merchant_id, status, next_attempt_at, created_at, updated_at)
  SELECT NEW.id, NEW.merchant_id, 'pending', NEW.created_at, NEW.created_at, NEW.created_at
  FROM merchants AS m WHERE m.id = NEW.merchant_id AND m.webhook_url IS NOT NULL
    AND EXISTS (SELECT 1 FROM json_each(m.webhook_events) WHERE value IN ('*', NEW.type));
END;

-- Dispatch (src/webhooks/dispatch.ts) takes each merchant's first waiting deliveries in
-- (next_attempt_at, event_id) order, at most its free slots: with event_id in the index the
-- index gives that order, so the LIMIT stops after those few rows instead of sorting the
-- merchant's whole backlog (up to webhook_backlog_per_merchant) at every dispatch. It serves
-- every use of the index it replaces (same leading columns, same condition).
CREATE INDEX webhook_deliveries_waiting_in_order ON webhook_deliveries(merchant_id, next_attempt_at, event_id)
  WHERE status = 'pending' AND dispatched_at IS NULL;
DROP INDEX webhook_deliveries_waiting;
