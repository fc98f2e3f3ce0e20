-- Events and outbound webhooks (API §14).
--
-- An event is written by a trigger on the row it describes, so it is in the same atomic write
-- as its effect on every path that makes that effect (a cash-in's group commit or one-by-one
-- projection, an operator's assignment, a reversal, a payout's settlement), and it exists only
-- once D1 shows the effect to GET. Its `data.object` is the object as GET shows it at that
-- moment (a snapshot, as Stripe's events are), rendered by the views below; a test compares the
-- two so that they cannot drift apart.
--
-- A merchant's event gets a delivery row if the merchant has a webhook_url when it happens.
-- The delivery pipeline (src/webhooks/) claims due rows, sends them through the webhook queue
-- and records every attempt.

-- RFC 3339 UTC with milliseconds, exactly as `new Date(ms).toISOString()` (src/schemas/common.ts).
-- SQLite has no user functions, so each view spells it out.
CREATE VIEW payment_objects AS
SELECT id, json_object(
  'id', id,
  'status', status,
  'amount', amount,
  'currency', currency,
  'customer_id', customer_id,
  'merchant_id', merchant_id,
  'bank_transaction_id', bank_transaction_id,
  'sender', json_object('cuit', sender_cuit, 'name', sender_name, 'cbu', sender_cbu),
  'concepto', concepto,
  'matched_by', matched_by,
  'created_at', strftime('%Y-%m-%dT%H:%M:%S', created_at / 1000, 'unixepoch') || printf('.%03dZ', created_at % 1000)
) AS object
FROM payments;

CREATE VIEW payout_objects AS
SELECT id, json_object(
  'id', id,
  'object', 'payout',
  'status', status,
  'amount', amount,
  'currency', currency,
  'customer_id', customer_id,
  'merchant_id', merchant_id,
  'destination_cbu', destination_cbu,
  'description', description,
  'failure_reason', failure_reason,
  'bank_transaction_id', bank_transaction_id,
  'created_at', strftime('%Y-%m-%dT%H:%M:%S', created_at / 1000, 'unixepoch') || printf('.%03dZ', created_at % 1000),
  'updated_at', strftime('%Y-%m-%dT%H:%M:%S', updated_at / 1000, 'unixepoch') || printf('.%03dZ', updated_at % 1000)
) AS object
FROM payouts;

CREATE TABLE events (
  id          TEXT PRIMARY KEY,
  type        TEXT NOT NULL,
  -- NULL: the platform's event (payment.quarantined, and what happens to a quarantined
  -- payment): the operator sees it, no merchant does, nothing is delivered.
  merchant_id TEXT,
  object_type TEXT NOT NULL,
  object_id   TEXT NOT NULL,
  data        TEXT NOT NULL,  -- {"object": …}
  created_at  INTEGER NOT NULL,
  -- Each type happens to an object at most once (a status reached once): the cause id.
  UNIQUE (type, object_id)
);
CREATE INDEX events_by_merchant ON events(merchant_id, created_at, id);
CREATE INDEX events_by_merchant_type ON events(merchant_id, type, created_at, id);
CREATE INDEX events_by_time ON events(created_at, id);
CREATE INDEX events_by_type ON events(type, created_at, id);

CREATE TABLE webhook_deliveries (
  event_id         TEXT PRIMARY KEY REFERENCES events(id),
  merchant_id      TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts         INTEGER NOT NULL DEFAULT 0,  -- every attempt, redeliveries included
  round_attempts   INTEGER NOT NULL DEFAULT 0,  -- attempts since the schedule (re)started
  next_attempt_at  INTEGER,                     -- pending: when the next attempt is due
  -- pending: when a queue message for the next attempt was sent (NULL: waiting for one of
  -- the merchant's bounded slots in the queue).
  dispatched_at    INTEGER,
  last_attempt_at  INTEGER,
  last_status_code INTEGER,
  last_error       TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_waiting ON webhook_deliveries(merchant_id, next_attempt_at) WHERE status = 'pending' AND dispatched_at IS NULL;
CREATE INDEX webhook_deliveries_dispatched ON webhook_deliveries(merchant_id, next_attempt_at) WHERE status = 'pending' AND dispatched_at IS NOT NULL;
CREATE INDEX webhook_deliveries_pending_by_time ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';

-- Every attempt, for the operator (a delivery makes a bounded number of them per round).
CREATE TABLE webhook_attempts (
  event_id     TEXT NOT NULL,
  attempt      INTEGER NOT NULL,
  attempted_at INTEGER NOT NULL,
  url          TEXT NOT NULL,
  status_code  INTEGER,          -- NULL: no answer (timeout, refused, not allowed)
  error        TEXT,
  duration_ms  INTEGER NOT NULL,
  PRIMARY KEY (event_id, attempt)
);

-- A merchant's event is delivered if it has an endpoint when the event happens.
CREATE TRIGGER event_delivery_scheduled AFTER INSERT ON events WHEN NEW.merchant_id IS NOT NULL
BEGIN
  INSERT INTO webhook_deliveries (event_id, merchant_id, status, next_attempt_at, created_at, updated_at)
  SELECT NEW.id, NEW.merchant_id, 'pending', NEW.created_at, NEW.created_at, NEW.created_at
  FROM merchants WHERE id = NEW.merchant_id AND webhook_url IS NOT NULL;
END;

-- Payments: credited on arrival (or quarantined: the platform's), credited later by the
-- operator's assignment, reversed by the bank, returned to their sender.
CREATE TRIGGER payment_event_on_insert AFTER INSERT ON payments WHEN NEW.status IN ('credited', 'quarantined')
BEGIN
  INSERT OR IGNORE INTO events (id, type, merchant_id, object_type, object_id, data, created_at)
  SELECT 'evt_' || lower(hex(randomblob(12))), 'payment.' || NEW.status,
    CASE NEW.status WHEN 'credited' THEN NEW.merchant_id END,
    'payment', NEW.id, json_object('object', json(object)), NEW.updated_at
  FROM payment_objects WHERE id = NEW.id;
END;

CREATE TRIGGER payment_event_on_status AFTER UPDATE OF status ON payments
WHEN NEW.status <> OLD.status AND NEW.status IN ('credited', 'reversed', 'returned')
BEGIN
  INSERT OR IGNORE INTO events (id, type, merchant_id, object_type, object_id, data, created_at)
  SELECT 'evt_' || lower(hex(randomblob(12))), 'payment.' || NEW.status, NEW.merchant_id,
    'payment', NEW.id, json_object('object', json(object)), NEW.updated_at
  FROM payment_objects WHERE id = NEW.id;
END;

-- Payouts: a merchant's payout completed or failed (a return to a sender is the payment's
-- `payment.returned`).
CREATE TRIGGER payout_event_on_status AFTER UPDATE OF status ON payouts
WHEN NEW.status <> OLD.status AND NEW.status IN ('completed', 'failed') AND NEW.kind = 'payout'
BEGIN
  INSERT OR IGNORE INTO events (id, type, merchant_id, object_type, object_id, data, created_at)
  SELECT 'evt_' || lower(hex(randomblob(12))), 'payout.' || NEW.status, NEW.merchant_id,
    'payout', NEW.id, json_object('object', json(object)), NEW.updated_at
  FROM payout_objects WHERE id = NEW.id;
END;
